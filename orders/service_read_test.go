package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/page"
)

func TestGetOrderOwnerOrAdmin(t *testing.T) {
	w := newWorld(t)
	s := w.service("a")
	o, _ := w.confirmed(s)
	for name, ctx := range map[string]context.Context{"owner": w.ctx(), "admin": w.admin()} {
		if got, err := s.GetOrder(ctx, o.ID); err != nil || !identical(got, o) {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	// Another customer cannot tell it from an order that does not exist.
	_, err := s.GetOrder(w.ctxOf(uuid.NewString(), "customer"), o.ID)
	theirs := kittest.WantErr(t, err, errs.NotFound, errs.ReasonNotFound)
	_, err = s.GetOrder(w.ctx(), uuid.NewString())
	none := kittest.WantErr(t, err, errs.NotFound, errs.ReasonNotFound)
	if theirs.Message != none.Message {
		t.Errorf("messages differ: %q vs %q", theirs.Message, none.Message)
	}
	_, err = s.GetOrder(w.ctx(), "not-an-id")
	kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)
	_, err = s.GetOrder(context.Background(), o.ID)
	kittest.WantErr(t, err, errs.Unauthenticated, errs.ReasonUnauth)
}

func TestListOrdersPagesNewestFirst(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		mug := w.products.add("mug", 100, "USD", 100)
		var ids []string
		for range 5 {
			p, err := s.PlaceOrder(w.ctx(), order(cardOK, mug, 1))
			if err != nil {
				t.Fatal(err)
			}
			ids = append([]string{p.Order.ID}, ids...)
			w.clock.Advance(time.Second)
		}
		// Someone else's order is not listed.
		if _, err := s.PlaceOrder(w.ctxOf(uuid.NewString(), "customer"), order(cardOK, mug, 1)); err != nil {
			t.Fatal(err)
		}
		var got []string
		token := ""
		for pages := 0; ; pages++ {
			if pages > 3 {
				t.Fatal("more pages than orders")
			}
			p, err := s.ListOrders(w.ctx(), ListRequest{PageSize: 2, PageToken: token})
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range p.Orders {
				got = append(got, o.ID)
			}
			if token = p.NextPageToken; token == "" {
				break
			}
			// A token is the user's: nobody else can page with it.
			_, err = s.ListOrders(w.ctxOf(uuid.NewString(), "customer"), ListRequest{PageToken: token})
			kittest.WantErr(t, err, errs.InvalidArgument, page.ReasonInvalidToken)
		}
		if len(got) != len(ids) {
			t.Fatalf("listed %v, want %v", got, ids)
		}
		for i := range ids {
			if got[i] != ids[i] {
				t.Fatalf("listed %v, want %v", got, ids)
			}
		}
		// Defaults and bounds.
		if p, err := s.ListOrders(w.ctx(), ListRequest{}); err != nil || len(p.Orders) != 5 || p.NextPageToken != "" {
			t.Errorf("default page: %d orders, token %q, %v", len(p.Orders), p.NextPageToken, err)
		}
		_, err := s.ListOrders(w.ctx(), ListRequest{PageSize: -1})
		kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)
		_, err = s.ListOrders(w.ctx(), ListRequest{PageToken: "garbage"})
		kittest.WantErr(t, err, errs.InvalidArgument, page.ReasonInvalidToken)
		if p, err := s.ListOrders(w.ctxOf(uuid.NewString(), "customer"), ListRequest{}); err != nil || p.Orders == nil || len(p.Orders) != 0 {
			t.Errorf("no orders: %#v, %v", p.Orders, err)
		}
	})
}

func TestMaxDrivingQueuesTheRest(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	s := w.service("a", func(o *Options) { o.MaxDriving = 1 })
	mug := w.products.add("mug", 100, "USD", 100)
	release := make(chan struct{})
	w.peers.setHook(func(ctx context.Context, m string, after bool) error {
		if m == "ValidateUser" && !after {
			if err := heldUntil(ctx, release); err != nil {
				return err
			}
		}
		return nil
	})
	var ids []string
	for range 3 {
		req := order(cardOK, mug, 1)
		req.Async = true
		p, err := s.PlaceOrder(w.ctx(), req)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.Order.ID)
	}
	s.runner.mu.Lock()
	queued := len(s.runner.backlog)
	s.runner.mu.Unlock()
	if queued != 2 {
		t.Errorf("%d sagas queued behind the one driven, want 2", queued)
	}
	kittest.WaitFor(t, 5*time.Second, "the first saga", func() bool { return w.peers.count("ValidateUser") == 1 })
	close(release)
	// The queued ones run as the slot frees, without waiting for their
	// lease to expire (the clock does not move here).
	for _, id := range ids {
		w.waitStatus(id, StatusConfirmed)
	}
}
