package main

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/saga"
)

// failingSaves is a Store whose saves of a confirmation fail while
// failures last, as a database restarting under the checkout does.
type failingSaves struct {
	Store
	mu       sync.Mutex
	failures int
}

func (f *failingSaves) SaveSaga(ctx context.Context, st *saga.State, change *OrderChange) error {
	f.mu.Lock()
	fail := change != nil && change.Status == StatusConfirmed && f.failures > 0
	if fail {
		f.failures--
	}
	f.mu.Unlock()
	if fail {
		return errs.New(errs.Unavailable, errs.ReasonUnavailable, "database unavailable")
	}
	return f.Store.SaveSaga(ctx, st, change)
}

// A drive the store failed is driven again at once by the instance that
// holds the saga's lease: the order is confirmed within the request,
// instead of after the lease expires and the resume loop (which the fake
// clock never runs here).
func TestStoreFailureMidSagaIsDrivenAgainAtOnce(t *testing.T) {
	kittest.CheckGoroutines(t)
	store := &failingSaves{Store: newMemoryStore(), failures: 2}
	w := newWorldOn(t, store)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)

	ctx, cancel := context.WithTimeout(w.ctx(), 10*time.Second)
	defer cancel()
	placed, err := s.PlaceOrder(ctx, order(cardOK, mug, 1))
	if err != nil {
		t.Fatal(err)
	}
	if placed.Order.Status != StatusConfirmed {
		t.Fatalf("order %s after two failed saves, want CONFIRMED within the request", placed.Order.Status)
	}
	if n := w.peers.count("Charge"); n != 1 {
		t.Errorf("Charge called %d times; driving again must not charge again", n)
	}
	w.conserved(mug)
}

// The store failing for longer than the retries gives the saga up to the
// resume loop, as before: the request ends PENDING, nothing is lost.
func TestStoreOutageLeavesTheSagaToTheResumeLoop(t *testing.T) {
	kittest.CheckGoroutines(t)
	store := &failingSaves{Store: newMemoryStore(), failures: storeRetries}
	w := newWorldOn(t, store)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)

	// Longer than the retries' back-off (about 1.5 s), so the request
	// sees them all end.
	ctx, cancel := context.WithTimeout(w.ctx(), 4*time.Second)
	defer cancel()
	placed, err := s.PlaceOrder(ctx, order(cardOK, mug, 1))
	if err != nil {
		t.Fatal(err)
	}
	if placed.Order.Status != StatusPending {
		t.Fatalf("order %s after an outage longer than the retries, want PENDING", placed.Order.Status)
	}
}
