package main

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/orders/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// confirmed places an order of 2 mugs (of 5) and returns it CONFIRMED.
func (w *world) confirmed(s *service) (Order, string) {
	w.t.Helper()
	mug := w.products.add("mug", 1000, "USD", 5)
	p, err := s.PlaceOrder(w.ctx(), order(cardOK, mug, 2))
	if err != nil || p.Order.Status != StatusConfirmed {
		w.t.Fatalf("placing: %+v, %v", p, err)
	}
	return p.Order, mug
}

func TestCancelRefundsAndRestocks(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		o, mug := w.confirmed(s)
		if got := w.products.get(mug); got.stock != 3 {
			t.Fatalf("stock %d after the order", got.stock)
		}
		c, err := s.CancelOrder(w.ctx(), CancelRequest{ID: o.ID, IdempotencyKey: "c1"})
		if err != nil || c.Pending || c.Replayed || c.Order.Status != StatusCancelled || c.Order.FailureReason != ReasonCancelledByCustomer {
			t.Fatalf("cancel = %+v, %v", c, err)
		}
		if p, _ := w.payments.payment(o.ID); p.Status != paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED || p.Refunded != 2000 {
			t.Errorf("payment %+v, want 2000 refunded", p)
		}
		if got := w.products.get(mug); got.stock != 5 || w.products.soldOf(mug) != 0 {
			t.Errorf("stock %d sold %d, want 5 and 0", got.stock, w.products.soldOf(mug))
		}
		// Repeating is not an error and refunds nothing more.
		again, err := s.CancelOrder(w.ctx(), CancelRequest{ID: o.ID, IdempotencyKey: "c1"})
		if err != nil || again.Order.Status != StatusCancelled || !again.Replayed {
			t.Errorf("repeat = %+v, %v", again, err)
		}
		if _, err := s.CancelOrder(w.ctx(), CancelRequest{ID: o.ID}); err != nil {
			t.Errorf("repeat without a key: %v", err)
		}
		if n, m := w.peers.count("Refund"), w.peers.count("RestockItems"); n != 1 || m != 1 {
			t.Errorf("Refund %d, RestockItems %d calls; want 1 each", n, m)
		}
		w.conserved(mug)
		// Cancelled is final: it cannot ship.
		_, err = s.ShipOrder(w.admin(), o.ID)
		if e := kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonInvalidOrderState); e.MetaString(client.MetaStatus) != "CANCELLED" {
			t.Errorf("meta %v", e.Meta)
		}
	})
}

func TestCancelRules(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	s := w.service("a")
	o, _ := w.confirmed(s)

	// Another customer: as if it did not exist. A malformed id: 400.
	_, err := s.CancelOrder(w.ctxOf(uuid.NewString(), "customer"), CancelRequest{ID: o.ID})
	kittest.WantErr(t, err, errs.NotFound, errs.ReasonNotFound)
	_, err = s.CancelOrder(w.ctx(), CancelRequest{ID: uuid.NewString()})
	kittest.WantErr(t, err, errs.NotFound, errs.ReasonNotFound)
	_, err = s.CancelOrder(w.ctx(), CancelRequest{ID: "x"})
	kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)

	// A PENDING order cannot be cancelled.
	mug := w.products.add("cup", 100, "USD", 5)
	release := make(chan struct{})
	w.peers.setHook(func(ctx context.Context, m string, after bool) error {
		if m == "ValidateUser" && !after {
			if err := heldUntil(ctx, release); err != nil {
				return err
			}
		}
		return nil
	})
	req := order(cardOK, mug, 1)
	req.Async = true
	pending, err := s.PlaceOrder(w.ctx(), req)
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.CancelOrder(w.ctx(), CancelRequest{ID: pending.Order.ID})
	e := kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonInvalidOrderState)
	if e.MetaString(client.MetaStatus) != "PENDING" || e.HTTPStatus() != 409 {
		t.Errorf("meta %v status %d", e.Meta, e.HTTPStatus())
	}
	if got, ok := OrderOf(err); !ok || got.ID != pending.Order.ID {
		t.Errorf("the error carries %+v", got)
	}
	close(release)
	w.waitStatus(pending.Order.ID, StatusConfirmed)

	// An admin may cancel anyone's order.
	if c, err := s.CancelOrder(w.admin(), CancelRequest{ID: o.ID}); err != nil || c.Order.Status != StatusCancelled {
		t.Errorf("admin cancel = %+v, %v", c, err)
	}
}

func TestCancelWaitsThenRunsInTheBackground(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	s := w.service("a")
	o, mug := w.confirmed(s)
	release := make(chan struct{})
	w.peers.setHook(func(ctx context.Context, m string, after bool) error {
		if m == "Refund" && !after {
			if err := heldUntil(ctx, release); err != nil {
				return err
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(asUser(w.user, "customer"), 300*time.Millisecond)
	defer cancel()
	c, err := s.CancelOrder(ctx, CancelRequest{ID: o.ID})
	if err != nil || !c.Pending || c.Order.Status != StatusConfirmed {
		t.Fatalf("cancel = %+v, %v; want pending, still CONFIRMED", c, err)
	}
	// Shipping is refused while the cancellation runs.
	_, err = s.ShipOrder(w.admin(), o.ID)
	kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonInvalidOrderState)
	close(release)
	w.waitStatus(o.ID, StatusCancelled)
	w.conserved(mug)
}

func TestCancelThatCannotRefundNeedsAttention(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	s := w.service("a")
	o, _ := w.confirmed(s)
	w.peers.setHook(failing("Refund", errs.New(errs.Unavailable, errs.ReasonUnavailable, "payments down")))
	_, err := s.CancelOrder(w.ctx(), CancelRequest{ID: o.ID})
	got := failedOrder(t, err, ErrRequiresAttention)
	if got.Status != StatusRequiresAttention || got.FailureReason != errs.ReasonUnavailable {
		t.Errorf("order %s %s", got.Status, got.FailureReason)
	}
	if n := w.peers.count("RestockItems"); n != 0 {
		t.Errorf("restocked %d times without a refund", n)
	}
}

func TestCancelCrashAfterRefundIsResumed(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		a := w.service("a")
		o, mug := w.confirmed(a)
		crash, crashed := crashAfter(a, "Refund")
		w.peers.setHook(crash)
		ctx, cancel := context.WithTimeout(asUser(w.user, "customer"), 500*time.Millisecond)
		defer cancel()
		if c, err := a.CancelOrder(ctx, CancelRequest{ID: o.ID}); err != nil || !c.Pending {
			t.Fatalf("cancel = %+v, %v", c, err)
		}
		waitClosed(t, crashed, "the crash")
		_ = a.Close()
		w.clock.Advance(defaultLeaseTTL + time.Second)
		b := w.service("b")
		if n, err := b.resumeRound(context.Background()); n != 1 || err != nil {
			t.Fatalf("resume = %d, %v", n, err)
		}
		w.waitStatus(o.ID, StatusCancelled)
		if p, _ := w.payments.payment(o.ID); p.Refunded != 2000 {
			t.Errorf("payment %+v", p)
		}
		if w.products.get(mug).stock != 5 {
			t.Errorf("stock %d", w.products.get(mug).stock)
		}
		w.conserved(mug)
	})
}

func TestShipOrder(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		o, _ := w.confirmed(s)
		_, err := s.ShipOrder(w.ctx(), o.ID)
		kittest.WantErr(t, err, errs.PermissionDenied, errs.ReasonForbidden)
		_, err = s.ShipOrder(context.Background(), o.ID)
		kittest.WantErr(t, err, errs.Unauthenticated, errs.ReasonUnauth)
		_, err = s.ShipOrder(w.admin(), uuid.NewString())
		kittest.WantErr(t, err, errs.NotFound, errs.ReasonNotFound)

		shipped, err := s.ShipOrder(w.admin(), o.ID)
		if err != nil || shipped.Status != StatusShipped {
			t.Fatalf("ship = %+v, %v", shipped, err)
		}
		_, err = s.ShipOrder(w.admin(), o.ID)
		if e := kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonInvalidOrderState); e.MetaString(client.MetaStatus) != "SHIPPED" {
			t.Errorf("meta %v", e.Meta)
		}
		_, err = s.CancelOrder(w.ctx(), CancelRequest{ID: o.ID})
		kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonInvalidOrderState)
		if n := w.peers.count("Refund"); n != 0 {
			t.Errorf("a shipped order was refunded (%d calls)", n)
		}
	})
}
