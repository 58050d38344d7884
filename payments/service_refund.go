package main

import (
	"context"
	"errors"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/valid"
	"github.com/kitshop/kitshop/payments/client"
)

func (s *service) Refund(ctx context.Context, req RefundRequest) (RefundResult, error) {
	req, err := validateRefund(req)
	if err != nil {
		return RefundResult{}, err
	}
	byKey := req.ChargeKey != ""
	var p Payment
	if byKey {
		p, err = s.store.ChargeByKey(ctx, req.ChargeKey)
		if errors.Is(err, ErrChargeNotFound) {
			// Safe against nothing (API.md): compensating a charge that
			// never happened succeeds and changes nothing.
			return RefundResult{Outcome: RefundNothingToRefund}, nil
		}
	} else {
		p, err = s.store.Payment(ctx, req.PaymentID)
	}
	if err != nil {
		return RefundResult{}, err
	}
	if p, err = s.settle(ctx, p); err != nil {
		e := ErrChargePending.With(client.MetaPaymentID, p.ID)
		e.Err = err
		return RefundResult{}, e
	}
	switch p.Status {
	case StatusPending:
		return RefundResult{}, ErrChargePending.With(client.MetaPaymentID, p.ID)
	case StatusDeclined, StatusFailed:
		if byKey {
			return RefundResult{Outcome: RefundNothingToRefund, Payment: &p}, nil
		}
	}

	var refunded int64
	var fresh bool // not a repeat
	q, err := s.store.Refund(ctx, p.ID, req.IdempotencyKey, func(p Payment, prior *Event) (*Change, error) {
		refunded, fresh = 0, false
		if prior != nil {
			if prior.PaymentID != p.ID || prior.RequestedCents != req.AmountCents {
				return nil, ErrIdempotencyKeyReused.With(client.MetaPaymentID, prior.PaymentID)
			}
			refunded = prior.AmountCents
			return nil, nil
		}
		change, err := s.refund(p, req)
		if change != nil {
			refunded, fresh = change.Event.AmountCents, true
		}
		return change, err
	})
	if err != nil {
		return RefundResult{}, err
	}
	if fresh {
		s.metrics.refunds.Inc()
		_ = level.Info(logx.FromContext(ctx, s.logger)).Log("msg", "refunded", "payment_id", q.ID, "order_id", q.OrderID,
			"amount_cents", refunded, "refunded_cents", q.RefundedCents, "status", q.Status)
	}
	return RefundResult{Outcome: RefundRefunded, Payment: &q, AmountCents: refunded}, nil
}

// validateRefund checks req and returns it with its payment id in
// canonical form.
func validateRefund(req RefundRequest) (RefundRequest, error) {
	var v errs.Validation
	switch {
	case req.PaymentID != "" && req.ChargeKey != "":
		v.Add("charge_idempotency_key", "give payment_id or charge_idempotency_key, not both")
	case req.ChargeKey != "":
		valid.IdempotencyKey(&v, "charge_idempotency_key", req.ChargeKey)
	default:
		req.PaymentID = valid.ID(&v, "payment_id", req.PaymentID)
	}
	switch {
	case req.AmountCents < 0:
		v.Add("amount_cents", "must be >= 0 (0 refunds what is left)")
	case req.AmountCents > valid.MaxAmountCents:
		valid.Amount(&v, "amount_cents", req.AmountCents)
	}
	valid.IdempotencyKey(&v, "idempotency_key", req.IdempotencyKey)
	v.Check(len(req.Reason) <= maxRefundReasonLen, "reason", "must be at most 500 bytes")
	return req, v.Err()
}

// refund applies req to p, the payment as it stands under the store's lock.
func (s *service) refund(p Payment, req RefundRequest) (*Change, error) {
	switch p.Status {
	case StatusCaptured:
	case StatusRefunded:
		return nil, ErrRefundExceedsCaptured.With(client.MetaPaymentID, p.ID).With(client.MetaRefundableCents, 0)
	case StatusPending:
		// A retry of a failed charge began between settle and this lock.
		return nil, ErrChargePending.With(client.MetaPaymentID, p.ID)
	default:
		return nil, ErrNotCaptured.With(client.MetaPaymentID, p.ID)
	}
	left := p.AmountCents - p.RefundedCents
	amount := req.AmountCents
	if amount == 0 {
		amount = left
	}
	if amount > left {
		return nil, ErrRefundExceedsCaptured.With(client.MetaPaymentID, p.ID).With(client.MetaRefundableCents, left)
	}
	now := s.clock()
	p.RefundedCents += amount
	if p.RefundedCents == p.AmountCents {
		p.Status = StatusRefunded
	}
	p.UpdatedAt = now
	return &Change{Payment: p, Event: Event{
		PaymentID: p.ID, Type: EventRefunded, AmountCents: amount, RequestedCents: req.AmountCents,
		IdempotencyKey: req.IdempotencyKey, Reason: req.Reason, CreatedAt: now,
	}}, nil
}
