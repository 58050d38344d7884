package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/orders/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

func TestPlaceOrderConfirmsWithTheReservationsPrices(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		mug := w.products.add("mug", 1000, "USD", 10)
		tea := w.products.add("tea", 250, "USD", 10)
		// The price changes between the catalog check and the reservation:
		// the order is charged what products reserved at.
		w.peers.setHook(func(_ context.Context, m string, after bool) error {
			if m == "BatchGetProducts" && after {
				w.products.set(mug, func(p *fakeProduct) { p.price = 1200 })
			}
			return nil
		})

		placed, err := s.PlaceOrder(w.ctx(), order(cardOK, mug, 2, tea, 3))
		if err != nil {
			t.Fatal(err)
		}
		o := placed.Order
		if o.Status != StatusConfirmed || placed.Replayed {
			t.Fatalf("placed %+v, want CONFIRMED not replayed", placed)
		}
		want := []Item{
			{ProductID: mug, SKU: "SKU-mug", Name: "mug", Quantity: 2, UnitPriceCents: 1200, LineTotalCents: 2400},
			{ProductID: tea, SKU: "SKU-tea", Name: "tea", Quantity: 3, UnitPriceCents: 250, LineTotalCents: 750},
		}
		if fmt.Sprint(o.Items) != fmt.Sprint(want) || o.TotalCents != 3150 || o.Currency != "USD" || o.UserID != w.user {
			t.Errorf("order %+v, want items %+v total 3150 USD for %s", o, want, w.user)
		}
		p, ok := w.payments.payment(o.ID)
		if !ok || p.Status != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED || p.Amount != 3150 || o.PaymentID != p.ID {
			t.Errorf("payment %+v (order's %q), want 3150 captured", p, o.PaymentID)
		}
		if got := w.products.get(mug); got.stock != 8 || got.reserved != 0 {
			t.Errorf("mug stock %d reserved %d, want 8 and 0", got.stock, got.reserved)
		}
		if r, _ := w.products.reservation(o.ID); r.status != productsv1.ReservationStatus_RESERVATION_STATUS_COMMITTED || r.key != o.ID+"/reserve" {
			t.Errorf("reservation %+v, want committed under key %s/reserve", r, o.ID)
		}
		w.conserved(mug, tea)
		if stored := w.order(o.ID); fmt.Sprint(stored) != fmt.Sprint(o) {
			t.Errorf("answered %+v, stored %+v", o, stored)
		}
		if n := w.payments.captured(); n != 1 {
			t.Errorf("%d charges, want 1", n)
		}
		if got := testutil.ToFloat64(s.metrics.sagas.WithLabelValues(checkoutName, "succeeded")); got != 1 {
			t.Errorf("succeeded checkouts metric = %v", got)
		}
		if s.cards.len() != 0 {
			t.Errorf("%d cards still held after the charge", s.cards.len())
		}
	})
}

func TestPlaceOrderDeclinedIsCancelledWithStockReleased(t *testing.T) {
	for _, tc := range []struct {
		card   string
		want   *errs.Error
		reason string
	}{
		{cardDeclined, ErrPaymentDeclined, client.ReasonPaymentDeclined},
		{cardNoFunds, ErrInsufficientFunds, client.ReasonInsufficientFunds},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			eachStore(t, func(t *testing.T, w *world) {
				s := w.service("a")
				mug := w.products.add("mug", 1000, "USD", 5)
				_, err := s.PlaceOrder(w.ctx(), order(tc.card, mug, 2))
				o := failedOrder(t, err, tc.want)
				if st := errs.As(err).HTTPStatus(); st != http.StatusPaymentRequired {
					t.Errorf("status %d, want 402", st)
				}
				if o.Status != StatusCancelled || o.FailureReason != tc.reason {
					t.Errorf("order %s %s, want CANCELLED %s", o.Status, o.FailureReason, tc.reason)
				}
				if got := w.products.get(mug); got.stock != 5 || got.reserved != 0 {
					t.Errorf("stock %d reserved %d, want 5 and 0", got.stock, got.reserved)
				}
				p, ok := w.payments.payment(o.ID)
				if !ok || p.Status != paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED {
					t.Errorf("payment %+v, want a DECLINED one recorded", p)
				}
				// The cancelled order links the declined payment, as a
				// confirmed one links its capture.
				if o.PaymentID == "" || o.PaymentID != p.ID {
					t.Errorf("order's payment_id %q, want the declined payment %q", o.PaymentID, p.ID)
				}
				if stored, err := s.GetOrder(w.ctx(), o.ID); err != nil || stored.PaymentID != o.PaymentID {
					t.Errorf("stored order's payment_id %q (%v), want %q", stored.PaymentID, err, o.PaymentID)
				}
				if r, _ := w.products.reservation(o.ID); r.status != productsv1.ReservationStatus_RESERVATION_STATUS_RELEASED {
					t.Errorf("reservation %v, want released", r.status)
				}
				if w.peers.count("CommitReservation") != 0 || w.payments.captured() != 0 {
					t.Error("committed or charged after a decline")
				}
				if got := testutil.ToFloat64(s.metrics.sagas.WithLabelValues(checkoutName, "compensated")); got != 1 {
					t.Errorf("compensated checkouts metric = %v", got)
				}
			})
		})
	}
}

func TestPlaceOrderInsufficientStockChargesNothing(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		mug := w.products.add("mug", 1000, "USD", 5)
		tea := w.products.add("tea", 100, "USD", 1)
		_, err := s.PlaceOrder(w.ctx(), order(cardOK, mug, 2, tea, 3))
		o := failedOrder(t, err, ErrInsufficientStock)
		e := errs.As(err)
		if e.HTTPStatus() != http.StatusConflict || e.MetaString(client.MetaProductID) != tea || e.Meta[client.MetaAvailable] != int64(1) {
			t.Errorf("err %v (status %d, meta %v), want 409 naming tea with 1 available", err, e.HTTPStatus(), e.Meta)
		}
		if o.Status != StatusCancelled || o.FailureReason != client.ReasonInsufficientStock {
			t.Errorf("order %s %s", o.Status, o.FailureReason)
		}
		if n := w.peers.count("Charge"); n != 0 {
			t.Errorf("Charge called %d times after a stock-out", n)
		}
		w.conserved(mug, tea)
	})
}

func TestPlaceOrderTransientCardIsRetriedThenCompensated(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)
	_, err := s.PlaceOrder(w.ctx(), order(cardProcessing, mug, 1))
	o := failedOrder(t, err, ErrPaymentFailed)
	if o.Status != StatusCancelled || o.FailureReason != client.ReasonPaymentFailed {
		t.Errorf("order %s %s", o.Status, o.FailureReason)
	}
	if n := w.peers.count("Charge"); n != fast.Attempts {
		t.Errorf("Charge called %d times, want the %d attempts of the step", n, fast.Attempts)
	}
	if n := w.peers.count("Refund"); n < 1 {
		t.Error("the possibly-started charge was not compensated")
	}
	if w.payments.captured() != 0 {
		t.Error("charged")
	}
	w.conserved(mug)
}

func TestPlaceOrderUserDisabled(t *testing.T) {
	w := newWorld(t)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)
	w.users.disabled[w.user] = true
	_, err := s.PlaceOrder(w.ctx(), order(cardOK, mug, 1))
	o := failedOrder(t, err, errs.New(errs.PermissionDenied, "USER_DISABLED", ""))
	if o.Status != StatusCancelled || o.FailureReason != "USER_DISABLED" || w.peers.count("ReserveInventory") != 0 {
		t.Errorf("order %s %s, reserve calls %d", o.Status, o.FailureReason, w.peers.count("ReserveInventory"))
	}
}

func TestPlaceOrderAsyncReturnsPendingThenCompletes(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)
	release := make(chan struct{})
	w.peers.setHook(func(ctx context.Context, m string, after bool) error {
		if m == "ValidateUser" && !after {
			if err := heldUntil(ctx, release); err != nil { // the saga cannot finish before the answer
				return err
			}
		}
		return nil
	})
	req := order(cardOK, mug, 1)
	req.Async = true
	placed, err := s.PlaceOrder(w.ctx(), req)
	if err != nil || placed.Order.Status != StatusPending {
		t.Fatalf("async placement = %+v, %v; want PENDING", placed, err)
	}
	close(release)
	o := w.waitStatus(placed.Order.ID, StatusConfirmed)
	if o.PaymentID == "" || w.payments.captured() != 1 {
		t.Errorf("confirmed order %+v, %d charges", o, w.payments.captured())
	}
}

func TestPlaceOrderPendingWhenTheDeadlineComesFirst(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWorld(t)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)
	release := make(chan struct{})
	w.peers.setHook(func(ctx context.Context, m string, after bool) error {
		if m == "Charge" && !after {
			if err := heldUntil(ctx, release); err != nil {
				return err
			}
		}
		return nil
	})
	ctx, cancel := context.WithTimeout(asUser(w.user, "customer"), 300*time.Millisecond)
	defer cancel()
	placed, err := s.PlaceOrder(ctx, order(cardOK, mug, 1))
	if err != nil || placed.Order.Status != StatusPending {
		t.Fatalf("placement = %+v, %v; want PENDING", placed, err)
	}
	if ctx.Err() != nil {
		t.Error("answered after the caller's deadline")
	}
	close(release)
	w.waitStatus(placed.Order.ID, StatusConfirmed)
}

func TestPlaceOrderValidation(t *testing.T) {
	w := newWorld(t)
	s := w.service("a")
	mug := w.products.add("mug", 1000, "USD", 5)
	euro := w.products.add("euro", 1000, "EUR", 5)
	off := w.products.add("off", 1000, "USD", 5)
	w.products.set(off, func(p *fakeProduct) { p.active = false })
	many := order(cardOK)
	for range maxItems + 1 {
		many.Items = append(many.Items, LineItem{ProductID: uuid.NewString(), Quantity: 1})
	}
	for _, tc := range []struct {
		name   string
		req    PlaceOrderRequest
		fields []string
	}{
		{"no items", order(cardOK), []string{"items"}},
		{"too many items", many, []string{"items"}},
		{"bad id and quantities", order(cardOK, "nope", 1, mug, 0, uuid.NewString(), maxQuantity+1),
			[]string{"items[0].product_id", "items[1].quantity", "items[2].quantity"}},
		{"duplicate", order(cardOK, mug, 1, mug, 2), []string{"items[1].product_id"}},
		{"address", func() PlaceOrderRequest {
			r := order(cardOK, mug, 1)
			r.ShippingAddress = Address{Line1: "a\nb", Line2: strings.Repeat("x", 201), Country: "USA"}
			return r
		}(), []string{"shipping_address.line1", "shipping_address.line2", "shipping_address.city", "shipping_address.postal_code", "shipping_address.country"}},
		{"card", func() PlaceOrderRequest {
			r := order("4242424242424241", mug, 1)
			r.Card.ExpMonth, r.Card.CVC = 13, "1"
			return r
		}(), []string{"payment.number", "payment.exp_month", "payment.cvc"}},
		{"key", func() PlaceOrderRequest { r := order(cardOK, mug, 1); r.IdempotencyKey = "a b"; return r }(), []string{"idempotency_key"}},
		{"unknown product", order(cardOK, mug, 1, uuid.NewString(), 1), []string{"items[1].product_id"}},
		{"inactive", order(cardOK, off, 1), []string{"items[0].product_id"}},
		{"currencies", order(cardOK, mug, 1, euro, 1), []string{"items[1].product_id"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := s.PlaceOrder(w.ctx(), tc.req)
			e := kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)
			var got []string
			for _, f := range e.Fields {
				if !slices.Contains(got, f.Field) {
					got = append(got, f.Field)
				}
			}
			slices.Sort(got)
			slices.Sort(tc.fields)
			if fmt.Sprint(got) != fmt.Sprint(tc.fields) {
				t.Errorf("fields %v, want %v (%v)", got, tc.fields, e.Fields)
			}
		})
	}
	if n := w.peers.count("ReserveInventory"); n != 0 {
		t.Errorf("an invalid request reached the saga (%d reservations)", n)
	}
	if page, _ := s.ListOrders(w.ctx(), ListRequest{}); len(page.Orders) != 0 {
		t.Errorf("invalid requests created orders: %v", page.Orders)
	}
	// The reasons name what is wrong.
	_, err := s.PlaceOrder(w.ctx(), order(cardOK, off, 1))
	if e := errs.As(err); e.Fields[0].Message != "is not for sale" {
		t.Errorf("inactive: %q", e.Fields[0].Message)
	}
	_, err = s.PlaceOrder(w.ctx(), order(cardOK, uuid.NewString(), 1))
	if e := errs.As(err); e.Fields[0].Message != "unknown product" {
		t.Errorf("unknown: %q", e.Fields[0].Message)
	}
}

func TestPlaceOrderNeedsACaller(t *testing.T) {
	w := newWorld(t)
	s := w.service("a")
	_, err := s.PlaceOrder(context.Background(), order(cardOK, uuid.NewString(), 1))
	kittest.WantErr(t, err, errs.Unauthenticated, errs.ReasonUnauth)
}

func TestPlaceOrderPeerOutageBeforeTheOrder(t *testing.T) {
	w := newWorld(t)
	s := w.service("a")
	w.peers.setHook(func(_ context.Context, m string, after bool) error {
		if m == "BatchGetProducts" {
			return errs.New(errs.Unavailable, errs.ReasonUnavailable, "down")
		}
		return nil
	})
	_, err := s.PlaceOrder(w.ctx(), order(cardOK, uuid.NewString(), 1))
	if !errors.Is(err, errs.New(errs.Unavailable, errs.ReasonUnavailable, "")) {
		t.Fatalf("err %v, want the catalog's Unavailable", err)
	}
	if _, ok := OrderOf(err); ok {
		t.Error("an order was created without a catalog check")
	}
}

func TestTheCardIsNeverStored(t *testing.T) {
	eachStore(t, func(t *testing.T, w *world) {
		s := w.service("a")
		mug := w.products.add("mug", 1000, "USD", 5)
		for _, number := range []string{cardOK, cardDeclined} {
			req := order(number, mug, 1)
			req.IdempotencyKey = "key-" + number
			p, err := s.PlaceOrder(w.ctx(), req)
			id := p.Order.ID
			if o, ok := OrderOf(err); ok {
				id = o.ID
			}
			st, lerr := w.store.LoadSaga(context.Background(), id)
			if lerr != nil {
				t.Fatal(lerr)
			}
			rec, _, _ := w.store.LockIdempotent(context.Background(), w.user, req.IdempotencyKey, w.clock.Now(), w.clock.Now())
			for what, b := range map[string][]byte{"saga data": st.Data, "idempotent answer": rec.Response} {
				if strings.Contains(string(b), number) || strings.Contains(string(b), number[6:]) {
					t.Errorf("%s holds the card number: %s", what, b)
				}
			}
		}
		if s.cards.len() != 0 {
			t.Errorf("%d cards held after the charges ended", s.cards.len())
		}
	})
}

func TestFreeItemsAreNotCharged(t *testing.T) {
	w := newWorld(t)
	s := w.service("a")
	gift := w.products.add("gift", 0, "USD", 5)
	p, err := s.PlaceOrder(w.ctx(), order(cardOK, gift, 1))
	if err != nil || p.Order.Status != StatusConfirmed || p.Order.TotalCents != 0 || p.Order.PaymentID != "" {
		t.Fatalf("free order = %+v, %v", p, err)
	}
	if n := w.peers.count("Charge"); n != 0 {
		t.Errorf("Charge called %d times for nothing", n)
	}
	c, err := s.CancelOrder(w.ctx(), CancelRequest{ID: p.Order.ID})
	if err != nil || c.Order.Status != StatusCancelled {
		t.Errorf("cancel = %+v, %v", c, err)
	}
	w.conserved(gift)
}
