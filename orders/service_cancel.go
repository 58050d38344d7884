package main

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/kit/tracing"
	"github.com/kitshop/kitshop/kit/valid"
	"github.com/kitshop/kitshop/orders/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// The cancel saga: a customer's cancellation of a CONFIRMED order. Its id
// is a fresh UUID (the store keeps one per order); never rename or
// reorder its steps.
const (
	cancelName  = "cancel.v1"
	stepRefund  = "refund"
	stepRestock = "restock"
)

// ReasonCancelledByCustomer is the failure_reason of an order its
// customer cancelled.
const ReasonCancelledByCustomer = "CANCELLED_BY_CUSTOMER"

// cancelData is the cancel saga's shared document.
type cancelData struct {
	OrderID string       `json:"order_id"`
	Items   []lineAmount `json:"items"`
}

// cancelDefinition: refund the order's charge (by the charge's key, with
// the step's own key), then put its units back on hand (RestockItems,
// once per the step's key). Neither step has a compensation: both are
// retried as patiently as compensations are, and when one runs out the
// order needs an operator (REQUIRES_ATTENTION) rather than be half
// cancelled silently.
func (s *service) cancelDefinition() *saga.Definition {
	r := s.opts.CompensateRetry
	return &saga.Definition{Name: cancelName, Patience: s.opts.Patience, Steps: []saga.Step{
		{Name: stepRefund, Do: s.refundOrder, Retry: r},
		{Name: stepRestock, Do: s.restockOrder, Retry: r},
	}}
}

func decodeCancel(data []byte, id string) (cancelData, error) {
	var d cancelData
	c := saga.Call{Data: data}
	if err := c.Decode(&d); err != nil {
		return d, errs.Internalf(err, "cancel saga %s: decoding saga data", id)
	}
	return d, nil
}

func (s *service) refundOrder(ctx context.Context, call *saga.Call) error {
	d, err := decodeCancel(call.Data, call.SagaID)
	if err != nil {
		return err
	}
	// NOTHING_TO_REFUND is success too: an order of free items was never
	// charged.
	_, err = s.payments.Refund(ctx, &paymentsv1.RefundRequest{
		ChargeIdempotencyKey: chargeKey(d.OrderID), IdempotencyKey: call.Key, Reason: "cancelled by customer",
	})
	return err
}

func (s *service) restockOrder(ctx context.Context, call *saga.Call) error {
	d, err := decodeCancel(call.Data, call.SagaID)
	if err != nil {
		return err
	}
	_, err = s.products.RestockItems(ctx, &productsv1.RestockItemsRequest{IdempotencyKey: call.Key, Items: restockItems(d.Items)})
	return err
}

// cancelProjection: CANCELLED when the cancel saga succeeded; an order
// whose cancellation failed needs an operator.
func (s *service) cancelProjection(st *saga.State) (*OrderChange, error) {
	d, err := decodeCancel(st.Data, st.ID)
	if err != nil {
		return nil, err
	}
	ch := &OrderChange{OrderID: d.OrderID, Now: s.now().UTC()}
	switch st.Status {
	case saga.Succeeded:
		ch.Status, ch.FailureReason = StatusCancelled, ReasonCancelledByCustomer
	case saga.Compensated, saga.RequiresAttention:
		ch.Status, ch.FailureReason = StatusRequiresAttention, cancelFailureReason(st)
	default:
		return nil, nil
	}
	return ch, nil
}

func cancelFailureReason(st *saga.State) string {
	for _, p := range []*saga.Problem{st.Attention, st.Failure} {
		if p != nil && p.Reason != "" {
			return p.Reason
		}
	}
	return errs.ReasonInternal
}

func (s *service) CancelOrder(ctx context.Context, req CancelRequest) (Cancelled, error) {
	caller, err := auth.RequireUser(ctx)
	if err != nil {
		return Cancelled{}, err
	}
	var v errs.Validation
	id := valid.ID(&v, "id", req.ID)
	valid.OptionalIdempotencyKey(&v, "idempotency_key", req.IdempotencyKey)
	if err := v.Err(); err != nil {
		return Cancelled{}, err
	}
	o, err := s.store.Order(ctx, id)
	if err != nil {
		return Cancelled{}, err
	}
	if !mayRead(caller, o) {
		return Cancelled{}, ErrNotFound
	}
	data := cancelData{OrderID: o.ID, Items: make([]lineAmount, len(o.Items))}
	for i, it := range o.Items {
		data.Items[i] = lineAmount{ProductID: it.ProductID, Quantity: it.Quantity, UnitPriceCents: it.UnitPriceCents}
	}
	st, err := s.newState(ctx, s.cancel, uuid.NewString(), data)
	if err != nil {
		return Cancelled{}, err
	}
	sagaID, started, err := s.store.StartCancel(ctx, o.ID, st)
	if errors.Is(err, ErrInvalidOrderState) {
		return Cancelled{}, s.invalidState(ctx, err, o)
	}
	if err != nil {
		return Cancelled{}, err
	}
	wctx, cancel := context.WithTimeout(ctx, waitBudget(ctx, false))
	defer cancel()
	final, _ := s.await(wctx, sagaID, s.runner.start(wctx, sagaID))

	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), storeTimeout)
	defer rcancel()
	if o, err = s.store.Order(rctx, o.ID); err != nil {
		return Cancelled{}, err
	}
	if o.Status == StatusRequiresAttention {
		return Cancelled{}, failedWith(ErrRequiresAttention, o)
	}
	replayed := !started && final && req.IdempotencyKey != ""
	return Cancelled{Order: o, Pending: o.Status == StatusConfirmed, Replayed: replayed}, nil
}

// invalidState is ErrInvalidOrderState for o, with its status and the
// order itself, whatever detail err (the store's) had.
func (s *service) invalidState(ctx context.Context, err error, o Order) error {
	if got, ok := OrderOf(err); ok {
		o = got
	} else if fresh, ferr := s.store.Order(ctx, o.ID); ferr == nil {
		o = fresh
	}
	return failedWith(ErrInvalidOrderState, o).With(client.MetaStatus, string(o.Status))
}

// newState is the initial state of a saga of def, leased to this
// instance: it is about to drive it, and another instance's resume loop
// must not take a saga whose card only this instance holds. It carries
// ctx's trace, which every drive of the saga continues.
func (s *service) newState(ctx context.Context, def *saga.Definition, id string, data any) (saga.State, error) {
	c := saga.Call{}
	if err := c.Encode(data); err != nil {
		return saga.State{}, errs.Internalf(err, "encoding saga data")
	}
	now := s.now().UTC()
	st := saga.NewState(def, id, c.Data, now)
	st.LeaseOwner, st.LeaseExpiry = s.opts.Owner, now.Add(s.opts.LeaseTTL)
	st.Trace, st.RequestID = tracing.Traceparent(ctx), logx.RequestID(ctx)
	return st, nil
}

// answerMargin is what PlaceOrder and CancelOrder keep of their caller's
// deadline to build and send their answer after waiting for a saga.
const answerMargin = time.Second

// maxWait bounds the wait of a caller without a deadline.
const maxWait = 30 * time.Second

// waitBudget is how long a request may wait for its saga: up to ctx's
// deadline less answerMargin (less half the time left when that is
// short), nothing when async.
func waitBudget(ctx context.Context, async bool) time.Duration {
	if async {
		return 0
	}
	dl, ok := ctx.Deadline()
	if !ok {
		return maxWait
	}
	left := time.Until(dl)
	return max(0, min(left-min(answerMargin, left/2), maxWait))
}
