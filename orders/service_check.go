package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/saga"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
)

// The consistency checker (`go run ./orders check`): it reconciles the
// orders database with what products and payments say, through their
// client packages (never their tables), and lists every disagreement an
// operator should look at.
//
// Two walks:
//   - every order (Store.AllOrders): a CONFIRMED or SHIPPED order has its
//     charge CAPTURED for exactly its total, and its reservation
//     COMMITTED; no final order's reservation still holds stock; orders
//     REQUIRES_ATTENTION, and PENDING ones older than the grace period,
//     are listed as they are;
//   - every payment (payments' ListPayments): money kept (CAPTURED) belongs
//     to a CONFIRMED or SHIPPED order, once; money returned (REFUNDED)
//     belongs to an order orders knows; no payment stays PENDING past the
//     grace period.
//
// Sagas run while the checker reads, so what it reads of two services is
// never one snapshot. Two rules keep it from reporting a saga in flight:
// anything younger than the grace period is skipped (counted as in
// flight), and a suspect finding is read again, the order first and the
// other service's record after it, and reported only if it stands. The
// order of those reads matters: the sagas change products and payments
// before the order (a refund before CANCELLED, a capture and a commit
// before CONFIRMED), so a record read after the order is never older
// than the order's state implies.

// CheckProducts is what the checker needs of products (products/client).
type CheckProducts interface {
	GetReservation(context.Context, *productsv1.GetReservationRequest) (*productsv1.Reservation, error)
}

// CheckPayments is what the checker needs of payments (payments/client).
type CheckPayments interface {
	GetChargeByKey(context.Context, *paymentsv1.GetChargeByKeyRequest) (*paymentsv1.Payment, error)
	ListPayments(context.Context, *paymentsv1.ListPaymentsRequest) (*paymentsv1.ListPaymentsResponse, error)
}

// DiscrepancyKind names what is wrong. The values are stable: scripts
// match on them (`orders check -json`).
type DiscrepancyKind string

const (
	// KindRequiresAttention: a compensation ran out of retries; an
	// operator must finish it by hand.
	KindRequiresAttention DiscrepancyKind = "ORDER_REQUIRES_ATTENTION"
	// KindStuckPending: a PENDING order older than the grace period; its
	// saga is not being driven.
	KindStuckPending DiscrepancyKind = "ORDER_STUCK_PENDING"
	// KindPaymentMissing: a CONFIRMED or SHIPPED order whose charge
	// payments never recorded.
	KindPaymentMissing DiscrepancyKind = "PAYMENT_MISSING"
	// KindPaymentNotCaptured: a CONFIRMED or SHIPPED order whose charge is
	// not CAPTURED (declined, failed, pending, refunded).
	KindPaymentNotCaptured DiscrepancyKind = "PAYMENT_NOT_CAPTURED"
	// KindPaymentMismatch: the captured charge differs from the order (in
	// amount or currency, partly refunded, or another payment id).
	KindPaymentMismatch DiscrepancyKind = "PAYMENT_MISMATCH"
	// KindReservationNotCommitted: a CONFIRMED or SHIPPED order whose
	// stock was never sold (no reservation, or released or expired).
	KindReservationNotCommitted DiscrepancyKind = "RESERVATION_NOT_COMMITTED"
	// KindReservationHeld: a final order whose reservation still holds
	// stock (RESERVED).
	KindReservationHeld DiscrepancyKind = "RESERVATION_HELD"
	// KindCaptureWithoutConfirmedOrder: money kept for an order that is
	// not CONFIRMED or SHIPPED.
	KindCaptureWithoutConfirmedOrder DiscrepancyKind = "CAPTURE_WITHOUT_CONFIRMED_ORDER"
	// KindPaymentWithoutOrder: a captured or refunded payment naming an
	// order that orders does not have.
	KindPaymentWithoutOrder DiscrepancyKind = "PAYMENT_WITHOUT_ORDER"
	// KindDuplicateCapture: a second captured payment for an order.
	KindDuplicateCapture DiscrepancyKind = "DUPLICATE_CAPTURE"
	// KindPaymentPending: a payment whose outcome nobody settled within
	// the grace period (payments' recovery job should have).
	KindPaymentPending DiscrepancyKind = "PAYMENT_PENDING"
)

// Discrepancy is one finding.
type Discrepancy struct {
	Kind      DiscrepancyKind `json:"kind"`
	OrderID   string          `json:"order_id"`
	PaymentID string          `json:"payment_id,omitempty"`
	Detail    string          `json:"detail"`
}

// Report is what a check found. Discrepancies are sorted by order id,
// then kind, then payment id, so two runs over the same state print the
// same lines.
type Report struct {
	OrdersChecked   int `json:"orders_checked"`
	PaymentsChecked int `json:"payments_checked"`
	// InFlight counts what was skipped because a saga may still be
	// working on it (younger than the grace period).
	InFlight      int           `json:"in_flight"`
	Discrepancies []Discrepancy `json:"discrepancies"`
}

// Checker defaults.
const (
	DefaultCheckGrace       = 15 * time.Minute
	DefaultCheckConcurrency = 8
	DefaultCheckCallTimeout = 10 * time.Second
	// checkPageSize is the largest page kit/page serves.
	checkPageSize = 100
)

// Checker checks the consistency of orders with products and payments.
// Store is only read. Zero fields take the defaults.
type Checker struct {
	Store    Store
	Products CheckProducts
	Payments CheckPayments
	// Grace is how long a saga may take: PENDING orders, PENDING
	// payments and refunds of CONFIRMED orders younger than this are in
	// flight, not discrepancies (DefaultCheckGrace).
	Grace time.Duration
	// Concurrency bounds the lookups in flight (DefaultCheckConcurrency).
	Concurrency int
	// CallTimeout bounds every call to the store or another service,
	// its retries included (DefaultCheckCallTimeout).
	CallTimeout time.Duration
	// Now is the clock (tests).
	Now func() time.Time
}

// ErrCheckIncomplete wraps the error that stopped a check: the report
// then holds only what was found before.
var ErrCheckIncomplete = errors.New("orders check: incomplete")

// Run walks every order, then every payment, and reports what disagrees.
// A lookup that fails (after the client's retries) stops the check: the
// report is then partial and the error wraps ErrCheckIncomplete, since a
// check that skipped what it could not read would pass for a clean one.
func (c Checker) Run(ctx context.Context) (Report, error) {
	c = c.withDefaults()
	r := &checkRun{Checker: c}
	err := r.walkOrders(ctx)
	if err == nil {
		err = r.walkPayments(ctx)
	}
	rep := r.report()
	if err != nil {
		return rep, fmt.Errorf("%w: %w", ErrCheckIncomplete, err)
	}
	return rep, nil
}

func (c Checker) withDefaults() Checker {
	if c.Grace <= 0 {
		c.Grace = DefaultCheckGrace
	}
	if c.Concurrency <= 0 {
		c.Concurrency = DefaultCheckConcurrency
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = DefaultCheckCallTimeout
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c
}

// checkRun is one run's state; its tallies are shared by the workers.
type checkRun struct {
	Checker
	mu    sync.Mutex
	rep   Report
	found []Discrepancy
}

func (r *checkRun) tally(orders, payments, inFlight int, found []Discrepancy) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.rep.OrdersChecked += orders
	r.rep.PaymentsChecked += payments
	r.rep.InFlight += inFlight
	r.found = append(r.found, found...)
}

func (r *checkRun) report() Report {
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := r.rep
	rep.Discrepancies = slices.Clone(r.found)
	if rep.Discrepancies == nil {
		rep.Discrepancies = []Discrepancy{}
	}
	slices.SortFunc(rep.Discrepancies, func(a, b Discrepancy) int {
		return cmp.Or(cmp.Compare(a.OrderID, b.OrderID), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.PaymentID, b.PaymentID))
	})
	return rep
}

// call bounds one call to the store or another service.
func (r *checkRun) call(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, r.CallTimeout)
}

// inGrace reports whether something that happened at t may still be part
// of a saga in flight.
func (r *checkRun) inGrace(t time.Time) bool { return r.Now().Sub(t) < r.Grace }

// verdict is what judging one order or payment gave.
type verdict struct {
	found    []Discrepancy
	inFlight bool
}

func (r *checkRun) walkOrders(ctx context.Context) error {
	after := ""
	for {
		cctx, cancel := r.call(ctx)
		page, err := r.Store.AllOrders(cctx, after, checkPageSize)
		cancel()
		if err != nil {
			return fmt.Errorf("listing orders after %q: %w", after, err)
		}
		if len(page) == 0 {
			return nil
		}
		err = checkEach(ctx, r.Concurrency, page, func(ctx context.Context, o Order) error {
			v, err := r.checkOrder(ctx, o)
			if err != nil {
				return fmt.Errorf("order %s: %w", o.ID, err)
			}
			r.tally(1, 0, flight(v), v.found)
			return nil
		})
		if err != nil || len(page) < checkPageSize {
			return err // a short page is the last
		}
		after = page[len(page)-1].ID
	}
}

// checkOrder judges o as listed and, when that finds something, judges
// the order again as it is now, with fresh lookups: a saga may have moved
// it since the page was read.
func (r *checkRun) checkOrder(ctx context.Context, o Order) (verdict, error) {
	v, err := r.judgeOrder(ctx, o)
	if err != nil || len(v.found) == 0 {
		return v, err
	}
	cctx, cancel := r.call(ctx)
	now, err := r.Store.Order(cctx, o.ID)
	cancel()
	if err != nil {
		return verdict{}, err
	}
	if now.Status == o.Status && now.UpdatedAt.Equal(o.UpdatedAt) {
		return v, nil
	}
	return r.judgeOrder(ctx, now)
}

func (r *checkRun) judgeOrder(ctx context.Context, o Order) (verdict, error) {
	var v verdict
	switch o.Status {
	case StatusPending:
		if r.inGrace(o.CreatedAt) {
			return verdict{inFlight: true}, nil
		}
		v.add(KindStuckPending, o.ID, "", "PENDING since %s, longer than the grace period: its saga is not being driven",
			o.CreatedAt.Format(time.RFC3339))
		return v, nil
	case StatusConfirmed, StatusShipped:
		if err := r.judgeCharge(ctx, o, &v); err != nil {
			return verdict{}, err
		}
	case StatusRequiresAttention:
		reason := o.FailureReason
		if reason == "" {
			reason = "no failure reason recorded"
		}
		v.add(KindRequiresAttention, o.ID, o.PaymentID, "a compensation ran out of retries (%s); resolve it by hand", reason)
	case StatusCancelled:
	default:
		return v, nil
	}
	return v, r.judgeReservation(ctx, o, &v)
}

// judgeCharge checks that the charge of o, CONFIRMED or SHIPPED, is
// captured for exactly what o costs.
func (r *checkRun) judgeCharge(ctx context.Context, o Order, v *verdict) error {
	key := orderChargeKey(o.ID)
	cctx, cancel := r.call(ctx)
	p, err := r.Payments.GetChargeByKey(cctx, &paymentsv1.GetChargeByKeyRequest{IdempotencyKey: key})
	cancel()
	switch {
	case errs.ReasonOf(err) == paymentsclient.ReasonChargeNotFound:
		v.add(KindPaymentMissing, o.ID, o.PaymentID, "order is %s but payments has no charge under key %s", o.Status, key)
		return nil
	case err != nil:
		return fmt.Errorf("looking up its charge: %w", err)
	}
	status := paymentStatusName(p.GetStatus())
	switch {
	case p.GetStatus() == paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED && o.Status == StatusConfirmed &&
		r.inGrace(p.GetUpdatedAt().AsTime()):
		// A cancellation refunds first and cancels the order last.
		v.inFlight = true
	case p.GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED:
		v.add(KindPaymentNotCaptured, o.ID, p.GetId(), "order is %s but its charge is %s", o.Status, status)
	default:
		var wrong []string
		if p.GetAmountCents() != o.TotalCents || p.GetCurrency() != o.Currency {
			wrong = append(wrong, fmt.Sprintf("captured %d %s, order total %d %s",
				p.GetAmountCents(), p.GetCurrency(), o.TotalCents, o.Currency))
		}
		if p.GetRefundedCents() > 0 {
			wrong = append(wrong, fmt.Sprintf("%d %s of it refunded", p.GetRefundedCents(), p.GetCurrency()))
		}
		if o.PaymentID != p.GetId() {
			if o.PaymentID == "" {
				wrong = append(wrong, "the order records no payment id")
			} else {
				wrong = append(wrong, "the order records payment "+o.PaymentID)
			}
		}
		if len(wrong) > 0 {
			v.add(KindPaymentMismatch, o.ID, p.GetId(), "%s", strings.Join(wrong, "; "))
		}
	}
	return nil
}

// judgeReservation checks o's reservation (its id is the order's): sold
// for a CONFIRMED or SHIPPED order, and holding nothing for any final one.
func (r *checkRun) judgeReservation(ctx context.Context, o Order, v *verdict) error {
	cctx, cancel := r.call(ctx)
	res, err := r.Products.GetReservation(cctx, &productsv1.GetReservationRequest{ReservationId: o.ID})
	cancel()
	missing := errs.ReasonOf(err) == productsclient.ReasonReservationNotFound
	if err != nil && !missing {
		return fmt.Errorf("looking up its reservation: %w", err)
	}
	sold := o.Status == StatusConfirmed || o.Status == StatusShipped
	switch st := res.GetStatus(); {
	case missing && sold:
		v.add(KindReservationNotCommitted, o.ID, "", "order is %s but products has no reservation for it", o.Status)
	case missing:
	case st == productsv1.ReservationStatus_RESERVATION_STATUS_RESERVED:
		v.add(KindReservationHeld, o.ID, "", "order is %s but its reservation still holds stock (RESERVED until %s)",
			o.Status, res.GetExpiresAt().AsTime().Format(time.RFC3339))
	case sold && st != productsv1.ReservationStatus_RESERVATION_STATUS_COMMITTED:
		v.add(KindReservationNotCommitted, o.ID, "", "order is %s but its reservation is %s",
			o.Status, strings.TrimPrefix(st.String(), "RESERVATION_STATUS_"))
	}
	return nil
}

func (r *checkRun) walkPayments(ctx context.Context) error {
	token := ""
	for {
		cctx, cancel := r.call(ctx)
		resp, err := r.Payments.ListPayments(cctx, &paymentsv1.ListPaymentsRequest{PageSize: checkPageSize, PageToken: token})
		cancel()
		if err != nil {
			return fmt.Errorf("listing payments: %w", err)
		}
		err = checkEach(ctx, r.Concurrency, resp.GetPayments(), func(ctx context.Context, p *paymentsv1.Payment) error {
			v, err := r.checkPayment(ctx, p)
			if err != nil {
				return fmt.Errorf("payment %s: %w", p.GetId(), err)
			}
			r.tally(0, 1, flight(v), v.found)
			return nil
		})
		if err != nil {
			return err
		}
		if token = resp.GetNextPageToken(); token == "" {
			return nil
		}
	}
}

// orderState is an order as the checker read it; found is false when
// orders has no such order.
type orderState struct {
	order Order
	found bool
}

// checkPayment judges p as listed and, when that finds something, reads
// the order and then the payment again and judges them as they are now.
func (r *checkRun) checkPayment(ctx context.Context, p *paymentsv1.Payment) (verdict, error) {
	v, err := r.judgePayment(ctx, p, nil)
	if err != nil || len(v.found) == 0 {
		return v, err
	}
	o, err := r.readOrder(ctx, p.GetOrderId())
	if err != nil {
		return verdict{}, err
	}
	now, err := r.paymentNow(ctx, p)
	if err != nil {
		return verdict{}, err
	}
	return r.judgePayment(ctx, now, &o)
}

// judgePayment judges p against its order: o when given, else read now.
func (r *checkRun) judgePayment(ctx context.Context, p *paymentsv1.Payment, o *orderState) (verdict, error) {
	var v verdict
	money := fmt.Sprintf("%d %s", p.GetAmountCents(), p.GetCurrency())
	switch p.GetStatus() {
	case paymentsv1.PaymentStatus_PAYMENT_STATUS_PENDING:
		if since := p.GetUpdatedAt().AsTime(); r.inGrace(since) {
			v.inFlight = true
		} else {
			v.add(KindPaymentPending, p.GetOrderId(), p.GetId(), "charge of %s PENDING since %s: its outcome was never settled",
				money, since.Format(time.RFC3339))
		}
		return v, nil
	case paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED, paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED:
	default:
		return v, nil // declined or failed: no money moved
	}
	if o == nil {
		read, err := r.readOrder(ctx, p.GetOrderId())
		if err != nil {
			return verdict{}, err
		}
		o = &read
	}
	captured := p.GetStatus() == paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED
	switch {
	case !o.found:
		v.add(KindPaymentWithoutOrder, p.GetOrderId(), p.GetId(), "%s payment of %s for an order orders does not have",
			paymentStatusName(p.GetStatus()), money)
	case !captured:
		// Refunded: right for a CANCELLED or REQUIRES_ATTENTION order; a
		// PENDING one is being compensated; for a CONFIRMED or SHIPPED
		// order the order walk reports its charge.
	case o.order.Status == StatusConfirmed || o.order.Status == StatusShipped:
		if o.order.PaymentID != "" && o.order.PaymentID != p.GetId() {
			v.add(KindDuplicateCapture, p.GetOrderId(), p.GetId(), "%s captured besides the order's payment %s",
				money, o.order.PaymentID)
		}
	case o.order.Status == StatusPending && r.inGrace(o.order.CreatedAt):
		v.inFlight = true
	default:
		kept := p.GetAmountCents() - p.GetRefundedCents()
		v.add(KindCaptureWithoutConfirmedOrder, p.GetOrderId(), p.GetId(), "%d %s kept (captured %s) but the order is %s",
			kept, p.GetCurrency(), money, o.order.Status)
	}
	return v, nil
}

func (r *checkRun) readOrder(ctx context.Context, id string) (orderState, error) {
	cctx, cancel := r.call(ctx)
	o, err := r.Store.Order(cctx, id)
	cancel()
	switch {
	case errors.Is(err, ErrNotFound):
		return orderState{}, nil
	case err != nil:
		return orderState{}, fmt.Errorf("reading order %s: %w", id, err)
	}
	return orderState{order: o, found: true}, nil
}

// paymentNow reads p again, through the list of its order's payments (an
// order has one or two). A payment that vanished (payments never delete
// one) is judged as it was listed.
func (r *checkRun) paymentNow(ctx context.Context, p *paymentsv1.Payment) (*paymentsv1.Payment, error) {
	req := &paymentsv1.ListPaymentsRequest{OrderId: p.GetOrderId(), PageSize: checkPageSize}
	for {
		cctx, cancel := r.call(ctx)
		resp, err := r.Payments.ListPayments(cctx, req)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("reading payment %s again: %w", p.GetId(), err)
		}
		for _, q := range resp.GetPayments() {
			if q.GetId() == p.GetId() {
				return q, nil
			}
		}
		if req.PageToken = resp.GetNextPageToken(); req.PageToken == "" {
			return p, nil
		}
	}
}

func (v *verdict) add(kind DiscrepancyKind, orderID, paymentID, format string, args ...any) {
	v.found = append(v.found, Discrepancy{Kind: kind, OrderID: orderID, PaymentID: paymentID, Detail: fmt.Sprintf(format, args...)})
}

func flight(v verdict) int {
	if v.inFlight && len(v.found) == 0 {
		return 1
	}
	return 0
}

// orderChargeKey is the idempotency key of o's charge: the checkout
// saga's charge step key (kit/saga derives "<sagaID>/<step>", and the
// checkout saga's id is the order id), which GetChargeByKey looks up.
// It must stay the key service_checkout.go charges with.
func orderChargeKey(orderID string) string { return saga.Key(orderID, "charge") }

func paymentStatusName(s paymentsv1.PaymentStatus) string {
	return strings.TrimPrefix(s.String(), "PAYMENT_STATUS_")
}

// checkEach runs fn over items with at most limit at once. The first
// error cancels the others and is returned (or ctx's, if it ended first).
func checkEach[T any](ctx context.Context, limit int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
feed:
	for _, it := range items {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			break feed
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := fn(ctx, it); err != nil {
				cancel(err)
			}
		}()
	}
	wg.Wait()
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	return nil
}
