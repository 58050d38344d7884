package main

import (
	"context"
	"fmt"

	"google.golang.org/protobuf/types/known/durationpb"

	"github.com/kitshop/kitshop/kit/crashpoint"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/orders/client"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
)

// The checkout saga. Its id is the order id; its steps must never be
// renamed or reordered (a new definition name instead): sagas in flight
// are resumed by name and position.
const (
	checkoutName     = "checkout.v1"
	stepValidateUser = "validate_user"
	stepReserve      = "reserve"
	stepCharge       = "charge"
	stepCommit       = "commit"
)

// checkoutData is the checkout saga's shared document (saga.State.Data).
// It holds no card: the card lives in the cardVault only.
type checkoutData struct {
	UserID   string       `json:"user_id"`
	Items    []lineAmount `json:"items"`
	Currency string       `json:"currency"`
	// Priced is set when the prices and currency come from the
	// reservation (until then they are the catalog's, for the order's
	// provisional total).
	Priced    bool   `json:"priced,omitempty"`
	PaymentID string `json:"payment_id,omitempty"`
}

type lineAmount struct {
	ProductID      string `json:"product_id"`
	Quantity       int64  `json:"quantity"`
	UnitPriceCents int64  `json:"unit_price_cents"`
}

func (d checkoutData) total() int64 {
	var t int64
	for _, it := range d.Items {
		t += it.UnitPriceCents * it.Quantity
	}
	return t
}

// chargeKey is the idempotency key of an order's charge: the charge
// step's key, by which payments finds the charge (GetChargeByKey) and
// refunds it (Refund by charge key), from either saga.
func chargeKey(orderID string) string { return saga.Key(orderID, stepCharge) }

// errCardLost fails a charge that must be (re)sent by an instance that
// does not hold the card: the instance that accepted the order died
// before the charge, and cards are never stored. Nothing was charged
// (the charge step's Recover established it), so the order is
// compensated and CANCELLED with PAYMENT_FAILED.
var errCardLost = errs.New(errs.FailedPrecondition, client.ReasonPaymentFailed,
	"the card details were lost with the instance that accepted the order; nothing was charged")

func (s *service) checkoutDefinition() *saga.Definition {
	fwd, undo := s.opts.Retry, s.opts.CompensateRetry
	return &saga.Definition{Name: checkoutName, Patience: s.opts.Patience, Steps: []saga.Step{
		{Name: stepValidateUser, Do: crashingAfter(stepValidateUser, s.validateUser), Retry: fwd},
		{Name: stepReserve, Do: crashingAfter(stepReserve, s.reserve), Compensate: s.releaseReservation, Retry: fwd, CompensateRetry: undo},
		{Name: stepCharge, Do: crashingAfter(stepCharge, s.charge), Recover: s.recoverCharge, Compensate: s.refundCharge, Retry: fwd, CompensateRetry: undo},
		// Commit has no compensation of its own: units it may have sold
		// are returned by reserve's (release, else restock).
		{Name: stepCommit, Do: crashingAfter(stepCommit, s.commitReservation), Retry: fwd},
	}}
}

// crashingAfter is do, with the crash point "after:<step>" once its remote
// call succeeded and before the engine saves that: the window in which a
// crash loses a step's outcome. Only crash-test builds stop there (see
// kit/crashpoint).
func crashingAfter(step string, do func(context.Context, *saga.Call) error) func(context.Context, *saga.Call) error {
	return func(ctx context.Context, call *saga.Call) error {
		err := do(ctx, call)
		if err == nil {
			crashpoint.At("after:" + step)
		}
		return err
	}
}

// stepErr notes a step's error on its drive (so the answer can carry the
// error's metadata) and returns it for the engine to classify.
func (s *service) stepErr(call *saga.Call, err error) error {
	if err != nil {
		s.runner.note(call.SagaID, err)
	}
	return err
}

func decodeCheckout(call *saga.Call) (checkoutData, error) {
	var d checkoutData
	if err := call.Decode(&d); err != nil {
		return d, errs.Internalf(err, "checkout %s: decoding saga data", call.SagaID)
	}
	return d, nil
}

func (s *service) validateUser(ctx context.Context, call *saga.Call) error {
	d, err := decodeCheckout(call)
	if err != nil {
		return err
	}
	_, err = s.users.ValidateUser(ctx, &usersv1.ValidateUserRequest{UserId: d.UserID})
	return s.stepErr(call, err)
}

// reserve holds the items (the reservation's id is the order's, its key
// the step's) and takes the prices from the reservation.
func (s *service) reserve(ctx context.Context, call *saga.Call) error {
	d, err := decodeCheckout(call)
	if err != nil {
		return err
	}
	items := make([]*productsv1.ReservationItem, len(d.Items))
	for i, it := range d.Items {
		items[i] = &productsv1.ReservationItem{ProductId: it.ProductID, Quantity: it.Quantity}
	}
	res, err := s.products.ReserveInventory(ctx, &productsv1.ReserveInventoryRequest{
		ReservationId: call.SagaID, Items: items, Ttl: durationpb.New(s.opts.ReservationTTL), IdempotencyKey: call.Key,
	})
	if err != nil {
		return s.stepErr(call, err)
	}
	if err := priceFromReservation(&d, res); err != nil {
		return s.stepErr(call, err)
	}
	return call.Encode(d)
}

// priceFromReservation copies the reservation's unit prices into d. A
// reservation that does not price every item in one currency is a
// contract breach (Internal): the saga compensates rather than charge a
// sum it cannot justify.
func priceFromReservation(d *checkoutData, res *productsv1.Reservation) error {
	type price struct {
		cents    int64
		currency string
	}
	prices := make(map[string]price, len(res.GetItems()))
	for _, it := range res.GetItems() {
		prices[it.GetProductId()] = price{it.GetUnitPriceCents(), it.GetCurrency()}
	}
	currency := ""
	for i, it := range d.Items {
		p, ok := prices[it.ProductID]
		switch {
		case !ok:
			return errs.Internalf(fmt.Errorf("product %s missing", it.ProductID), "reservation %s", res.GetId())
		case p.cents < 0:
			return errs.Internalf(fmt.Errorf("product %s priced %d", it.ProductID, p.cents), "reservation %s", res.GetId())
		case currency != "" && p.currency != currency:
			return errs.Internalf(fmt.Errorf("currencies %s and %s", currency, p.currency), "reservation %s", res.GetId())
		}
		currency = p.currency
		d.Items[i].UnitPriceCents = p.cents
	}
	d.Currency, d.Priced = currency, true
	return nil
}

// releaseReservation undoes reserve by the key Reserve was sent with, so
// it also covers a Reserve that timed out, never arrived, or arrives
// later (it then holds nothing). Units already sold by a commit whose
// outcome was lost are returned through RestockItems, once per key.
func (s *service) releaseReservation(ctx context.Context, call *saga.Call) error {
	_, err := s.products.ReleaseReservation(ctx, &productsv1.ReleaseReservationRequest{
		ReservationIdempotencyKey: call.Key, IdempotencyKey: call.Key + "/release",
	})
	if errs.ReasonOf(err) != productsclient.ReasonReservationCommitted {
		return err
	}
	d, err := decodeCheckout(call)
	if err != nil {
		return err
	}
	_, err = s.products.RestockItems(ctx, &productsv1.RestockItemsRequest{
		IdempotencyKey: call.Key + "/restock", Items: restockItems(d.Items),
	})
	return err
}

func restockItems(items []lineAmount) []*productsv1.RestockItem {
	out := make([]*productsv1.RestockItem, len(items))
	for i, it := range items {
		out[i] = &productsv1.RestockItem{ProductId: it.ProductID, Quantity: it.Quantity}
	}
	return out
}

// charge sends the charge with the order's charge key and the card this
// instance holds for the order.
func (s *service) charge(ctx context.Context, call *saga.Call) error {
	d, err := decodeCheckout(call)
	if err != nil {
		return err
	}
	if !d.Priced {
		return errs.Internalf(fmt.Errorf("not priced"), "checkout %s: charge before reserve", call.SagaID)
	}
	total := d.total()
	if total == 0 {
		return nil // free items: there is nothing to charge (payments refuses 0)
	}
	c, ok := s.cards.get(call.SagaID)
	if !ok {
		return s.stepErr(call, errCardLost)
	}
	p, err := s.payments.Charge(ctx, &paymentsv1.ChargeRequest{
		OrderId: call.SagaID, UserId: d.UserID, AmountCents: total, Currency: d.Currency,
		Card: &commonv1.Card{Number: c.Number.Digits(), ExpMonth: int32(c.ExpMonth), ExpYear: int32(c.ExpYear), Cvc: c.CVC.Digits()},
		// The same as call.Key: named for what payments knows it by.
		IdempotencyKey: chargeKey(call.SagaID),
	})
	if err != nil {
		return s.stepErr(call, err)
	}
	if p.GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED {
		// Charge answers a payment only when captured; anything else is
		// not settled yet, and asked again with the same key.
		return s.stepErr(call, errs.Newf(errs.Unavailable, saga.ReasonOutcomeUnknown, "charge is %s", p.GetStatus()))
	}
	d.PaymentID = p.GetId()
	return call.Encode(d)
}

// recoverCharge settles a charge step whose outcome was lost by looking
// the charge up by its key (the decision rule): captured -> done,
// declined -> the decline, failed or never recorded -> charge again with
// the same key, pending -> ask again later.
func (s *service) recoverCharge(ctx context.Context, call *saga.Call) (saga.Outcome, error) {
	p, err := s.payments.GetChargeByKey(ctx, &paymentsv1.GetChargeByKeyRequest{IdempotencyKey: chargeKey(call.SagaID)})
	switch {
	case errs.ReasonOf(err) == paymentsclient.ReasonChargeNotFound:
		return saga.NotDone, nil
	case err != nil:
		return saga.Unknown, s.stepErr(call, err)
	}
	switch p.GetStatus() {
	case paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED:
		d, err := decodeCheckout(call)
		if err != nil {
			return saga.Unknown, err
		}
		d.PaymentID = p.GetId()
		return saga.Done, call.Encode(d)
	case paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED:
		return saga.Unknown, s.stepErr(call, declineError(p))
	case paymentsv1.PaymentStatus_PAYMENT_STATUS_FAILED:
		return saga.NotDone, nil
	case paymentsv1.PaymentStatus_PAYMENT_STATUS_PENDING:
		return saga.Unknown, nil
	}
	// REFUNDED (or unknown): money went back already, so the order cannot
	// be confirmed on it; compensating (refund by key) finds nothing left.
	return saga.Unknown, s.stepErr(call, errs.Newf(errs.FailedPrecondition, client.ReasonPaymentFailed,
		"the charge is %s", p.GetStatus()))
}

// declineError is the error a declined charge answered, rebuilt from the
// payment a lookup found.
func declineError(p *paymentsv1.Payment) error {
	reason := paymentsclient.ReasonCardDeclined
	if p.GetDeclineCode() == "insufficient_funds" {
		reason = paymentsclient.ReasonInsufficientFunds
	}
	return errs.New(errs.FailedPrecondition, reason, "card declined").With(paymentsclient.MetaPaymentID, p.GetId())
}

// refundCharge undoes charge by its key with a key of its own. A charge
// that never happened, or was declined, answers NOTHING_TO_REFUND; one
// whose outcome is still unknown is Unavailable and retried.
func (s *service) refundCharge(ctx context.Context, call *saga.Call) error {
	_, err := s.payments.Refund(ctx, &paymentsv1.RefundRequest{
		ChargeIdempotencyKey: chargeKey(call.SagaID), IdempotencyKey: call.Key + "/refund", Reason: "checkout failed",
	})
	return err
}

func (s *service) commitReservation(ctx context.Context, call *saga.Call) error {
	_, err := s.products.CommitReservation(ctx, &productsv1.CommitReservationRequest{ReservationId: call.SagaID, IdempotencyKey: call.Key})
	return s.stepErr(call, err)
}

// checkoutProjection is the order change of a checkout saga's save: the
// reservation's prices once reserve is done, the payment once charge is,
// and the status when the saga ends.
func (s *service) checkoutProjection(st *saga.State) (*OrderChange, error) {
	var d checkoutData
	c := saga.Call{Data: st.Data}
	if err := c.Decode(&d); err != nil {
		return nil, errs.Internalf(err, "checkout %s: decoding saga data", st.ID)
	}
	ch := &OrderChange{OrderID: st.ID, Now: s.now().UTC()}
	switch st.Status {
	case saga.Succeeded:
		ch.Status, ch.PaymentID = StatusConfirmed, d.PaymentID
	case saga.Compensated:
		ch.Status, ch.FailureReason = StatusCancelled, checkoutFailureReason(st.Failure)
		ch.PaymentID = refusedPayment(st.Failure)
	case saga.RequiresAttention:
		ch.Status, ch.FailureReason = StatusRequiresAttention, checkoutFailureReason(st.Failure)
		ch.PaymentID = refusedPayment(st.Failure)
	case saga.Running:
		// A step's result is carried by the save that records it done
		// (which may also mark the next step started) and repeated by
		// the few saves that follow until the next step is done: the
		// store leaves an order a change does not change as it is.
		switch {
		case stepIs(st, stepCharge, saga.StepDone) && d.PaymentID != "":
			ch.PaymentID = d.PaymentID
		case stepIs(st, stepReserve, saga.StepDone) && d.Priced:
			ch.Items, ch.TotalCents, ch.Currency = pricedItems(d), d.total(), d.Currency
		default:
			return nil, nil
		}
	default:
		return nil, nil
	}
	return ch, nil
}

func stepIs(st *saga.State, name string, status saga.StepStatus) bool {
	for _, s := range st.Steps {
		if s.Name == name {
			return s.Status == status
		}
	}
	return false
}

func pricedItems(d checkoutData) []Item {
	items := make([]Item, len(d.Items))
	for i, it := range d.Items {
		items[i] = Item{ProductID: it.ProductID, Quantity: it.Quantity,
			UnitPriceCents: it.UnitPriceCents, LineTotalCents: it.UnitPriceCents * it.Quantity}
	}
	return items
}

// refusedPayment is the payment a refused charge recorded (a decline is a
// payment too, with its decline code), so that the cancelled order links
// it as a confirmed one links its capture; "" when the checkout failed
// elsewhere.
func refusedPayment(p *saga.Problem) string {
	if p == nil || p.Step != stepCharge {
		return ""
	}
	return p.Meta[paymentsclient.MetaPaymentID]
}

// checkoutFailureReason is the order's failure_reason for the failure
// that made a checkout compensate: the orders reason where orders has its
// own, else the peer's reason as it came.
func checkoutFailureReason(p *saga.Problem) string {
	if p == nil {
		return errs.ReasonInternal
	}
	switch p.Reason {
	case paymentsclient.ReasonCardDeclined:
		return client.ReasonPaymentDeclined
	case paymentsclient.ReasonInsufficientFunds:
		return client.ReasonInsufficientFunds
	case productsclient.ReasonInsufficientStock:
		return client.ReasonInsufficientStock
	case productsclient.ReasonReservationExpired:
		return client.ReasonReservationExpired
	}
	infrastructure := p.Kind == errs.Unavailable.String() || p.Kind == errs.DeadlineExceeded.String()
	switch {
	case p.Step == stepCharge && (infrastructure || p.Reason == client.ReasonPaymentFailed):
		// The processor kept failing, payments stayed unreachable, or the
		// card was lost: nothing was charged either way.
		return client.ReasonPaymentFailed
	case infrastructure:
		return errs.ReasonUnavailable
	case p.Reason == "":
		return errs.ReasonInternal
	}
	return p.Reason
}
