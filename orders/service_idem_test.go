package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/orders/client"
)

func TestIdempotentReplayIsIdentical(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		mug := w.products.add("mug", 1000, "USD", 5)
		req := order(cardOK, mug, 1)
		req.IdempotencyKey = "k1"
		first, err := s.PlaceOrder(w.ctx(), req)
		if err != nil || first.Replayed {
			t.Fatal(first, err)
		}
		// Even from another instance, and after the order moved on.
		other := w.service("b")
		if _, err := other.ShipOrder(w.admin(), first.Order.ID); err != nil {
			t.Fatal(err)
		}
		again, err := other.PlaceOrder(w.ctx(), req)
		if err != nil || !again.Replayed || !identical(again.Order, first.Order) {
			t.Fatalf("replay = %+v, %v; want %+v replayed", again, err, first.Order)
		}
		if w.payments.captured() != 1 || w.peers.count("ReserveInventory") != 1 {
			t.Error("the replay placed the order again")
		}
		// The key is the caller's: another user's same key is another order.
		someone := uuid.NewString()
		theirs, err := s.PlaceOrder(w.ctxOf(someone, "customer"), req)
		if err != nil || theirs.Replayed || theirs.Order.ID == first.Order.ID {
			t.Errorf("another user's key = %+v, %v", theirs, err)
		}
	})
}

func TestIdempotentReplayOfAFailure(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		mug := w.products.add("mug", 1000, "USD", 1)
		req := order(cardOK, mug, 2)
		req.IdempotencyKey = "k1"
		_, first := s.PlaceOrder(w.ctx(), req)
		w.products.set(mug, func(p *fakeProduct) { p.stock = 10 })
		_, again := s.PlaceOrder(w.ctx(), req)
		a, b := errs.As(first), errs.As(again)
		if !errors.Is(first, ErrInsufficientStock) || a.Kind != b.Kind || a.Reason != b.Reason || a.Message != b.Message ||
			a.HTTPStatus() != b.HTTPStatus() || fmt.Sprint(a.MetaValues()) != fmt.Sprint(b.MetaValues()) {
			t.Fatalf("first %v (%v), replay %v (%v)", first, a.MetaValues(), again, b.MetaValues())
		}
		oa, _ := OrderOf(first)
		ob, ok := OrderOf(again)
		if !ok || !identical(oa, ob) {
			t.Errorf("replayed order %+v, want %+v", ob, oa)
		}
		if n := w.peers.count("ReserveInventory"); n != 1 {
			t.Errorf("%d reservations: the replay ran again", n)
		}
	})
}

// TestIdempotentReplayOfAnOutageIsExpected: a checkout cancelled because a
// peer stayed unavailable answers Unavailable, but marked Expected, first
// and on replay: the answer is final, so the caller's breaker and retries
// must not take it for an outage of orders.
func TestIdempotentReplayOfAnOutageIsExpected(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		mug := w.products.add("mug", 1000, "USD", 5)
		w.peers.setHook(func(_ context.Context, m string, after bool) error {
			if m == "CommitReservation" && after {
				return errs.New(errs.Unavailable, errs.ReasonUnavailable, "answer lost")
			}
			return nil
		})
		req := order(cardOK, mug, 1)
		req.IdempotencyKey = "k1"
		_, first := s.PlaceOrder(w.ctx(), req)
		_, again := s.PlaceOrder(w.ctx(), req)
		for name, err := range map[string]error{"first": first, "replay": again} {
			e := errs.As(err)
			if e.Kind != errs.Unavailable || e.Reason != errs.ReasonUnavailable || errs.IsInfrastructure(err) {
				t.Errorf("%s answer %v (kind %s, expected %v), want an Expected %s", name, err, e.Kind, e.Expected, errs.ReasonUnavailable)
			}
		}
		if !isReplay(again) {
			t.Errorf("second answer %v is not marked replayed", again)
		}
	})
}

func TestIdempotencyKeyWithAnotherRequestIs422(t *testing.T) {
	w := newWorld(t)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)
	req := order(cardOK, mug, 1)
	req.IdempotencyKey = "k1"
	if _, err := s.PlaceOrder(w.ctx(), req); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(*PlaceOrderRequest){
		"quantity": func(r *PlaceOrderRequest) { r.Items[0].Quantity = 2 },
		"address":  func(r *PlaceOrderRequest) { r.ShippingAddress.City = "Shelbyville" },
		"card":     func(r *PlaceOrderRequest) { r.Card = testCard("5555555555554444") },
	} {
		other := order(cardOK, mug, 1)
		other.IdempotencyKey = "k1"
		change(&other)
		_, err := s.PlaceOrder(w.ctx(), other)
		e := kittest.WantErr(t, err, errs.FailedPrecondition, errs.ReasonIdempotencyKeyReused)
		if e.HTTPStatus() != 422 {
			t.Errorf("%s: status %d", name, e.HTTPStatus())
		}
	}
	// Async is how the answer comes, not what is asked: a replay.
	req.Async = true
	if p, err := s.PlaceOrder(w.ctx(), req); err != nil || !p.Replayed {
		t.Errorf("async repeat = %+v, %v", p, err)
	}
}

func TestIdempotencyKeyInFlightIs409(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)
	entered, release := make(chan struct{}), make(chan struct{})
	var once sync.Once
	w.peers.setHook(func(ctx context.Context, m string, after bool) error {
		if m == "ValidateUser" && !after {
			once.Do(func() { close(entered) })
			if err := heldUntil(ctx, release); err != nil {
				return err
			}
		}
		return nil
	})
	req := order(cardOK, mug, 1)
	req.IdempotencyKey = "k1"
	var first Placed
	var firstErr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		first, firstErr = s.PlaceOrder(w.ctx(), req)
	}()
	waitClosed(t, entered, "the first request's saga")
	_, err := s.PlaceOrder(w.ctx(), req)
	e := kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonIdempotencyInProgress)
	if e.HTTPStatus() != 409 {
		t.Errorf("status %d", e.HTTPStatus())
	}
	close(release)
	<-done
	if firstErr != nil || first.Order.Status != StatusConfirmed {
		t.Fatalf("first = %+v, %v", first, firstErr)
	}
}

func TestIdempotentRaceMakesOneOrderAndOneCharge(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		a, b := w.service("a"), w.service("b")
		mug := w.products.add("mug", 1000, "USD", 50)
		req := order(cardOK, mug, 1)
		req.IdempotencyKey = "race"
		const n = 20
		var wg sync.WaitGroup
		results := make([]Placed, n)
		errors := make([]error, n)
		start := make(chan struct{})
		for i := range n {
			s := a
			if i%2 == 1 {
				s = b
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				results[i], errors[i] = s.PlaceOrder(w.ctx(), req)
			}()
		}
		close(start)
		wg.Wait()
		ids := map[string]bool{}
		for i := range n {
			switch {
			case errors[i] == nil:
				ids[results[i].Order.ID] = true
			case errs.ReasonOf(errors[i]) != client.ReasonIdempotencyInProgress:
				t.Errorf("request %d: %v", i, errors[i])
			}
		}
		page, err := a.ListOrders(w.ctx(), ListRequest{})
		if err != nil || len(page.Orders) != 1 || len(ids) > 1 || (len(ids) == 1 && !ids[page.Orders[0].ID]) {
			t.Fatalf("orders %v (%v), answered ids %v", page.Orders, err, ids)
		}
		w.waitStatus(page.Orders[0].ID, StatusConfirmed)
		if c := w.payments.captured(); c != 1 {
			t.Errorf("%d charges, want 1", c)
		}
		if got := w.products.get(mug); got.stock != 49 {
			t.Errorf("stock %d, want 49", got.stock)
		}
	})
}

func TestPurgeJobForgetsExpiredKeys(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)
	req := order(cardOK, mug, 1)
	req.IdempotencyKey = "k1"
	if _, err := s.PlaceOrder(w.ctx(), req); err != nil {
		t.Fatal(err)
	}
	w.clock.Advance(defaultIdempotencyTTL + time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.purgeJob(ctx) }()
	kittest.WaitFor(t, 5*time.Second, "the key to be purged", func() bool {
		_, _, err := w.store.LockIdempotent(context.Background(), w.user, "k1", w.clock.Now(), w.clock.Now())
		return err != nil
	})
	cancel()
	if err := <-done; err != nil {
		t.Error(err)
	}
	// The key is free again: a new order.
	if p, err := s.PlaceOrder(w.ctx(), req); err != nil || p.Replayed {
		t.Errorf("after purge = %+v, %v", p, err)
	}
}
