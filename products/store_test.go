package main

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

func newMemoryTestStore(*testing.T) Store { return newMemoryStore() }

// newPostgresTestStore opens a store on a fresh database of the shared test
// cluster; the database goes away with the test.
func newPostgresTestStore(t *testing.T) Store {
	t.Helper()
	return openTestPostgres(t, pgtest.URL(t))
}

func openTestPostgres(t testing.TB, url string) *postgresStore {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := openPostgresStore(ctx, url, nil)
	if err != nil {
		t.Fatalf("open postgres store: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// eachStore runs fn once per Store implementation, as subtests.
func eachStore(t *testing.T, fn func(t *testing.T, newStore func(t *testing.T) Store)) {
	t.Run("memory", func(t *testing.T) { fn(t, newMemoryTestStore) })
	t.Run("postgres", func(t *testing.T) { fn(t, newPostgresTestStore) })
}

func TestStoreMemory(t *testing.T)   { testStore(t, newMemoryTestStore) }
func TestStorePostgres(t *testing.T) { testStore(t, newPostgresTestStore) }

var testEpoch = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func newTestProduct(sku string) Product {
	return Product{ID: uuid.NewString(), SKU: sku, Name: "Widget " + sku, Description: "a widget",
		Category: "tools", PriceCents: 1999, Currency: "USD", Stock: 10, Active: true, Version: 1,
		CreatedAt: testEpoch, UpdatedAt: testEpoch}
}

func mustCreate(t testing.TB, s Store, p Product) Product {
	t.Helper()
	got, err := s.CreateProduct(context.Background(), p)
	if err != nil {
		t.Fatalf("create %s: %v", p.SKU, err)
	}
	return got
}

func mustGet(t testing.TB, s Store, id string) Product {
	t.Helper()
	p, err := s.GetProduct(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return p
}

// recordingSink collects what a store publishes.
type recordingSink struct {
	mu      sync.Mutex
	levels  []StockLevel
	resyncs int
	changed chan struct{}
}

func newRecordingSink() *recordingSink { return &recordingSink{changed: make(chan struct{}, 1)} }

func (r *recordingSink) Publish(l StockLevel) {
	r.mu.Lock()
	r.levels = append(r.levels, l)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

func (r *recordingSink) Resync() {
	r.mu.Lock()
	r.resyncs++
	r.mu.Unlock()
}

// waitFor returns the first published level for id that satisfies ok.
func (r *recordingSink) waitFor(t *testing.T, id string, ok func(StockLevel) bool) StockLevel {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		r.mu.Lock()
		for _, l := range r.levels {
			if l.ProductID == id && ok(l) {
				r.mu.Unlock()
				return l
			}
		}
		r.mu.Unlock()
		select {
		case <-r.changed:
		case <-deadline:
			t.Fatalf("no published level for %s matched", id)
		}
	}
}

// testStore is the contract both Store implementations meet.
func testStore(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("create then get", func(t *testing.T) {
		s := newStore(t)
		p := newTestProduct("SKU-1")
		got := mustCreate(t, s, p)
		again := mustGet(t, s, p.ID)
		for _, g := range []Product{got, again} {
			if g != p {
				t.Fatalf("got %+v\nwant %+v", g, p)
			}
		}
	})

	t.Run("unknown ids are ErrProductNotFound", func(t *testing.T) {
		s := newStore(t)
		if _, err := s.GetProduct(ctx, uuid.NewString()); !errors.Is(err, ErrProductNotFound) {
			t.Fatalf("GetProduct: %v", err)
		}
		if _, err := s.UpdateProduct(ctx, ProductUpdate{ID: uuid.NewString()}, testEpoch); !errors.Is(err, ErrProductNotFound) {
			t.Fatalf("UpdateProduct: %v", err)
		}
		if _, _, err := s.AdjustStock(ctx, StockAdjustment{ProductID: uuid.NewString(), Delta: 1}, testEpoch); !errors.Is(err, ErrProductNotFound) {
			t.Fatalf("AdjustStock: %v", err)
		}
		if _, _, err := s.AdjustStock(ctx, StockAdjustment{ProductID: uuid.NewString(), Delta: 1, IdempotencyKey: "k"}, testEpoch); !errors.Is(err, ErrProductNotFound) {
			t.Fatalf("AdjustStock with key: %v", err)
		}
	})

	t.Run("duplicate SKU is ErrSKUTaken", func(t *testing.T) {
		s := newStore(t)
		mustCreate(t, s, newTestProduct("DUP"))
		_, err := s.CreateProduct(ctx, newTestProduct("DUP"))
		kittest.WantErr(t, err, errs.AlreadyExists, "SKU_TAKEN")
	})

	t.Run("update sets only given fields and bumps version", func(t *testing.T) {
		s := newStore(t)
		p := mustCreate(t, s, newTestProduct("UPD"))
		name, active := "Renamed", false
		later := testEpoch.Add(time.Hour)
		got, err := s.UpdateProduct(ctx, ProductUpdate{ID: p.ID, Name: &name, Active: &active}, later)
		if err != nil {
			t.Fatal(err)
		}
		want := p
		want.Name, want.Active, want.Version, want.UpdatedAt = name, false, 2, later
		if got != want || mustGet(t, s, p.ID) != want {
			t.Fatalf("got %+v\nwant %+v", got, want)
		}
	})

	t.Run("GetProducts returns the existing ones", func(t *testing.T) {
		s := newStore(t)
		a := mustCreate(t, s, newTestProduct("A"))
		b := mustCreate(t, s, newTestProduct("B"))
		got, err := s.GetProducts(ctx, []string{a.ID, uuid.NewString(), b.ID})
		if err != nil || len(got) != 2 {
			t.Fatalf("GetProducts = %v, %v", got, err)
		}
	})

	t.Run("ListProducts pages by id", func(t *testing.T) {
		s := newStore(t)
		for i := range 7 {
			mustCreate(t, s, newTestProduct(fmt.Sprintf("L%d", i)))
		}
		var seen []string
		after := ""
		for {
			batch, err := s.ListProducts(ctx, after, 3)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range batch {
				seen = append(seen, p.ID)
			}
			if len(batch) < 3 {
				break
			}
			after = batch[len(batch)-1].ID
		}
		if len(seen) != 7 {
			t.Fatalf("listed %d products, want 7", len(seen))
		}
		for i := 1; i < len(seen); i++ {
			if seen[i-1] >= seen[i] {
				t.Fatalf("not in id order: %v", seen)
			}
		}
	})

	t.Run("upsert inserts then updates by SKU", func(t *testing.T) {
		s := newStore(t)
		p := newTestProduct("UP")
		got, created, err := s.UpsertProduct(ctx, p)
		if err != nil || !created || got != p {
			t.Fatalf("first upsert = %+v, %v, %v", got, created, err)
		}
		q := newTestProduct("UP") // new id, same SKU
		q.Name, q.Stock, q.Active, q.UpdatedAt = "Changed", 3, false, testEpoch.Add(time.Minute)
		got, created, err = s.UpsertProduct(ctx, q)
		if err != nil || created {
			t.Fatalf("second upsert = %+v, %v, %v", got, created, err)
		}
		if got.ID != p.ID || got.Name != "Changed" || got.Stock != 3 || got.Active || got.Version != 2 ||
			!got.CreatedAt.Equal(p.CreatedAt) || !got.UpdatedAt.Equal(q.UpdatedAt) {
			t.Fatalf("updated row = %+v", got)
		}
	})

	t.Run("upsert refuses stock below reserved", func(t *testing.T) {
		s := newStore(t)
		p := mustCreate(t, s, newTestProduct("RES"))
		reserve(t, s, p.ID, 4)
		q := newTestProduct("RES")
		q.Stock = 3
		_, _, err := s.UpsertProduct(ctx, q)
		e := kittest.WantErr(t, err, errs.FailedPrecondition, "INSUFFICIENT_STOCK")
		if e.Meta["product_id"] != p.ID || e.Meta["reserved"] != int64(4) {
			t.Fatalf("meta = %v", e.Meta)
		}
		if got := mustGet(t, s, p.ID); got.Stock != 10 {
			t.Fatalf("stock changed to %d", got.Stock)
		}
	})

	t.Run("adjust stock and its guard", func(t *testing.T) {
		s := newStore(t)
		p := mustCreate(t, s, newTestProduct("ADJ"))
		reserve(t, s, p.ID, 4)
		got, prior, err := s.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: -6}, testEpoch)
		if err != nil || prior != nil || got.Stock != 4 || got.Reserved != 4 || got.Available() != 0 {
			t.Fatalf("adjust -6 = %+v, %v, %v", got, prior, err)
		}
		_, _, err = s.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: -1}, testEpoch)
		e := kittest.WantErr(t, err, errs.FailedPrecondition, "INSUFFICIENT_STOCK")
		if e.Meta["available"] != int64(0) || e.Meta["requested"] != int64(1) || e.Meta["product_id"] != p.ID {
			t.Fatalf("meta = %v", e.Meta)
		}
	})

	t.Run("adjust with a key applies once", func(t *testing.T) {
		s := newStore(t)
		p := mustCreate(t, s, newTestProduct("KEY"))
		a := StockAdjustment{ProductID: p.ID, Delta: 5, IdempotencyKey: "restock-1"}
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if _, _, err := s.AdjustStock(ctx, a, testEpoch); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		got, prior, err := s.AdjustStock(ctx, a, testEpoch)
		if err != nil || prior == nil || *prior != a || got.Stock != 15 {
			t.Fatalf("replay = %+v, %+v, %v", got, prior, err)
		}
	})

	t.Run("reserve is all or nothing", func(t *testing.T) {
		s := newStore(t)
		a := mustCreate(t, s, newTestProduct("RA"))
		b := newTestProduct("RB")
		b.Stock = 1
		b = mustCreate(t, s, b)
		r := newTestReservation(item(a.ID, 2), item(b.ID, 2))
		_, _, err := s.Reserve(ctx, r)
		e := kittest.WantErr(t, err, errs.FailedPrecondition, "INSUFFICIENT_STOCK")
		if e.Meta["product_id"] != b.ID || e.Meta["available"] != int64(1) || e.Meta["requested"] != int64(2) {
			t.Fatalf("meta = %v", e.Meta)
		}
		if got := mustGet(t, s, a.ID); got.Reserved != 0 {
			t.Fatalf("first item stayed reserved: %+v", got)
		}
		// Nothing was stored either: the same id can be used again.
		r.Items = newTestReservation(item(a.ID, 2), item(b.ID, 1)).Items
		if _, created, err := s.Reserve(ctx, r); err != nil || !created {
			t.Fatalf("retry: %v %v", created, err)
		}
	})

	t.Run("reserve names unknown and inactive products", func(t *testing.T) {
		s := newStore(t)
		p := newTestProduct("OFF")
		p.Active = false
		p = mustCreate(t, s, p)
		_, _, err := s.Reserve(ctx, newTestReservation(item(p.ID, 1)))
		if e := kittest.WantErr(t, err, errs.FailedPrecondition, "PRODUCT_INACTIVE"); e.Meta["product_id"] != p.ID {
			t.Fatalf("meta = %v", e.Meta)
		}
		missing := uuid.NewString()
		_, _, err = s.Reserve(ctx, newTestReservation(item(missing, 1)))
		if e := kittest.WantErr(t, err, errs.NotFound, "PRODUCT_NOT_FOUND"); e.Meta["product_id"] != missing {
			t.Fatalf("meta = %v", e.Meta)
		}
	})

	t.Run("reserve returns an existing reservation by id or key", func(t *testing.T) {
		s := newStore(t)
		p := mustCreate(t, s, newTestProduct("EX"))
		r := newTestReservation(item(p.ID, 3))
		first, created, err := s.Reserve(ctx, r)
		if err != nil || !created {
			t.Fatal(created, err)
		}
		byKey := newTestReservation(item(p.ID, 1))
		byKey.IdempotencyKey = r.IdempotencyKey
		for _, again := range []Reservation{r, byKey} {
			got, created, err := s.Reserve(ctx, again)
			if err != nil || created || got.ID != first.ID || len(got.Items) != 1 || got.Items[0].Quantity != 3 {
				t.Fatalf("repeat = %+v, %v, %v", got, created, err)
			}
		}
		if got := mustGet(t, s, p.ID); got.Reserved != 3 {
			t.Fatalf("reserved = %d, want 3", got.Reserved)
		}
	})

	t.Run("transitions move stock", func(t *testing.T) {
		s := newStore(t)
		p := mustCreate(t, s, newTestProduct("TR"))
		commit := reserve(t, s, p.ID, 3)
		release := reserve(t, s, p.ID, 2)
		to := func(st ReservationStatus) func(Reservation) (ReservationStatus, error) {
			return func(Reservation) (ReservationStatus, error) { return st, nil }
		}
		later := testEpoch.Add(time.Minute)
		got, err := s.TransitionReservation(ctx, byID(commit.ID), later, to(ReservationCommitted))
		if err != nil || got.Status != ReservationCommitted || !got.UpdatedAt.Equal(later) {
			t.Fatalf("commit = %+v, %v", got, err)
		}
		if _, err := s.TransitionReservation(ctx, byID(release.ID), later, to(ReservationReleased)); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, p.ID); got.Stock != 7 || got.Reserved != 0 {
			t.Fatalf("after commit 3 and release 2: %+v", got)
		}
		// Same status: nothing changes.
		if _, err := s.TransitionReservation(ctx, byID(commit.ID), later, to(ReservationCommitted)); err != nil {
			t.Fatal(err)
		}
		if got := mustGet(t, s, p.ID); got.Stock != 7 {
			t.Fatalf("repeat commit changed stock: %+v", got)
		}
		// A decision error aborts; an illegal transition is Internal.
		boom := errors.New("boom")
		if _, err := s.TransitionReservation(ctx, byID(commit.ID), later, func(Reservation) (ReservationStatus, error) { return 0, boom }); !errors.Is(err, boom) {
			t.Fatalf("decide error: %v", err)
		}
		if _, err := s.TransitionReservation(ctx, byID(commit.ID), later, to(ReservationReleased)); errs.KindOf(err) != errs.Internal {
			t.Fatalf("committed -> released: %v", err)
		}
		if _, err := s.TransitionReservation(ctx, byID(uuid.NewString()), later, to(ReservationReleased)); !errors.Is(err, ErrReservationNotFound) {
			t.Fatalf("unknown: %v", err)
		}
	})

	t.Run("expire releases due reservations only", func(t *testing.T) {
		s := newStore(t)
		p := mustCreate(t, s, newTestProduct("EXP"))
		due := newTestReservation(item(p.ID, 2))
		due.ExpiresAt = testEpoch.Add(time.Minute)
		notDue := newTestReservation(item(p.ID, 3))
		notDue.ExpiresAt = testEpoch.Add(time.Hour)
		for _, r := range []Reservation{due, notDue} {
			if _, _, err := s.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		n, err := s.ExpireReservations(ctx, testEpoch.Add(time.Minute), 10)
		if err != nil || n != 1 {
			t.Fatalf("expired %d, %v; want 1", n, err)
		}
		if got := mustGet(t, s, p.ID); got.Reserved != 3 || got.Stock != 10 {
			t.Fatalf("after expiry: %+v", got)
		}
		var seen ReservationStatus
		_, _ = s.TransitionReservation(ctx, byID(due.ID), testEpoch, func(r Reservation) (ReservationStatus, error) {
			seen = r.Status
			return r.Status, nil
		})
		if seen != ReservationExpired {
			t.Fatalf("status = %v", seen)
		}
		if n, err := s.ExpireReservations(ctx, testEpoch.Add(time.Minute), 10); err != nil || n != 0 {
			t.Fatalf("second pass expired %d, %v", n, err)
		}
	})

	t.Run("held counts RESERVED reservations not yet expired", func(t *testing.T) {
		s := newStore(t)
		p := mustCreate(t, s, newTestProduct("HELD"))
		early, late, committed := newTestReservation(item(p.ID, 1)), newTestReservation(item(p.ID, 1)), newTestReservation(item(p.ID, 1))
		early.ExpiresAt = testEpoch.Add(time.Minute)
		late.ExpiresAt = testEpoch.Add(time.Hour)
		for _, r := range []Reservation{early, late, committed} {
			if _, _, err := s.Reserve(ctx, r); err != nil {
				t.Fatal(err)
			}
		}
		commit := func(Reservation) (ReservationStatus, error) { return ReservationCommitted, nil }
		if _, err := s.TransitionReservation(ctx, byID(committed.ID), testEpoch, commit); err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			at   time.Time
			want int
		}{
			{testEpoch, 2},
			{testEpoch.Add(time.Minute), 1}, // early's expiry: no longer held, though not reaped
			{testEpoch.Add(time.Hour), 0},
		} {
			if n, err := s.HeldReservations(ctx, c.at); err != nil || n != c.want {
				t.Fatalf("held at %v = %d, %v; want %d", c.at.Sub(testEpoch), n, err, c.want)
			}
		}
	})

	t.Run("reserve records each item's price", func(t *testing.T) {
		s := newStore(t)
		a := mustCreate(t, s, newTestProduct("PRA")) // 1999 USD
		bp := newTestProduct("PRB")
		bp.PriceCents, bp.Currency = 0, "JPY"
		b := mustCreate(t, s, bp)
		r := newTestReservation(item(a.ID, 1), item(b.ID, 2))
		for i := range 2 { // created, then found again
			got, created, err := s.Reserve(ctx, r)
			if err != nil || created != (i == 0) {
				t.Fatalf("reserve = %v, %v", created, err)
			}
			for _, it := range got.Items {
				want := map[string]ReservationItem{
					a.ID: {ProductID: a.ID, Quantity: 1, UnitPriceCents: 1999, Currency: "USD"},
					b.ID: {ProductID: b.ID, Quantity: 2, UnitPriceCents: 0, Currency: "JPY"},
				}[it.ProductID]
				if it != want {
					t.Fatalf("item %+v, want %+v", it, want)
				}
			}
		}
	})

	t.Run("transitions find a reservation by key", func(t *testing.T) {
		s := newStore(t)
		p := mustCreate(t, s, newTestProduct("BYKEY"))
		r := newTestReservation(item(p.ID, 2))
		r.IdempotencyKey = "saga-key"
		if _, _, err := s.Reserve(ctx, r); err != nil {
			t.Fatal(err)
		}
		got, err := s.TransitionReservation(ctx, ReservationLookup{Key: "saga-key"}, testEpoch,
			func(Reservation) (ReservationStatus, error) { return ReservationReleased, nil })
		if err != nil || got.ID != r.ID || got.Status != ReservationReleased {
			t.Fatalf("release by key = %+v, %v", got, err)
		}
		if got := mustGet(t, s, p.ID); got.Reserved != 0 {
			t.Fatalf("after release: %+v", got)
		}
		if _, err := s.TransitionReservation(ctx, ReservationLookup{Key: "other"}, testEpoch,
			func(r Reservation) (ReservationStatus, error) { return r.Status, nil }); !errors.Is(err, ErrReservationNotFound) {
			t.Fatalf("unknown key: %v", err)
		}
	})

	t.Run("an expired reservation is committed only if its units are available", func(t *testing.T) {
		s := newStore(t)
		pp := newTestProduct("RETAKE")
		pp.Stock = 5
		p := mustCreate(t, s, pp)
		ok, short := reserve(t, s, p.ID, 2), reserve(t, s, p.ID, 3)
		if n, err := s.ExpireReservations(ctx, testEpoch.Add(15*time.Minute), 10); err != nil || n != 2 {
			t.Fatalf("expired %d, %v", n, err)
		}
		commit := func(Reservation) (ReservationStatus, error) { return ReservationCommitted, nil }
		later := testEpoch.Add(time.Hour)
		got, err := s.TransitionReservation(ctx, byID(ok.ID), later, commit)
		if err != nil || got.Status != ReservationCommitted || !got.UpdatedAt.Equal(later) {
			t.Fatalf("commit = %+v, %v", got, err)
		}
		if got := mustGet(t, s, p.ID); got.Stock != 3 || got.Reserved != 0 {
			t.Fatalf("after taking 2 again: %+v", got)
		}
		reserve(t, s, p.ID, 1) // 2 available; the other wants 3
		_, err = s.TransitionReservation(ctx, byID(short.ID), later, commit)
		e := kittest.WantErr(t, err, errs.FailedPrecondition, "RESERVATION_EXPIRED")
		if e.Meta["product_id"] != p.ID || e.Meta["available"] != int64(2) || e.Meta["requested"] != int64(3) {
			t.Fatalf("meta %v", e.Meta)
		}
		if got := mustGet(t, s, p.ID); got.Stock != 3 || got.Reserved != 1 {
			t.Fatalf("a refused commit changed stock: %+v", got)
		}
	})

	t.Run("a reservation recorded as released holds nothing", func(t *testing.T) {
		s := newStore(t)
		id := uuid.NewString()
		unmade := Reservation{ID: id, IdempotencyKey: "never-made", Status: ReservationReleased,
			ExpiresAt: testEpoch, CreatedAt: testEpoch, UpdatedAt: testEpoch}
		got, created, err := s.Reserve(ctx, unmade)
		if err != nil || !created || got.Status != ReservationReleased || len(got.Items) != 0 {
			t.Fatalf("record = %+v, %v, %v", got, created, err)
		}
		p := mustCreate(t, s, newTestProduct("LATE"))
		late := newTestReservation(item(p.ID, 1))
		late.IdempotencyKey = "never-made"
		got, created, err = s.Reserve(ctx, late)
		if err != nil || created || got.ID != id || got.Status != ReservationReleased || len(got.Items) != 0 {
			t.Fatalf("late reserve = %+v, %v, %v", got, created, err)
		}
		if got := mustGet(t, s, p.ID); got.Reserved != 0 {
			t.Fatalf("late reserve held stock: %+v", got)
		}
	})

	t.Run("restock applies once per key", func(t *testing.T) {
		s := newStore(t)
		a, b := mustCreate(t, s, newTestProduct("RSA")), mustCreate(t, s, newTestProduct("RSB"))
		r := Restock{IdempotencyKey: "cancel-1", Items: mergedItems(map[string]int64{a.ID: 1, b.ID: 4})}
		later := testEpoch.Add(time.Hour)
		got, prior, err := s.Restock(ctx, r, later)
		if err != nil || prior != nil || len(got) != 2 || got[0].ID != r.Items[0].ProductID {
			t.Fatalf("restock = %+v, %+v, %v", got, prior, err)
		}
		if pa := mustGet(t, s, a.ID); pa.Stock != 11 || pa.Version != 2 || !pa.UpdatedAt.Equal(later) {
			t.Fatalf("a after restock: %+v", pa)
		}
		again, prior, err := s.Restock(ctx, Restock{IdempotencyKey: "cancel-1", Items: []StockItem{item(a.ID, 9)}}, later)
		if err != nil || prior == nil || !slices.Equal(prior.Items, r.Items) || len(again) != 2 {
			t.Fatalf("repeat = %+v, %+v, %v", again, prior, err)
		}
		if pb := mustGet(t, s, b.ID); pb.Stock != 14 {
			t.Fatalf("b after repeat: %+v", pb)
		}
		missing := uuid.NewString()
		_, _, err = s.Restock(ctx, Restock{IdempotencyKey: "cancel-2", Items: mergedItems(map[string]int64{a.ID: 1, missing: 1})}, later)
		if e := kittest.WantErr(t, err, errs.NotFound, "PRODUCT_NOT_FOUND"); e.Meta["product_id"] != missing {
			t.Fatalf("meta %v", e.Meta)
		}
		if pa := mustGet(t, s, a.ID); pa.Stock != 11 {
			t.Fatalf("refused restock changed a: %+v", pa)
		}
	})

	t.Run("stock changes are published", func(t *testing.T) {
		s := newStore(t)
		sink := newRecordingSink()
		wctx, cancel := context.WithCancel(ctx)
		done := make(chan error, 1)
		go func() { done <- s.WatchStock(wctx, sink) }()
		defer func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("WatchStock: %v", err)
			}
		}()
		p := mustCreate(t, s, newTestProduct("PUB"))
		// The feed may still be starting: keep changing until it reports.
		deadline := time.Now().Add(10 * time.Second)
		for {
			if _, _, err := s.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 1}, testEpoch); err != nil {
				t.Fatal(err)
			}
			select {
			case <-sink.changed:
			case <-time.After(200 * time.Millisecond):
			}
			sink.mu.Lock()
			n := len(sink.levels)
			sink.mu.Unlock()
			if n > 0 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatal("no stock change published")
			}
		}
		r := reserve(t, s, p.ID, 2)
		l := sink.waitFor(t, p.ID, func(l StockLevel) bool { return l.Reserved == 2 })
		if l.Stock < 11 || l.Version < 3 {
			t.Fatalf("published %+v", l)
		}
		if _, err := s.TransitionReservation(ctx, byID(r.ID), testEpoch, func(Reservation) (ReservationStatus, error) {
			return ReservationCommitted, nil
		}); err != nil {
			t.Fatal(err)
		}
		sink.waitFor(t, p.ID, func(l StockLevel) bool { return l.Reserved == 0 && l.Version > 3 })
		// Versions grow in publication order.
		sink.mu.Lock()
		defer sink.mu.Unlock()
		for i := 1; i < len(sink.levels); i++ {
			if sink.levels[i].Version <= sink.levels[i-1].Version {
				t.Fatalf("versions out of order: %+v", sink.levels)
			}
		}
	})
}

func byID(id string) ReservationLookup { return ReservationLookup{ID: id} }

func item(id string, q int64) StockItem { return StockItem{ProductID: id, Quantity: q} }

// newTestReservation is a RESERVED reservation of items (merged), without
// prices: the store sets those.
func newTestReservation(items ...StockItem) Reservation {
	id := uuid.NewString()
	r := Reservation{ID: id, IdempotencyKey: id, Status: ReservationReserved,
		ExpiresAt: testEpoch.Add(15 * time.Minute), CreatedAt: testEpoch, UpdatedAt: testEpoch}
	for _, it := range mergedItems(sumItems(items)) {
		r.Items = append(r.Items, ReservationItem{ProductID: it.ProductID, Quantity: it.Quantity})
	}
	return r
}

func sumItems(items []StockItem) map[string]int64 {
	m := map[string]int64{}
	for _, it := range items {
		m[it.ProductID] += it.Quantity
	}
	return m
}

// reserve stores a reservation of q units of one product, expiring 15 min
// after testEpoch.
func reserve(t *testing.T, s Store, productID string, q int64) Reservation {
	t.Helper()
	r, created, err := s.Reserve(context.Background(), newTestReservation(item(productID, q)))
	if err != nil || !created {
		t.Fatalf("reserve %d of %s: %v (created %v)", q, productID, err, created)
	}
	return r
}
