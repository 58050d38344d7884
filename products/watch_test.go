package main

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// startFeed runs the service's stock feed until the test ends, and waits
// until it delivers: a Postgres feed needs its LISTEN in place first.
func startFeed(t *testing.T, f *fixture) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.svc.RunStockFeed(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("RunStockFeed: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("RunStockFeed did not return after cancel")
		}
	})
	waitFeedLive(t, f)
}

// waitFeedLive changes a probe product until a watch sees the change.
func waitFeedLive(t *testing.T, f *fixture) {
	t.Helper()
	probe := f.create(t, "PROBE-"+uuid.NewString()[:8], 1)
	w := mustWatch(t, f.svc)
	defer w.Close()
	if err := w.Subscribe(context.Background(), []string{probe.ID}); err != nil {
		t.Fatal(err)
	}
	if l := next(t, w); l.Version != probe.Version {
		t.Fatalf("snapshot %+v", l)
	}
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := f.svc.AdjustStock(context.Background(), StockAdjustment{ProductID: probe.ID, Delta: 1}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		_, err := w.Next(ctx)
		cancel()
		if err == nil {
			return
		}
	}
	t.Fatal("stock feed never delivered a change")
}

// mustWatch opens a stock watch that closes when the test ends.
func mustWatch(t testing.TB, svc Service) *StockWatch {
	t.Helper()
	w, err := svc.WatchStock(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	return w
}

func next(t *testing.T, w *StockWatch) StockLevel {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	l, err := w.Next(ctx)
	if err != nil {
		t.Fatalf("Next: %v", err)
	}
	return l
}

// expectLevel fails unless the next level is id's with these counts.
func expectLevel(t *testing.T, w *StockWatch, id string, stock, reserved int64) {
	t.Helper()
	l := next(t, w)
	if l.ProductID != id || l.Stock != stock || l.Reserved != reserved || l.Available() != max(stock-reserved, 0) {
		t.Fatalf("got %+v, want %s stock %d reserved %d", l, id, stock, reserved)
	}
}

func TestWatchStock(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		startFeed(t, f)
		ctx := context.Background()
		p, q := f.create(t, "W1", 10), f.create(t, "W2", 5)

		w := mustWatch(t, f.svc)
		defer w.Close()
		if err := w.Subscribe(ctx, []string{p.ID}); err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, p.ID, 10, 0) // current level on subscribe

		r, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 3)))
		if err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, p.ID, 10, 3)
		if _, err := f.svc.CommitReservation(ctx, ReservationRef{ReservationID: r.ID}); err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, p.ID, 7, 0)
		r2, err := f.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 2)))
		if err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, p.ID, 7, 2)
		if _, err := f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: r2.ID}); err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, p.ID, 7, 0)
		if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 5}); err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, p.ID, 12, 0)
		if _, err := f.svc.ImportProducts(ctx, rowsOf(ImportRow{SKU: "W1", Name: "n", Currency: "USD", Stock: 20, Active: true})); err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, p.ID, 20, 0)
		// A catalog-only change is not a stock change.
		name := "renamed"
		if _, err := f.svc.UpdateProduct(ctx, ProductUpdate{ID: p.ID, Name: &name}); err != nil {
			t.Fatal(err)
		}

		// Unsubscribe p, subscribe q; change p, then q. q's level must be
		// the next thing: nothing more about p.
		if err := w.Unsubscribe([]string{p.ID}); err != nil {
			t.Fatal(err)
		}
		if err := w.Subscribe(ctx, []string{q.ID}); err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, q.ID, 5, 0)
		if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 1}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: q.ID, Delta: 1}); err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, q.ID, 6, 0)
		shortCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		if l, err := w.Next(shortCtx); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("after unsubscribe got %+v, %v", l, err)
		}

		w.Close()
		if _, err := w.Next(ctx); !errors.Is(err, ErrWatchClosed) {
			t.Fatalf("Next after Close: %v", err)
		}
		if err := w.Subscribe(ctx, []string{p.ID}); err == nil {
			t.Fatal("Subscribe after Close succeeded")
		}
	})
}

func TestWatchStockSlowConsumerIsCutOff(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{WatchBuffer: 4})
		startFeed(t, f)
		ctx := context.Background()
		p := f.create(t, "SLOW", 100)
		w := mustWatch(t, f.svc)
		defer w.Close()
		if err := w.Subscribe(ctx, []string{p.ID}); err != nil {
			t.Fatal(err)
		}
		// Without reading, 1 snapshot + 10 changes overflow a queue of 4.
		for range 10 {
			if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 1}); err != nil {
				t.Fatal(err)
			}
		}
		// Changes may still be in flight (Postgres NOTIFY): wait for the
		// cut before reading. Reading meanwhile could keep up with a feed
		// slowed by a loaded machine, and the queue would never overflow.
		kittest.WaitFor(t, 10*time.Second, "the watch cut off", func() bool { return w.closedErr() != nil })
		c, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		l, err := w.Next(c)
		if err == nil {
			t.Fatalf("a cut-off watch still delivered %+v", l)
		}
		if e := kittest.WantErr(t, err, errs.ResourceExhausted, "SLOW_CONSUMER"); e.HTTPStatus() != 429 {
			t.Fatalf("status %d", e.HTTPStatus())
		}
		// Other watchers are unaffected.
		w2 := mustWatch(t, f.svc)
		defer w2.Close()
		if err := w2.Subscribe(ctx, []string{p.ID}); err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w2, p.ID, 110, 0)
	})
}

func TestWatchStockValidation(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{})
	w := mustWatch(t, f.svc)
	err := w.Subscribe(context.Background(), []string{uuid.NewString(), "nope"})
	wantFields(t, err, "subscribe.product_ids[1]")
	// Unknown products are accepted and simply have no level yet.
	if err := w.Subscribe(context.Background(), []string{uuid.NewString()}); err != nil {
		t.Fatal(err)
	}
}

// TestWatchStockSubscriptionLimit: one watch follows at most
// MaxWatchedProducts products; ids it already follows do not count again.
func TestWatchStockSubscriptionLimit(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{MaxWatchedProducts: 3})
	ctx := context.Background()
	w := mustWatch(t, f.svc)
	a, b, c := uuid.NewString(), uuid.NewString(), uuid.NewString()
	if err := w.Subscribe(ctx, []string{a, b}); err != nil {
		t.Fatal(err)
	}
	err := w.Subscribe(ctx, []string{a, c, uuid.NewString()})
	if e := kittest.WantErr(t, err, errs.ResourceExhausted, "TOO_MANY_SUBSCRIPTIONS"); e.Meta["limit"] != int64(3) {
		t.Fatalf("meta %v", e.Meta)
	}
	// Nothing of the refused request was added: room for exactly one more.
	if err := w.Subscribe(ctx, []string{a, b, c}); err != nil {
		t.Fatal(err)
	}
	if err := w.Unsubscribe([]string{a}); err != nil {
		t.Fatal(err)
	}
	if err := w.Subscribe(ctx, []string{uuid.NewString()}); err != nil {
		t.Fatalf("after unsubscribe: %v", err)
	}
}

// TestWatchStockWatcherLimit: a process serves at most MaxWatchers watches;
// closing one (twice, even) frees exactly one place.
func TestWatchStockWatcherLimit(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{MaxWatchers: 2})
	ctx := context.Background()
	first := mustWatch(t, f.svc)
	mustWatch(t, f.svc)
	_, err := f.svc.WatchStock(ctx)
	if e := kittest.WantErr(t, err, errs.ResourceExhausted, "TOO_MANY_WATCHERS"); e.HTTPStatus() != 429 || !e.Expected {
		t.Fatalf("status %d, expected %v", e.HTTPStatus(), e.Expected)
	}
	first.Close()
	first.Close()
	mustWatch(t, f.svc)
	if _, err := f.svc.WatchStock(ctx); err == nil {
		t.Fatal("a second Close freed a second place")
	}
}

// TestWatchStockAcrossInstances: a change made through one instance reaches
// a watcher on another, through Postgres LISTEN/NOTIFY.
func TestWatchStockAcrossInstances(t *testing.T) {
	url := pgtest.URL(t)
	a := newFixture(t, openTestPostgres(t, url), Options{})
	b := newFixture(t, openTestPostgres(t, url), Options{})
	startFeed(t, b)
	ctx := context.Background()
	p := a.create(t, "XI", 10)
	w := mustWatch(t, b.svc)
	defer w.Close()
	if err := w.Subscribe(ctx, []string{p.ID}); err != nil {
		t.Fatal(err)
	}
	expectLevel(t, w, p.ID, 10, 0)
	for i := range 3 {
		if _, err := a.svc.ReserveInventory(ctx, reserveReq(item(p.ID, 1))); err != nil {
			t.Fatal(err)
		}
		expectLevel(t, w, p.ID, 10, int64(i+1))
	}
}

// TestWatchStockResync: after a (simulated) lost connection the broker
// re-reads watched products, and watchers get what they missed once.
func TestWatchStockResync(t *testing.T) {
	store := newMemoryStore()
	f := newFixture(t, store, Options{})
	ctx := context.Background()
	p := f.create(t, "RS", 10)
	w := mustWatch(t, f.svc)
	defer w.Close()
	if err := w.Subscribe(ctx, []string{p.ID}); err != nil {
		t.Fatal(err)
	}
	expectLevel(t, w, p.ID, 10, 0)
	// No feed runs, so this change is "lost" ...
	if _, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 2}); err != nil {
		t.Fatal(err)
	}
	// ... until a resync.
	f.impl.broker.Resync()
	expectLevel(t, w, p.ID, 12, 0)
	f.impl.broker.Resync() // nothing new: nothing delivered
	c, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if l, err := w.Next(c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("repeated level delivered: %+v, %v", l, err)
	}
}

// TestWatchStockResyncRunsOnTheWatchersContext: the re-read after a lost
// notification runs in the watcher's Next, on its context, and nowhere
// else: when the watcher stops waiting, the read stops, and no goroutine
// is left reading for nobody.
func TestWatchStockResyncRunsOnTheWatchersContext(t *testing.T) {
	kittest.CheckGoroutines(t)
	store := newGatedStore()
	f := newFixture(t, store, Options{})
	ctx := context.Background()
	p := f.create(t, "RSC", 10)
	w := mustWatch(t, f.svc)
	if err := w.Subscribe(ctx, []string{p.ID}); err != nil {
		t.Fatal(err)
	}
	expectLevel(t, w, p.ID, 10, 0)

	store.block.Store(true)
	f.impl.broker.Resync()
	if n := store.inside.Load(); n != 0 {
		t.Fatalf("Resync read the store itself (%d reads), not in the watcher's Next", n)
	}
	c, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if l, err := w.Next(c); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next = %+v, %v; want the deadline", l, err)
	}
	store.waitEntered(t) // the resync did read...
	if n := store.inside.Load(); n != 0 {
		t.Fatalf("%d resync read(s) still running after the watcher's context ended", n) // ...and stopped with Next
	}

	// Once the store answers again, a later resync delivers the change
	// the watcher missed.
	store.block.Store(false)
	if _, _, err := f.store.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 1}, testEpoch); err != nil {
		t.Fatal(err)
	}
	f.impl.broker.Resync()
	expectLevel(t, w, p.ID, 11, 0)
}
