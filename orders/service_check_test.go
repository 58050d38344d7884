package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/kit/tlsx"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
)

// The checker's tests run it over orders' memory store and fakes of the
// products and payments lookups, which answer as the real services do
// (reasons included); TestCheckCommand runs the subcommand over Postgres
// and gRPC.

var (
	ckNow = time.Date(2031, 3, 4, 12, 0, 0, 0, time.UTC)
	// ckOld is long past the grace period; ckRecent within it.
	ckOld    = ckNow.Add(-time.Hour)
	ckRecent = ckNow.Add(-time.Minute)
)

const ckTotal = 1500 // every test order: 3 x 500 USD

// ckProducts fakes products' GetReservation.
type ckProducts struct {
	mu  sync.Mutex
	res map[string]*productsv1.Reservation
	// err, when set, answers every call.
	err error
	// gate, when set, holds every call until it is closed or the call's
	// context ends.
	gate                  chan struct{}
	inFlight, maxInFlight int
}

func (f *ckProducts) GetReservation(ctx context.Context, req *productsv1.GetReservationRequest) (*productsv1.Reservation, error) {
	f.mu.Lock()
	f.inFlight++
	f.maxInFlight = max(f.maxInFlight, f.inFlight)
	gate, fail := f.gate, f.err
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	if gate != nil {
		select {
		case <-gate:
		case <-ctx.Done():
			return nil, errs.As(ctx.Err())
		}
	}
	if fail != nil {
		return nil, fail
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.res[req.GetReservationId()]
	if !ok {
		return nil, errs.New(errs.NotFound, productsclient.ReasonReservationNotFound, "reservation not found")
	}
	return proto.CloneOf(r), nil
}

func (f *ckProducts) running() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.inFlight
}

// ckPayments fakes payments' GetChargeByKey and ListPayments.
type ckPayments struct {
	mu   sync.Mutex
	byID map[string]*paymentsv1.Payment
	keys map[string]string // charge key -> payment id
	// stale is what a listing of every payment shows instead of the
	// payment as it is: a page read before a saga moved on.
	stale map[string]*paymentsv1.Payment
	err   error
}

func (f *ckPayments) GetChargeByKey(_ context.Context, req *paymentsv1.GetChargeByKeyRequest) (*paymentsv1.Payment, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	id, ok := f.keys[req.GetIdempotencyKey()]
	if !ok {
		return nil, errs.New(errs.NotFound, paymentsclient.ReasonChargeNotFound, "no charge under this key")
	}
	return proto.CloneOf(f.byID[id]), nil
}

// ListPayments pages by offset (the token), in (created_at, id) order.
func (f *ckPayments) ListPayments(_ context.Context, req *paymentsv1.ListPaymentsRequest) (*paymentsv1.ListPaymentsResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err != nil {
		return nil, f.err
	}
	var all []*paymentsv1.Payment
	for id, p := range f.byID {
		if req.GetOrderId() != "" && p.GetOrderId() != req.GetOrderId() {
			continue
		}
		if s, ok := f.stale[id]; ok && req.GetOrderId() == "" {
			p = s
		}
		all = append(all, proto.CloneOf(p))
	}
	slices.SortFunc(all, func(a, b *paymentsv1.Payment) int {
		return cmp.Or(a.GetCreatedAt().AsTime().Compare(b.GetCreatedAt().AsTime()), cmp.Compare(a.GetId(), b.GetId()))
	})
	from, _ := strconv.Atoi(req.GetPageToken())
	size := int(req.GetPageSize())
	if size <= 0 || size > 100 {
		return nil, errs.New(errs.InvalidArgument, errs.ReasonValidation, "the checker asks for full pages")
	}
	to := min(from+size, len(all))
	out := &paymentsv1.ListPaymentsResponse{Payments: all[from:to]}
	if to < len(all) {
		out.NextPageToken = strconv.Itoa(to)
	}
	return out, nil
}

// ckWorld is the state the checker reads: orders in the memory store,
// reservations and payments in the fakes.
type ckWorld struct {
	t        *testing.T
	store    Store
	products *ckProducts
	payments *ckPayments
}

func newCkWorld(t *testing.T) *ckWorld {
	return newCkWorldOn(t, newMemoryStore())
}

func newCkWorldOn(t *testing.T, store Store) *ckWorld {
	return &ckWorld{t: t, store: store,
		products: &ckProducts{res: map[string]*productsv1.Reservation{}},
		payments: &ckPayments{byID: map[string]*paymentsv1.Payment{}, keys: map[string]string{}, stale: map[string]*paymentsv1.Payment{}},
	}
}

func (w *ckWorld) checker() Checker {
	return Checker{Store: w.store, Products: w.products, Payments: w.payments, Now: func() time.Time { return ckNow }}
}

func (w *ckWorld) run() Report {
	w.t.Helper()
	rep, err := w.checker().Run(context.Background())
	if err != nil {
		w.t.Fatalf("Run: %v", err)
	}
	return rep
}

// order stores an order placed at, moved to status at changed (as its
// saga's transitions do), recording paymentID.
func (w *ckWorld) order(status Status, at, changed time.Time, paymentID, reason string) Order {
	w.t.Helper()
	ctx := context.Background()
	id := uuid.NewString()
	o := Order{ID: id, UserID: uuid.NewString(), Status: StatusPending,
		Items:      []Item{{ProductID: uuid.NewString(), SKU: "MUG-1", Name: "Mug", Quantity: 3, UnitPriceCents: 500, LineTotalCents: ckTotal}},
		TotalCents: ckTotal, Currency: "USD", ShippingAddress: Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
		CreatedAt: at, UpdatedAt: at}
	st := saga.State{ID: id, Definition: "checkout.v1", Status: saga.Running, CreatedAt: at, UpdatedAt: at}
	if _, _, err := w.store.CreateOrder(ctx, o, st, nil); err != nil {
		w.t.Fatalf("CreateOrder: %v", err)
	}
	if status != StatusPending || paymentID != "" {
		change := &OrderChange{OrderID: id, PaymentID: paymentID, FailureReason: reason, Now: changed}
		if status != StatusPending {
			change.Status = status
		}
		if err := w.store.SaveSaga(ctx, &st, change); err != nil {
			w.t.Fatalf("SaveSaga: %v", err)
		}
	}
	got, err := w.store.Order(ctx, id)
	if err != nil {
		w.t.Fatal(err)
	}
	return got
}

// payment records a payment of orderID under the order's charge key
// (charge false: another key), updated at.
func (w *ckWorld) payment(orderID string, status paymentsv1.PaymentStatus, amount, refunded int64, updated time.Time, charge bool) *paymentsv1.Payment {
	w.payments.mu.Lock()
	defer w.payments.mu.Unlock()
	p := &paymentsv1.Payment{Id: uuid.NewString(), OrderId: orderID, UserId: uuid.NewString(), AmountCents: amount,
		Currency: "USD", Status: status, CardBrand: "visa", CardLast4: "4242", RefundedCents: refunded,
		CreatedAt: timestamppb.New(ckOld.Add(-time.Minute)), UpdatedAt: timestamppb.New(updated)}
	w.payments.byID[p.Id] = p
	key := orderChargeKey(orderID)
	if !charge {
		key = "elsewhere/" + p.Id
	}
	w.payments.keys[key] = p.Id
	return p
}

func (w *ckWorld) reservation(orderID string, status productsv1.ReservationStatus) {
	w.products.mu.Lock()
	defer w.products.mu.Unlock()
	w.products.res[orderID] = &productsv1.Reservation{Id: orderID, Status: status,
		Items:     []*productsv1.ReservationItem{{ProductId: uuid.NewString(), Quantity: 3, UnitPriceCents: 500, Currency: "USD"}},
		ExpiresAt: timestamppb.New(ckOld.Add(15 * time.Minute)), CreatedAt: timestamppb.New(ckOld), UpdatedAt: timestamppb.New(ckOld)}
}

// sold is a consistent CONFIRMED or SHIPPED order: charged exactly its
// total, its stock committed.
func (w *ckWorld) sold(status Status) Order {
	w.t.Helper()
	o := w.order(StatusPending, ckOld, ckOld, "", "")
	p := w.payment(o.ID, captured, ckTotal, 0, ckOld, true)
	w.reservation(o.ID, committed)
	return w.move(o, status, p.GetId())
}

// move changes o's status as a saga would.
func (w *ckWorld) move(o Order, status Status, paymentID string) Order {
	w.t.Helper()
	ctx := context.Background()
	st, err := w.store.LoadSaga(ctx, o.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := w.store.SaveSaga(ctx, &st, &OrderChange{OrderID: o.ID, Status: status, PaymentID: paymentID, Now: ckOld}); err != nil {
		w.t.Fatal(err)
	}
	got, err := w.store.Order(ctx, o.ID)
	if err != nil {
		w.t.Fatal(err)
	}
	return got
}

const (
	captured  = paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED
	refunded  = paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED
	declined  = paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED
	failedPay = paymentsv1.PaymentStatus_PAYMENT_STATUS_FAILED
	pending   = paymentsv1.PaymentStatus_PAYMENT_STATUS_PENDING
	reserved  = productsv1.ReservationStatus_RESERVATION_STATUS_RESERVED
	committed = productsv1.ReservationStatus_RESERVATION_STATUS_COMMITTED
	released  = productsv1.ReservationStatus_RESERVATION_STATUS_RELEASED
	expired   = productsv1.ReservationStatus_RESERVATION_STATUS_EXPIRED
)

// TestCheckConsistentWorld: every state a correct platform leaves, and
// every state a saga in flight passes through, reports nothing; the
// walks page through more than one page of each.
func TestCheckConsistentWorld(t *testing.T) {
	w := newCkWorld(t)
	const many = 230 // three pages of orders and of payments
	for i := range many {
		w.sold([]Status{StatusConfirmed, StatusShipped}[i%2])
	}
	// Declined at checkout: the DECLINED payment, the stock released.
	o := w.order(StatusCancelled, ckOld, ckOld, "", "PAYMENT_DECLINED")
	w.payment(o.ID, declined, ckTotal, 0, ckOld, true)
	w.reservation(o.ID, released)
	// The transient card: FAILED, then compensated.
	o = w.order(StatusCancelled, ckOld, ckOld, "", "PAYMENT_FAILED")
	w.payment(o.ID, failedPay, ckTotal, 0, ckOld, true)
	w.reservation(o.ID, released)
	// Out of stock: nothing reserved, nothing charged.
	w.order(StatusCancelled, ckOld, ckOld, "", "INSUFFICIENT_STOCK")
	// Expired before commit: refunded, the reaper took the stock back.
	o = w.order(StatusCancelled, ckOld, ckOld, "", "RESERVATION_EXPIRED")
	w.payment(o.ID, refunded, ckTotal, ckTotal, ckOld, true)
	w.reservation(o.ID, expired)
	// Cancelled by the customer: refunded, sold stock restocked (the
	// reservation stays COMMITTED).
	o = w.sold(StatusConfirmed)
	w.move(o, StatusCancelled, "")
	w.payments.mu.Lock()
	p := w.payments.byID[w.payments.keys[orderChargeKey(o.ID)]]
	p.Status, p.RefundedCents = refunded, ckTotal
	w.payments.mu.Unlock()

	// In flight: a young PENDING order holding stock and already charged;
	// another whose charge is still PENDING; a cancellation that refunded
	// a minute ago and has not cancelled the order yet.
	o = w.order(StatusPending, ckRecent, ckRecent, "", "")
	w.reservation(o.ID, reserved)
	w.payment(o.ID, captured, ckTotal, 0, ckRecent, true)
	o = w.order(StatusPending, ckRecent, ckRecent, "", "")
	w.reservation(o.ID, reserved)
	w.payment(o.ID, pending, ckTotal, 0, ckRecent, true)
	o = w.sold(StatusConfirmed)
	w.payments.mu.Lock()
	p = w.payments.byID[w.payments.keys[orderChargeKey(o.ID)]]
	p.Status, p.RefundedCents, p.UpdatedAt = refunded, ckTotal, timestamppb.New(ckRecent)
	w.payments.mu.Unlock()

	rep := w.run()
	if len(rep.Discrepancies) != 0 {
		t.Fatalf("discrepancies in a consistent world: %+v", rep.Discrepancies)
	}
	wantOrders, wantPayments := many+8, many+7
	// Skipped: two young PENDING orders, their captured and pending
	// payments, the CONFIRMED order refunded a minute ago.
	if rep.OrdersChecked != wantOrders || rep.PaymentsChecked != wantPayments || rep.InFlight != 5 {
		t.Fatalf("report %+v, want %d orders, %d payments, 5 in flight", rep, wantOrders, wantPayments)
	}
}

// TestCheckFindsEachDiscrepancy: each kind of disagreement, planted in a
// world that is otherwise consistent, is reported once, naming the order
// (and the payment) it is about.
func TestCheckFindsEachDiscrepancy(t *testing.T) {
	for _, tc := range []struct {
		kind DiscrepancyKind
		// plant breaks the world and returns the order and payment ids
		// the finding must name.
		plant func(w *ckWorld) (orderID, paymentID string)
	}{
		{KindRequiresAttention, func(w *ckWorld) (string, string) {
			o := w.order(StatusRequiresAttention, ckOld, ckOld, "", "PAYMENT_FAILED")
			w.reservation(o.ID, released)
			return o.ID, ""
		}},
		{KindStuckPending, func(w *ckWorld) (string, string) {
			return w.order(StatusPending, ckOld, ckOld, "", "").ID, ""
		}},
		{KindPaymentMissing, func(w *ckWorld) (string, string) {
			o := w.order(StatusConfirmed, ckOld, ckOld, uuid.NewString(), "")
			w.reservation(o.ID, committed)
			return o.ID, o.PaymentID
		}},
		{KindPaymentNotCaptured, func(w *ckWorld) (string, string) {
			o := w.order(StatusPending, ckOld, ckOld, "", "")
			p := w.payment(o.ID, refunded, ckTotal, ckTotal, ckOld, true)
			w.reservation(o.ID, committed)
			w.move(o, StatusShipped, p.GetId())
			return o.ID, p.GetId()
		}},
		{KindPaymentMismatch, func(w *ckWorld) (string, string) {
			o := w.order(StatusPending, ckOld, ckOld, "", "")
			p := w.payment(o.ID, captured, ckTotal-100, 0, ckOld, true)
			w.reservation(o.ID, committed)
			w.move(o, StatusConfirmed, p.GetId())
			return o.ID, p.GetId()
		}},
		{KindPaymentMismatch, func(w *ckWorld) (string, string) { // partly refunded
			o := w.order(StatusPending, ckOld, ckOld, "", "")
			p := w.payment(o.ID, captured, ckTotal, 1, ckOld, true)
			w.reservation(o.ID, committed)
			w.move(o, StatusConfirmed, p.GetId())
			return o.ID, p.GetId()
		}},
		{KindPaymentMismatch, func(w *ckWorld) (string, string) { // the order records no payment
			o := w.order(StatusPending, ckOld, ckOld, "", "")
			p := w.payment(o.ID, captured, ckTotal, 0, ckOld, true)
			w.reservation(o.ID, committed)
			w.move(o, StatusConfirmed, "")
			return o.ID, p.GetId()
		}},
		{KindReservationNotCommitted, func(w *ckWorld) (string, string) {
			o := w.sold(StatusConfirmed)
			w.reservation(o.ID, expired)
			return o.ID, ""
		}},
		{KindReservationNotCommitted, func(w *ckWorld) (string, string) { // never reserved
			o := w.sold(StatusShipped)
			delete(w.products.res, o.ID)
			return o.ID, ""
		}},
		{KindReservationHeld, func(w *ckWorld) (string, string) {
			o := w.order(StatusCancelled, ckOld, ckOld, "", "PAYMENT_DECLINED")
			w.reservation(o.ID, reserved)
			return o.ID, ""
		}},
		{KindReservationHeld, func(w *ckWorld) (string, string) { // sold, and held too
			o := w.sold(StatusConfirmed)
			w.reservation(o.ID, reserved)
			return o.ID, ""
		}},
		{KindCaptureWithoutConfirmedOrder, func(w *ckWorld) (string, string) {
			o := w.order(StatusCancelled, ckOld, ckOld, "", "RESERVATION_EXPIRED")
			w.reservation(o.ID, expired)
			return o.ID, w.payment(o.ID, captured, ckTotal, 0, ckOld, true).GetId()
		}},
		{KindPaymentWithoutOrder, func(w *ckWorld) (string, string) {
			id := uuid.NewString()
			return id, w.payment(id, refunded, ckTotal, ckTotal, ckOld, true).GetId()
		}},
		{KindDuplicateCapture, func(w *ckWorld) (string, string) {
			o := w.sold(StatusConfirmed)
			return o.ID, w.payment(o.ID, captured, ckTotal, 0, ckOld, false).GetId()
		}},
		{KindPaymentPending, func(w *ckWorld) (string, string) {
			o := w.order(StatusCancelled, ckOld, ckOld, "", "PAYMENT_FAILED")
			return o.ID, w.payment(o.ID, pending, ckTotal, 0, ckOld, true).GetId()
		}},
	} {
		t.Run(string(tc.kind), func(t *testing.T) {
			w := newCkWorld(t)
			w.sold(StatusConfirmed) // a consistent neighbour, which must not be reported
			orderID, paymentID := tc.plant(w)
			rep := w.run()
			want := []Discrepancy{{Kind: tc.kind, OrderID: orderID, PaymentID: paymentID}}
			got := slices.Clone(rep.Discrepancies)
			for i := range got {
				if got[i].Detail == "" {
					t.Errorf("%s has no detail", got[i].Kind)
				}
				got[i].Detail = ""
			}
			if !slices.Equal(got, want) {
				t.Fatalf("found %+v, want %+v", rep.Discrepancies, want)
			}
			t.Log(rep.Discrepancies[0].Detail)
		})
	}
}

// staleStore lists orders as they were before a saga moved them.
type staleStore struct {
	Store
	before map[string]Order
}

func (s staleStore) AllOrders(ctx context.Context, afterID string, limit int) ([]Order, error) {
	page, err := s.Store.AllOrders(ctx, afterID, limit)
	for i, o := range page {
		if old, ok := s.before[o.ID]; ok {
			page[i] = old
		}
	}
	return page, err
}

// TestCheckReadsSuspectsAgain: a page read just before a saga moved on
// looks wrong; the checker reads the order and its payment again before
// it reports, and reports only what still disagrees.
func TestCheckReadsSuspectsAgain(t *testing.T) {
	t.Run("order", func(t *testing.T) {
		// Listed CONFIRMED; cancelled (refunded long ago) by the time
		// its charge is looked at.
		w := newCkWorld(t)
		o := w.sold(StatusConfirmed)
		before := o
		w.move(o, StatusCancelled, "")
		w.payments.mu.Lock()
		p := w.payments.byID[o.PaymentID]
		p.Status, p.RefundedCents = refunded, ckTotal
		w.payments.mu.Unlock()
		w.store = staleStore{Store: w.store, before: map[string]Order{o.ID: before}}
		if rep := w.run(); len(rep.Discrepancies) != 0 {
			t.Fatalf("reported %+v", rep.Discrepancies)
		}
	})
	t.Run("payment", func(t *testing.T) {
		// Listed CAPTURED; refunded, and its order cancelled, by the time
		// the order is read.
		w := newCkWorld(t)
		o := w.sold(StatusConfirmed)
		w.move(o, StatusCancelled, "")
		w.payments.mu.Lock()
		p := w.payments.byID[o.PaymentID]
		w.payments.stale[p.Id] = proto.CloneOf(p)
		p.Status, p.RefundedCents = refunded, ckTotal
		w.payments.mu.Unlock()
		if rep := w.run(); len(rep.Discrepancies) != 0 {
			t.Fatalf("reported %+v", rep.Discrepancies)
		}
	})
}

// TestCheckStopsWhenALookupFails: a service that cannot answer (after its
// client's retries) stops the check with an error that says it is
// incomplete, never a report that passes for a clean one.
func TestCheckStopsWhenALookupFails(t *testing.T) {
	down := errs.New(errs.Unavailable, errs.ReasonUnavailable, "no instances")
	for name, breakIt := range map[string]func(w *ckWorld){
		"products": func(w *ckWorld) { w.products.err = down },
		"payments": func(w *ckWorld) { w.payments.err = down },
	} {
		t.Run(name, func(t *testing.T) {
			w := newCkWorld(t)
			for range 20 {
				w.sold(StatusConfirmed)
			}
			breakIt(w)
			_, err := w.checker().Run(context.Background())
			if !errors.Is(err, ErrCheckIncomplete) || errs.KindOf(err) != errs.Unavailable {
				t.Fatalf("Run: %v, want incomplete and Unavailable", err)
			}
		})
	}
	t.Run("store", func(t *testing.T) {
		w := newCkWorld(t)
		w.sold(StatusConfirmed)
		w.store = failingStore{w.store}
		if _, err := w.checker().Run(context.Background()); !errors.Is(err, ErrCheckIncomplete) || errs.KindOf(err) != errs.Unavailable {
			t.Fatalf("Run: %v", err)
		}
	})
}

type failingStore struct{ Store }

func (failingStore) AllOrders(context.Context, string, int) ([]Order, error) {
	return nil, errs.New(errs.Unavailable, errs.ReasonUnavailable, "database down")
}

// TestCheckBoundsEveryCall: a lookup that never answers ends at the
// call timeout, and the check with it.
func TestCheckBoundsEveryCall(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newCkWorld(t)
	for range 5 {
		w.order(StatusCancelled, ckOld, ckOld, "", "PAYMENT_DECLINED")
	}
	w.products.gate = make(chan struct{}) // never opened
	c := w.checker()
	c.CallTimeout = 50 * time.Millisecond
	start := time.Now()
	_, err := c.Run(context.Background())
	if !errors.Is(err, ErrCheckIncomplete) || errs.KindOf(err) != errs.DeadlineExceeded {
		t.Fatalf("Run: %v, want incomplete and DeadlineExceeded", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("took %v", took)
	}
}

// TestCheckBoundsConcurrency: no more lookups run at once than asked for.
func TestCheckBoundsConcurrency(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newCkWorld(t)
	for range 20 {
		w.order(StatusCancelled, ckOld, ckOld, "", "PAYMENT_DECLINED")
	}
	w.products.gate = make(chan struct{})
	c := w.checker()
	c.Concurrency = 3
	done := make(chan error, 1)
	go func() {
		_, err := c.Run(context.Background())
		done <- err
	}()
	kittest.WaitFor(t, 5*time.Second, "three lookups in flight", func() bool { return w.products.running() == 3 })
	close(w.products.gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if w.products.maxInFlight != 3 {
		t.Fatalf("%d lookups ran at once, want 3", w.products.maxInFlight)
	}
}

// TestCheckEndsWithItsContext: a cancelled check stops and says so.
func TestCheckEndsWithItsContext(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newCkWorld(t)
	for range 10 {
		w.order(StatusCancelled, ckOld, ckOld, "", "PAYMENT_DECLINED")
	}
	w.products.gate = make(chan struct{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := w.checker().Run(ctx)
		done <- err
	}()
	kittest.WaitFor(t, 5*time.Second, "a lookup in flight", func() bool { return w.products.running() > 0 })
	cancel()
	if err := <-done; !errors.Is(err, ErrCheckIncomplete) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Run: %v", err)
	}
}

// ckProductsServer and ckPaymentsServer serve the fakes over gRPC, with
// errors as the services send them (ErrorInfo reasons).
type ckProductsServer struct {
	productsv1.UnimplementedProductsServiceServer
	f *ckProducts
}

func (s ckProductsServer) GetReservation(ctx context.Context, r *productsv1.GetReservationRequest) (*productsv1.Reservation, error) {
	res, err := s.f.GetReservation(ctx, r)
	return res, errs.ToGRPC(err)
}

type ckPaymentsServer struct {
	paymentsv1.UnimplementedPaymentsServiceServer
	f *ckPayments
}

func (s ckPaymentsServer) GetChargeByKey(ctx context.Context, r *paymentsv1.GetChargeByKeyRequest) (*paymentsv1.Payment, error) {
	p, err := s.f.GetChargeByKey(ctx, r)
	return p, errs.ToGRPC(err)
}

func (s ckPaymentsServer) ListPayments(ctx context.Context, r *paymentsv1.ListPaymentsRequest) (*paymentsv1.ListPaymentsResponse, error) {
	resp, err := s.f.ListPayments(ctx, r)
	return resp, errs.ToGRPC(err)
}

// TestCheckCommand runs `orders check` as main runs it: the orders schema
// on a real Postgres, products and payments over gRPC through their
// client packages (at fixed addresses, as KITSHOP_<SERVICE>_ADDR gives
// them), and the exit classification: nil when all agrees,
// discrepanciesFound when something does not, anything else when the
// check could not be made.
func TestCheckCommand(t *testing.T) {
	for _, env := range []string{"DATABASE_URL", "KITSHOP_ORDERS_DATABASE_URL", "KITSHOP_ETCD_ENDPOINTS",
		"KITSHOP_TLS_CA", "KITSHOP_TLS_CERT", "KITSHOP_TLS_KEY", "KITSHOP_LOG_LEVEL"} {
		t.Setenv(env, "")
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	url := pgtest.URL(t)
	db, err := pg.OpenMigrated(ctx, url, "orders", migrationFiles)
	if err != nil {
		t.Fatal(err)
	}
	store := newPostgresStore(db)
	t.Cleanup(func() { _ = store.Close() })
	w := newCkWorldOn(t, store)
	w.sold(StatusConfirmed)
	t.Setenv("KITSHOP_PRODUCTS_ADDR", kittest.BareServer(t, tlsx.Files{}, func(s *grpc.Server) {
		productsv1.RegisterProductsServiceServer(s, ckProductsServer{f: w.products})
	}))
	paymentsAddr := kittest.BareServer(t, tlsx.Files{}, func(s *grpc.Server) {
		paymentsv1.RegisterPaymentsServiceServer(s, ckPaymentsServer{f: w.payments})
	})
	t.Setenv("KITSHOP_PAYMENTS_ADDR", paymentsAddr)
	check := func(args ...string) (string, string, error) {
		var stdout, stderr bytes.Buffer
		args = append([]string{"-database-url=" + url, "-etcd-endpoints=", "-call-timeout=2s"}, args...)
		err := checkCommand(ctx, args, &stdout, &stderr)
		return stdout.String(), stderr.String(), err
	}

	out, _, err := check()
	if err != nil || out != "checked 1 orders and 1 payments: 0 discrepancies, 0 skipped as in flight\n" {
		t.Fatalf("consistent: %q, %v", out, err)
	}

	ra := w.order(StatusRequiresAttention, ckOld, ckOld, "", "PAYMENT_FAILED")
	out, _, err = check()
	var found *discrepanciesFound
	if !errors.As(err, &found) || found.n != 1 {
		t.Fatalf("err = %v, want one discrepancy found", err)
	}
	if want := "ORDER_REQUIRES_ATTENTION order=" + ra.ID + " payment=- "; !strings.HasPrefix(out, want) ||
		!strings.HasSuffix(out, "\nchecked 2 orders and 1 payments: 1 discrepancies, 0 skipped as in flight\n") {
		t.Fatalf("output %q, want a line starting %q and the summary", out, want)
	}

	out, errOut, err := check("-json")
	if !errors.As(err, &found) {
		t.Fatalf("json: %v", err)
	}
	var doc struct {
		Report
		Complete bool `json:"complete"`
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("json output %q: %v", out, err)
	}
	if !doc.Complete || doc.OrdersChecked != 2 || len(doc.Discrepancies) != 1 || doc.Discrepancies[0].Kind != KindRequiresAttention ||
		doc.Discrepancies[0].OrderID != ra.ID || !strings.Contains(errOut, "1 discrepancies") {
		t.Fatalf("json report %+v, stderr %q", doc, errOut)
	}

	// Could not check: payments not answering, a schema never migrated,
	// no database at all, bad flags.
	t.Setenv("KITSHOP_PAYMENTS_ADDR", kittest.FreeAddr(t))
	out, _, err = check()
	if !errors.Is(err, ErrCheckIncomplete) || errors.As(err, &found) || !strings.Contains(out, "INCOMPLETE") {
		t.Fatalf("payments down: %q, %v", out, err)
	}
	t.Setenv("KITSHOP_PAYMENTS_ADDR", paymentsAddr)
	if _, _, err = check("-database-url=" + pgtest.URL(t)); !errors.Is(err, ErrCheckIncomplete) {
		t.Fatalf("unmigrated schema: %v", err)
	}
	if err := checkCommand(ctx, []string{"-etcd-endpoints="}, io.Discard, io.Discard); err == nil || !strings.Contains(err.Error(), "orders database") {
		t.Fatalf("memory store: %v", err)
	}
	if _, _, err := check("-grace=0"); err == nil || errors.As(err, &found) {
		t.Fatalf("-grace=0: %v", err)
	}
	if _, _, err := check("-h"); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-h: %v", err)
	}
}
