package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
)

func reserveReq(items ...StockItem) ReserveRequest {
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
		want := []ReservationItem{{ProductID: a.ID, Quantity: 1}, {ProductID: b.ID, Quantity: 3}}
		if a.ID > b.ID {
			want[0], want[1] = want[1], want[0]
		}
		for i := range want {
			want[i].UnitPriceCents, want[i].Currency = 500, "EUR"
		}
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
		// Releasing what was never reserved is a compensation with nothing
		// to do: it succeeds (see TestReleaseNeverMade).
		if got, err := f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: uuid.NewString()}); err != nil ||
			got.Status != ReservationReleased || len(got.Items) != 0 {
			t.Fatalf("release of nothing = %+v, %v", got, err)
		}
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
		if n, err := f.svc.ReapExpired(ctx); err != nil || n != 1 {
			t.Fatalf("reaped %d, %v; want 1", n, err)
		}
		if got := f.get(t, p.ID); got.Reserved != 2 || got.Stock != 10 {
			t.Fatalf("after reaping: %+v", got)
		}
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

// TestCommitAfterExpiry: past its ttl a commit succeeds while the units are
// there, whether or not the reaper ran, and otherwise is
// RESERVATION_EXPIRED with nothing changed.
func TestCommitAfterExpiry(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		ctx := context.Background()
		// expired reserves q of a product with the given stock for a
		// minute, lets the minute pass and, if reap, runs the reaper.
		expired := func(t *testing.T, stock, q int64, reap bool) (*fixture, Product, Reservation) {
			f := newFixture(t, newStore(t), Options{})
			p := f.create(t, "X-"+uuid.NewString()[:8], stock)
			req := reserveReq(item(p.ID, q))
			req.TTL = time.Minute
			r, err := f.svc.ReserveInventory(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Minute)
			if reap {
				if n, err := f.svc.ReapExpired(ctx); err != nil || n != 1 {
					t.Fatalf("reaped %d, %v", n, err)
				}
			}
			return f, p, r
		}
		commit := func(f *fixture, r Reservation) (Reservation, error) {
			return f.svc.CommitReservation(ctx, ReservationRef{ReservationID: r.ID})
		}

		t.Run("before the reaper: the held units are sold", func(t *testing.T) {
			f, p, r := expired(t, 10, 3, false)
			got, err := commit(f, r)
			if err != nil || got.Status != ReservationCommitted {
				t.Fatalf("commit = %+v, %v", got, err)
			}
			if got := f.get(t, p.ID); got.Stock != 7 || got.Reserved != 0 {
				t.Fatalf("after commit: %+v", got)
			}
			// Now the reaper has nothing to do.
			if n, err := f.svc.ReapExpired(ctx); err != nil || n != 0 {
				t.Fatalf("reaped %d, %v", n, err)
			}
		})

		t.Run("after the reaper, stock still there: taken again", func(t *testing.T) {
			f, p, r := expired(t, 10, 3, true)
			for range 2 { // the second commit is a repeat and changes nothing
				got, err := commit(f, r)
				if err != nil || got.Status != ReservationCommitted || !got.UpdatedAt.Equal(f.clock.Now()) {
					t.Fatalf("commit = %+v, %v", got, err)
				}
				if got := f.get(t, p.ID); got.Stock != 7 || got.Reserved != 0 {
					t.Fatalf("after commit: %+v", got)
				}
			}
			_, err := f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: r.ID})
			kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_COMMITTED")
		})

		t.Run("after the reaper, stock gone: RESERVATION_EXPIRED", func(t *testing.T) {
			f, p, r := expired(t, 5, 3, true)
			// Someone else holds 4 of the 5 meanwhile.
			if _, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 4))); err != nil {
				t.Fatal(err)
			}
			_, err := commit(f, r)
			e := kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_EXPIRED")
			if e.Meta["product_id"] != p.ID || e.Meta["available"] != int64(1) || e.Meta["requested"] != int64(3) || e.HTTPStatus() != 409 {
				t.Fatalf("meta %v, status %d", e.Meta, e.HTTPStatus())
			}
			if got := f.get(t, p.ID); got.Stock != 5 || got.Reserved != 4 {
				t.Fatalf("a refused commit changed stock: %+v", got)
			}
			// Still expired: the saga's release after its refund succeeds.
			if got, err := f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: r.ID}); err != nil || got.Status != ReservationExpired {
				t.Fatalf("release = %+v, %v", got, err)
			}
		})

		t.Run("after the reaper, one item short: all or nothing", func(t *testing.T) {
			f := newFixture(t, newStore(t), Options{})
			a, b := f.create(t, "XA", 10), f.create(t, "XB", 2)
			req := reserveReq(item(a.ID, 2), item(b.ID, 2))
			req.TTL = time.Minute
			r, err := f.svc.ReserveInventory(ctx, req)
			if err != nil {
				t.Fatal(err)
			}
			f.clock.Advance(time.Minute)
			if _, err := f.svc.ReapExpired(ctx); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: b.ID, Delta: -1}); err != nil {
				t.Fatal(err)
			}
			_, err = commit(f, r)
			if e := kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_EXPIRED"); e.Meta["product_id"] != b.ID {
				t.Fatalf("meta %v", e.Meta)
			}
			if got := f.get(t, a.ID); got.Stock != 10 || got.Reserved != 0 {
				t.Fatalf("the available item was taken anyway: %+v", got)
			}
		})

		t.Run("two expired reservations, room for one: never oversold", func(t *testing.T) {
			f := newFixture(t, newStore(t), Options{})
			p := f.create(t, "XO", 5)
			var rs []Reservation
			for range 2 {
				req := reserveReq(item(p.ID, 2))
				req.TTL = time.Minute
				r, err := f.svc.ReserveInventory(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				rs = append(rs, r)
			}
			f.clock.Advance(time.Minute)
			if n, err := f.svc.ReapExpired(ctx); err != nil || n != 2 {
				t.Fatalf("reaped %d, %v", n, err)
			}
			if _, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 1))); err != nil { // 4 left
				t.Fatal(err)
			}
			if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: -1}); err != nil { // 3 left
				t.Fatal(err)
			}
			var ok, expired atomic.Int32
			var wg sync.WaitGroup
			for _, r := range rs {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, err := commit(f, r)
					switch {
					case err == nil:
						ok.Add(1)
					case errors.Is(err, ErrReservationExpired):
						expired.Add(1)
					default:
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			if ok.Load() != 1 || expired.Load() != 1 {
				t.Fatalf("%d commits succeeded, %d expired; want 1 and 1", ok.Load(), expired.Load())
			}
			if got := f.get(t, p.ID); got.Stock != 2 || got.Reserved != 1 {
				t.Fatalf("final %+v", got)
			}
		})

		t.Run("racing the reaper: either order sells once", func(t *testing.T) {
			f := newFixture(t, newStore(t), Options{})
			p := f.create(t, "XR", 100)
			for range 10 {
				req := reserveReq(item(p.ID, 3))
				req.TTL = time.Minute
				r, err := f.svc.ReserveInventory(ctx, req)
				if err != nil {
					t.Fatal(err)
				}
				f.clock.Advance(time.Minute)
				var wg sync.WaitGroup
				wg.Add(2)
				go func() {
					defer wg.Done()
					if _, err := f.svc.ReapExpired(ctx); err != nil {
						t.Error(err)
					}
				}()
				go func() {
					defer wg.Done()
					if got, err := commit(f, r); err != nil || got.Status != ReservationCommitted {
						t.Errorf("commit = %+v, %v", got, err)
					}
				}()
				wg.Wait()
			}
			if got := f.get(t, p.ID); got.Stock != 70 || got.Reserved != 0 {
				t.Fatalf("after 10 commits of 3: %+v", got)
			}
		})
	})
}

// TestReleaseNeverMade: a compensation may release a reservation whose
// ReserveInventory never arrived (it timed out on the way), by id or by the
// key the saga sent. That succeeds and changes no stock, and a late arrival
// of the reservation holds nothing.
func TestReleaseNeverMade(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		p := f.create(t, "NM", 10)

		for _, byKey := range []bool{false, true} {
			req := reserveReq(item(p.ID, 2))
			req.IdempotencyKey = "order-" + uuid.NewString() + "-reserve"
			ref := ReservationRef{ReservationID: req.ReservationID}
			if byKey {
				ref = ReservationRef{ReservationKey: req.IdempotencyKey}
			}
			for range 2 { // a repeat of the compensation succeeds too
				got, err := f.svc.ReleaseReservation(ctx, ref)
				if err != nil || got.Status != ReservationReleased || len(got.Items) != 0 {
					t.Fatalf("byKey=%v: release of nothing = %+v, %v", byKey, got, err)
				}
			}
			// The late ReserveInventory holds nothing.
			_, err := f.svc.ReserveInventory(ctx, req)
			kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_RELEASED")
			if got := f.get(t, p.ID); got.Reserved != 0 || got.Stock != 10 {
				t.Fatalf("byKey=%v: late reserve held stock: %+v", byKey, got)
			}
			_, err = f.svc.CommitReservation(ctx, ReservationRef{ReservationID: req.ReservationID})
			if byKey {
				// The record made by key has an id of its own; the
				// never-made id stays unknown.
				kittest.WantErr(t, err, errs.NotFound, "RESERVATION_NOT_FOUND")
			} else {
				kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_RELEASED")
			}
		}

		// By key, an existing reservation is released like by id.
		req := reserveReq(item(p.ID, 4))
		req.IdempotencyKey = "order-77-reserve"
		r, err := f.svc.ReserveInventory(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.ReleaseReservation(ctx, ReservationRef{ReservationKey: "order-77-reserve"})
		if err != nil || got.ID != r.ID || got.Status != ReservationReleased || len(got.Items) != 1 {
			t.Fatalf("release by key = %+v, %v", got, err)
		}
		if got := f.get(t, p.ID); got.Reserved != 0 {
			t.Fatalf("after release by key: %+v", got)
		}

		_, err = f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: r.ID, ReservationKey: "order-77-reserve"})
		wantFields(t, err, "reservation_idempotency_key")
		_, err = f.svc.ReleaseReservation(ctx, ReservationRef{})
		wantFields(t, err, "reservation_id")
		_, err = f.svc.ReleaseReservation(ctx, ReservationRef{ReservationKey: "has space"})
		wantFields(t, err, "reservation_idempotency_key")
	})
}

// TestReleaseRacesReserve: a compensation by key racing its own late
// ReserveInventory. Whichever comes first, nothing stays held.
func TestReleaseRacesReserve(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		p := f.create(t, "RR", 1000)
		for i := range 20 {
			req := reserveReq(item(p.ID, 1))
			req.IdempotencyKey = fmt.Sprintf("race-%d", i)
			var wg sync.WaitGroup
			wg.Add(2)
			go func() {
				defer wg.Done()
				_, err := f.svc.ReserveInventory(ctx, req)
				if err != nil && !errors.Is(err, ErrReservationReleased) {
					t.Errorf("reserve: %v", err)
				}
			}()
			go func() {
				defer wg.Done()
				if _, err := f.svc.ReleaseReservation(ctx, ReservationRef{ReservationKey: req.IdempotencyKey}); err != nil {
					t.Errorf("release: %v", err)
				}
			}()
			wg.Wait()
		}
		if got := f.get(t, p.ID); got.Reserved != 0 || got.Stock != 1000 {
			t.Fatalf("after 20 races: %+v", got)
		}
	})
}

// TestReservationCarriesPrices: each item records the product's price and
// currency when it was reserved; later price changes do not reach it.
func TestReservationCarriesPrices(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		a := f.create(t, "PA", 5) // 500 EUR
		b, err := f.svc.CreateProduct(ctx, NewProduct{SKU: "PB", Name: "B", PriceCents: 1234, Currency: "JPY", Stock: 5})
		if err != nil {
			t.Fatal(err)
		}
		req := reserveReq(item(a.ID, 1), item(b.ID, 2))
		r, err := f.svc.ReserveInventory(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]ReservationItem{
			a.ID: {ProductID: a.ID, Quantity: 1, UnitPriceCents: 500, Currency: "EUR"},
			b.ID: {ProductID: b.ID, Quantity: 2, UnitPriceCents: 1234, Currency: "JPY"},
		}
		check := func(what string, r Reservation) {
			t.Helper()
			if len(r.Items) != 2 {
				t.Fatalf("%s: items %+v", what, r.Items)
			}
			for _, it := range r.Items {
				if it != want[it.ProductID] {
					t.Fatalf("%s: item %+v, want %+v", what, it, want[it.ProductID])
				}
			}
		}
		check("reserve", r)
		price := int64(999)
		if _, err := f.svc.UpdateProduct(ctx, ProductUpdate{ID: a.ID, PriceCents: &price}); err != nil {
			t.Fatal(err)
		}
		again, err := f.svc.ReserveInventory(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		check("replay after a price change", again)
		committed, err := f.svc.CommitReservation(ctx, ReservationRef{ReservationID: r.ID})
		if err != nil {
			t.Fatal(err)
		}
		check("commit", committed)
	})
}

// TestRestockItems: the internal restock for cancelled orders applies once
// per key, all or nothing.
func TestRestockItems(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		a, b := f.create(t, "SA", 1), f.create(t, "SB", 2)
		req := RestockRequest{IdempotencyKey: "order-9-cancel", Items: []StockItem{item(b.ID, 2), item(a.ID, 1), item(b.ID, 1)}}
		var wg sync.WaitGroup
		var fresh atomic.Int32
		for range 5 { // concurrent repeats: one restocks, the others replay
			wg.Add(1)
			go func() {
				defer wg.Done()
				res, err := f.svc.RestockItems(ctx, req)
				if err != nil {
					t.Error(err)
					return
				}
				if !res.Replayed {
					fresh.Add(1)
				}
			}()
		}
		wg.Wait()
		if fresh.Load() != 1 {
			t.Fatalf("%d restocks were not replays, want 1", fresh.Load())
		}
		res, err := f.svc.RestockItems(ctx, req)
		if err != nil || !res.Replayed || len(res.Products) != 2 {
			t.Fatalf("replay = %+v, %v", res, err)
		}
		if res.Products[0].ID > res.Products[1].ID {
			t.Fatalf("products not in id order: %+v", res.Products)
		}
		if got := f.get(t, a.ID); got.Stock != 2 {
			t.Fatalf("a: %+v", got)
		}
		if got := f.get(t, b.ID); got.Stock != 5 {
			t.Fatalf("b: %+v", got)
		}
		// The same items merged differently are the same request.
		merged := RestockRequest{IdempotencyKey: req.IdempotencyKey, Items: []StockItem{item(a.ID, 1), item(b.ID, 3)}}
		if res, err := f.svc.RestockItems(ctx, merged); err != nil || !res.Replayed {
			t.Fatalf("merged replay = %+v, %v", res, err)
		}
		other := RestockRequest{IdempotencyKey: req.IdempotencyKey, Items: []StockItem{item(a.ID, 2)}}
		_, err = f.svc.RestockItems(ctx, other)
		if e := kittest.WantErr(t, err, errs.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED"); e.HTTPStatus() != 422 {
			t.Fatalf("status %d", e.HTTPStatus())
		}

		// An unknown product refuses the whole restock and uses no key.
		missing := uuid.NewString()
		_, err = f.svc.RestockItems(ctx, RestockRequest{IdempotencyKey: "order-10-cancel", Items: []StockItem{item(a.ID, 1), item(missing, 1)}})
		if e := kittest.WantErr(t, err, errs.NotFound, "PRODUCT_NOT_FOUND"); e.Meta["product_id"] != missing {
			t.Fatalf("meta %v", e.Meta)
		}
		if got := f.get(t, a.ID); got.Stock != 2 {
			t.Fatalf("a refused restock changed a: %+v", got)
		}
		if res, err := f.svc.RestockItems(ctx, RestockRequest{IdempotencyKey: "order-10-cancel", Items: []StockItem{item(a.ID, 1)}}); err != nil || res.Replayed {
			t.Fatalf("key after a refused restock = %+v, %v", res, err)
		}

		_, err = f.svc.RestockItems(ctx, RestockRequest{Items: []StockItem{item(a.ID, 0)}})
		wantFields(t, err, "idempotency_key", "items[0].quantity")
		_, err = f.svc.RestockItems(ctx, RestockRequest{IdempotencyKey: strings.Repeat("k", 201), Items: []StockItem{}})
		wantFields(t, err, "idempotency_key", "items")
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
		other.Items = []StockItem{item(p.ID, 4)}
		_, err = f.svc.ReserveInventory(ctx, other)
		kittest.WantErr(t, err, errs.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED")
		other = req
		other.Items = []StockItem{item(q.ID, 3)}
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
		if err != nil || got.Product.Stock != 6 || got.Product.Available() != 0 {
			t.Fatalf("adjust -4 = %+v, %v", got, err)
		}
	})
}

func equalReservations(a, b Reservation) bool {
	return a.ID == b.ID && a.IdempotencyKey == b.IdempotencyKey && a.Status == b.Status &&
		slices.Equal(a.Items, b.Items) && a.ExpiresAt.Equal(b.ExpiresAt) && a.CreatedAt.Equal(b.CreatedAt)
}
