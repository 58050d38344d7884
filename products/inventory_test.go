package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
)

func reserveReq(items ...ReservationItem) ReserveRequest {
	return ReserveRequest{ReservationID: uuid.NewString(), Items: items}
}

// watchInvariant polls a product until stop is closed and reports the first
// level that breaks 0 <= reserved <= stock.
func watchInvariant(f *fixture, id string, stop <-chan struct{}) <-chan error {
	out := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case <-stop:
				return
			default:
			}
			p, err := f.svc.GetProduct(context.Background(), id)
			if err != nil {
				out <- err
				return
			}
			if p.Reserved < 0 || p.Reserved > p.Stock || p.Available() < 0 {
				out <- errors.New("invariant broken")
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	return out
}

func TestNoOversell(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		p := f.create(t, "HOT", 10)
		stop := make(chan struct{})
		invariant := watchInvariant(f, p.ID, stop)

		var ok, short atomic.Int32
		var wg sync.WaitGroup
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, err := f.svc.ReserveInventory(context.Background(), reserveReq(item(p.ID, 1)))
				switch {
				case err == nil:
					ok.Add(1)
				case errors.Is(err, ErrInsufficientStock):
					if m := errs.As(err).Meta; m["available"] != int64(0) || m["requested"] != int64(1) || m["product_id"] != p.ID {
						t.Errorf("meta %v", m)
					}
					short.Add(1)
				default:
					t.Errorf("reserve: %v", err)
				}
			}()
		}
		wg.Wait()
		close(stop)
		if err := <-invariant; err != nil {
			t.Fatal(err)
		}
		if ok.Load() != 10 || short.Load() != 40 {
			t.Fatalf("%d reservations succeeded and %d were refused, want 10 and 40", ok.Load(), short.Load())
		}
		if got := f.get(t, p.ID); got.Available() != 0 || got.Reserved != 10 || got.Stock != 10 {
			t.Fatalf("final %+v", got)
		}
	})
}

func TestMixedItemsAllOrNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		a, b, c := f.create(t, "MA", 20), f.create(t, "MB", 5), f.create(t, "MC", 20)

		_, err := f.svc.ReserveInventory(ctx, reserveReq(item(a.ID, 2), item(b.ID, 6), item(c.ID, 1)))
		if e := kittest.WantErr(t, err, errs.FailedPrecondition, "INSUFFICIENT_STOCK"); e.Meta["product_id"] != b.ID ||
			e.Meta["available"] != int64(5) || e.Meta["requested"] != int64(6) {
			t.Fatalf("meta %v", e.Meta)
		}
		for _, id := range []string{a.ID, b.ID, c.ID} {
			if got := f.get(t, id); got.Reserved != 0 {
				t.Fatalf("%s reserved %d after a failed reservation", got.SKU, got.Reserved)
			}
		}

		// 20 concurrent baskets of all three, listed in varying orders; B
		// has room for 5. Lock ordering must prevent deadlocks, and every
		// basket must hold all three or none.
		var wg sync.WaitGroup
		var ok atomic.Int32
		orders := [][]string{{a.ID, b.ID, c.ID}, {c.ID, b.ID, a.ID}, {b.ID, c.ID, a.ID}}
		for i := range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ids := orders[i%len(orders)]
				_, err := f.svc.ReserveInventory(ctx, reserveReq(item(ids[0], 1), item(ids[1], 1), item(ids[2], 1)))
				switch {
				case err == nil:
					ok.Add(1)
				case !errors.Is(err, ErrInsufficientStock):
					t.Errorf("reserve: %v", err)
				}
			}()
		}
		wg.Wait()
		if ok.Load() != 5 {
			t.Fatalf("%d baskets succeeded, want 5", ok.Load())
		}
		for _, id := range []string{a.ID, b.ID, c.ID} {
			if got := f.get(t, id); got.Reserved != 5 {
				t.Fatalf("%s reserved %d, want 5", got.SKU, got.Reserved)
			}
		}
	})
}

func TestDuplicateItemsAreMerged(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		a, b := f.create(t, "DA", 5), f.create(t, "DB", 5)
		r, err := f.svc.ReserveInventory(context.Background(),
			reserveReq(item(b.ID, 1), item(a.ID, 1), item(b.ID, 2)))
		if err != nil {
			t.Fatal(err)
		}
		want := mergedItems(map[string]int64{a.ID: 1, b.ID: 3})
		if !slices.Equal(r.Items, want) {
			t.Fatalf("items %+v, want %+v", r.Items, want)
		}
		// Merged quantities are checked as a whole.
		_, err = f.svc.ReserveInventory(context.Background(), reserveReq(item(a.ID, 3), item(a.ID, 2)))
		if e := kittest.WantErr(t, err, errs.FailedPrecondition, "INSUFFICIENT_STOCK"); e.Meta["requested"] != int64(5) {
			t.Fatalf("meta %v", e.Meta)
		}
	})
}

func TestCommitAndRelease(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		p := f.create(t, "CR", 10)
		r1, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 3)))
		if err != nil {
			t.Fatal(err)
		}
		r2, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 2)))
		if err != nil {
			t.Fatal(err)
		}

		for range 2 { // the second round checks idempotency
			got, err := f.svc.CommitReservation(ctx, ReservationRef{ReservationID: r1.ID})
			if err != nil || got.Status != ReservationCommitted {
				t.Fatalf("commit = %+v, %v", got, err)
			}
			got, err = f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: r2.ID})
			if err != nil || got.Status != ReservationReleased {
				t.Fatalf("release = %+v, %v", got, err)
			}
		}
		if got := f.get(t, p.ID); got.Stock != 7 || got.Reserved != 0 {
			t.Fatalf("after commit 3, release 2: %+v", got)
		}

		_, err = f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: r1.ID})
		kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_COMMITTED")
		_, err = f.svc.CommitReservation(ctx, ReservationRef{ReservationID: r2.ID})
		kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_RELEASED")
		if got := f.get(t, p.ID); got.Stock != 7 || got.Reserved != 0 {
			t.Fatalf("refused calls changed stock: %+v", got)
		}
		_, err = f.svc.CommitReservation(ctx, ReservationRef{ReservationID: uuid.NewString()})
		kittest.WantErr(t, err, errs.NotFound, "RESERVATION_NOT_FOUND")
		_, err = f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: uuid.NewString()})
		kittest.WantErr(t, err, errs.NotFound, "RESERVATION_NOT_FOUND")
	})
}

func TestConcurrentCommitAndRelease(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		p := f.create(t, "RACE", 10)
		r, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 4)))
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		var committed, released atomic.Int32
		for i := range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				ref := ReservationRef{ReservationID: r.ID}
				if i%2 == 0 {
					if _, err := f.svc.CommitReservation(ctx, ref); err == nil {
						committed.Add(1)
					}
				} else if _, err := f.svc.ReleaseReservation(ctx, ref); err == nil {
					released.Add(1)
				}
			}()
		}
		wg.Wait()
		got := f.get(t, p.ID)
		switch {
		case committed.Load() == 5 && released.Load() == 0:
			if got.Stock != 6 || got.Reserved != 0 {
				t.Fatalf("committed once: %+v", got)
			}
		case released.Load() == 5 && committed.Load() == 0:
			if got.Stock != 10 || got.Reserved != 0 {
				t.Fatalf("released once: %+v", got)
			}
		default:
			t.Fatalf("%d commits and %d releases succeeded: one side must win entirely", committed.Load(), released.Load())
		}
	})
}

func TestReservationExpiry(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		p := f.create(t, "EXP", 10)
		short := reserveReq(item(p.ID, 3))
		short.TTL = time.Minute
		r, err := f.svc.ReserveInventory(ctx, short)
		if err != nil || !r.ExpiresAt.Equal(testEpoch.Add(time.Minute)) {
			t.Fatalf("reserve = %+v, %v", r, err)
		}
		long, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 2))) // default 15 min
		if err != nil || !long.ExpiresAt.Equal(testEpoch.Add(DefaultTTL)) {
			t.Fatalf("reserve = %+v, %v", long, err)
		}

		if n, err := f.svc.ReapExpired(ctx); err != nil || n != 0 {
			t.Fatalf("reaped %d before expiry, %v", n, err)
		}
		f.clock.Advance(time.Minute)
		// Past its expiry, a reservation cannot be committed even before
		// the reaper gets to it.
		_, err = f.svc.CommitReservation(ctx, ReservationRef{ReservationID: r.ID})
		kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_EXPIRED")

		if n, err := f.svc.ReapExpired(ctx); err != nil || n != 1 {
			t.Fatalf("reaped %d, %v; want 1", n, err)
		}
		if got := f.get(t, p.ID); got.Reserved != 2 || got.Stock != 10 {
			t.Fatalf("after reaping: %+v", got)
		}
		_, err = f.svc.CommitReservation(ctx, ReservationRef{ReservationID: r.ID})
		kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_EXPIRED")
		// Releasing an expired reservation is a no-op success: the saga's
		// compensation must not fail because the reaper was first.
		got, err := f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: r.ID})
		if err != nil || got.Status != ReservationExpired {
			t.Fatalf("release expired = %+v, %v", got, err)
		}
		if got := f.get(t, p.ID); got.Reserved != 2 {
			t.Fatalf("release of expired gave units back twice: %+v", got)
		}
	})
}

func TestConcurrentReapers(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		store := newStore(t)
		f := newFixture(t, store, Options{ReapBatch: 4})
		ctx := context.Background()
		a, b := f.create(t, "RA", 100), f.create(t, "RB", 100)
		for i := range 30 {
			req := reserveReq(item(a.ID, 1), item(b.ID, int64(1+i%2)))
			req.TTL = time.Second
			if _, err := f.svc.ReserveInventory(ctx, req); err != nil {
				t.Fatal(err)
			}
		}
		f.clock.Advance(time.Second)
		// Several "instances" over one store, reaping at once.
		var total atomic.Int32
		var wg sync.WaitGroup
		for range 4 {
			other := NewService(store, Options{ReapBatch: 4, Now: f.clock.Now})
			wg.Add(1)
			go func() {
				defer wg.Done()
				n, err := other.ReapExpired(ctx)
				if err != nil {
					t.Error(err)
				}
				total.Add(int32(n))
			}()
		}
		wg.Wait()
		if total.Load() != 30 {
			t.Fatalf("reaped %d, want 30 (each exactly once)", total.Load())
		}
		for _, id := range []string{a.ID, b.ID} {
			if got := f.get(t, id); got.Reserved != 0 || got.Stock != 100 {
				t.Fatalf("after reaping: %+v", got)
			}
		}
	})
}

func TestIdempotentReservation(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		p, q := f.create(t, "IA", 10), f.create(t, "IB", 10)
		req := reserveReq(item(p.ID, 3))
		req.IdempotencyKey = "order-42-reserve"
		first, err := f.svc.ReserveInventory(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second)
		again, err := f.svc.ReserveInventory(ctx, req)
		if err != nil || !equalReservations(first, again) {
			t.Fatalf("replay = %+v, %v\nfirst %+v", again, err, first)
		}
		if got := f.get(t, p.ID); got.Reserved != 3 {
			t.Fatalf("replay reserved more: %+v", got)
		}

		// Same key, other items; same key, other reservation id.
		other := req
		other.Items = []ReservationItem{item(p.ID, 4)}
		_, err = f.svc.ReserveInventory(ctx, other)
		kittest.WantErr(t, err, errs.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED")
		other = req
		other.Items = []ReservationItem{item(q.ID, 3)}
		_, err = f.svc.ReserveInventory(ctx, other)
		kittest.WantErr(t, err, errs.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED")
		other = req
		other.ReservationID = uuid.NewString()
		_, err = f.svc.ReserveInventory(ctx, other)
		kittest.WantErr(t, err, errs.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED")
		// Same reservation id under a new key, same items: still a repeat.
		other = req
		other.IdempotencyKey = "retry-with-new-key"
		if got, err := f.svc.ReserveInventory(ctx, other); err != nil || got.ID != first.ID {
			t.Fatalf("same id, new key = %+v, %v", got, err)
		}

		// A replay after commit returns the committed reservation and
		// holds nothing new.
		if _, err := f.svc.CommitReservation(ctx, ReservationRef{ReservationID: req.ReservationID}); err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.ReserveInventory(ctx, req)
		if err != nil || got.Status != ReservationCommitted {
			t.Fatalf("replay after commit = %+v, %v", got, err)
		}
		if got := f.get(t, p.ID); got.Reserved != 0 || got.Stock != 7 {
			t.Fatalf("after commit and replay: %+v", got)
		}
		if got := f.get(t, q.ID); got.Reserved != 0 {
			t.Fatalf("refused requests reserved: %+v", got)
		}
	})
}

func TestConcurrentReplaysOfOneReservation(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		p := f.create(t, "ONE", 2)
		req := reserveReq(item(p.ID, 2)) // exactly all the stock
		var wg sync.WaitGroup
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				// Every repeat succeeds with the one reservation; none may
				// see the stock the first one took and fail.
				if r, err := f.svc.ReserveInventory(context.Background(), req); err != nil || r.ID != req.ReservationID {
					t.Errorf("repeat = %+v, %v", r, err)
				}
			}()
		}
		wg.Wait()
		if got := f.get(t, p.ID); got.Reserved != 2 {
			t.Fatalf("reserved %d, want 2", got.Reserved)
		}
	})
}

func TestAdjustStockBelowReserved(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		p := f.create(t, "ADJ", 10)
		if _, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 6))); err != nil {
			t.Fatal(err)
		}
		_, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: -5})
		if e := kittest.WantErr(t, err, errs.FailedPrecondition, "INSUFFICIENT_STOCK"); e.HTTPStatus() != 409 {
			t.Fatalf("status %d", e.HTTPStatus())
		}
		got, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: -4})
		if err != nil || got.Stock != 6 || got.Available() != 0 {
			t.Fatalf("adjust -4 = %+v, %v", got, err)
		}
	})
}

func equalReservations(a, b Reservation) bool {
	return a.ID == b.ID && a.IdempotencyKey == b.IdempotencyKey && a.Status == b.Status &&
		slices.Equal(a.Items, b.Items) && a.ExpiresAt.Equal(b.ExpiresAt) && a.CreatedAt.Equal(b.CreatedAt)
}
