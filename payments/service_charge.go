package main

import (
	"context"
	"errors"
	"time"

	"github.com/go-kit/log/level"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/crashpoint"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/valid"
	"github.com/kitshop/kitshop/payments/client"
)

// errNoAttempt: an outcome to record for a key with no payment. Payments
// are never deleted and the attempt is written first, so it means a bug.
var errNoAttempt = errors.New("processor outcome for a charge key with no recorded attempt")

// The charge flow, in three steps that never overlap a database
// transaction with a processor call:
//
//  1. beginCharge records the attempt (PENDING) and commits;
//  2. the processor is called with the charge's idempotency key;
//  3. recordOutcome writes the processor's decision.
//
// A failure or crash after 1 leaves a PENDING payment. Whoever meets it
// next (a repeated Charge, GetChargeByKey, a refund by key, the recovery
// job) asks the processor under the same key, which never charges twice,
// and records the answer.
func (s *service) Charge(ctx context.Context, req ChargeRequest) (Payment, error) {
	req, err := s.validateCharge(req)
	if err != nil {
		return Payment{}, err
	}
	if err := s.checkUser(ctx, req); err != nil {
		return Payment{}, err
	}
	p, call, err := s.beginCharge(ctx, req)
	if err != nil {
		return Payment{}, err
	}
	if call {
		if p, err = s.callProcessor(ctx, p, req); err != nil {
			return Payment{}, err
		}
	}
	if err := outcomeError(p); err != nil {
		return Payment{}, err
	}
	return p, nil
}

// checkUser refuses a new charge for a user that does not exist. A charge
// already recorded under the key was checked when it was first recorded,
// and its repeats must report its outcome whatever became of the user.
func (s *service) checkUser(ctx context.Context, req ChargeRequest) error {
	if s.users == nil {
		return nil
	}
	switch _, err := s.store.ChargeByKey(ctx, req.IdempotencyKey); {
	case err == nil:
		return nil
	case !errors.Is(err, ErrChargeNotFound):
		return err
	}
	err := s.users.Validate(ctx, req.UserID)
	switch {
	case err == nil:
		return nil
	case errs.KindOf(err) == errs.NotFound:
		return ErrUserNotFound
	case ctx.Err() != nil:
		return errs.As(ctx.Err())
	}
	// Anything else (users down, or refusing us) leaves the question open;
	// the caller may retry, and nothing was recorded.
	return errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, err, "cannot confirm the user, retry later")
}

// beginCharge is step 1: it records the attempt before the card is
// touched, as a new PENDING payment or a FAILED one back to PENDING. call
// reports whether the processor must be asked: not for a settled charge,
// whose recorded outcome stands.
func (s *service) beginCharge(ctx context.Context, req ChargeRequest) (p Payment, call bool, err error) {
	p, err = s.store.WriteCharge(ctx, req.IdempotencyKey, func(existing *Payment) (*Change, error) {
		call = false // decide may run again if the store retries its transaction
		now := s.clock()
		if existing == nil {
			call = true
			p := Payment{
				ID: uuid.NewString(), OrderID: req.OrderID, UserID: req.UserID,
				AmountCents: req.AmountCents, Currency: req.Currency, Status: StatusPending,
				CardBrand: req.Card.Brand(), CardLast4: req.Card.Number.Last4(),
				IdempotencyKey: req.IdempotencyKey, CreatedAt: now, UpdatedAt: now,
			}
			return &Change{Payment: p, Event: attemptEvent(p, now)}, nil
		}
		if !sameCharge(*existing, req) {
			return nil, ErrIdempotencyKeyReused.With(client.MetaPaymentID, existing.ID)
		}
		switch existing.Status {
		case StatusPending:
			// In flight in another request, or abandoned by a crash: the
			// processor, asked under the same key, settles either without
			// charging twice. Nothing new to record first.
			call = true
			return nil, nil
		case StatusFailed:
			call = true
			q := *existing
			q.Status, q.DeclineCode, q.UpdatedAt = StatusPending, "", now
			return &Change{Payment: q, Event: attemptEvent(q, now)}, nil
		}
		return nil, nil // settled: a repeat
	})
	return p, call, err
}

func attemptEvent(p Payment, now time.Time) Event {
	return Event{PaymentID: p.ID, Type: EventAttempted, AmountCents: p.AmountCents, IdempotencyKey: p.IdempotencyKey, CreatedAt: now}
}

// crashAfterProcessor names the point between steps 2 and 3 for the crash
// test (crash_process_test.go; kit/crashpoint, built with the
// kitshop_crashpoints tag).
const crashAfterProcessor = "after-processor-charge"

// callProcessor is steps 2 and 3 for the attempt p.
func (s *service) callProcessor(ctx context.Context, p Payment, req ChargeRequest) (Payment, error) {
	pctx, cancel := context.WithTimeout(ctx, s.processorTimeout)
	d, err := s.processor.Charge(pctx, req.IdempotencyKey, req.Card, req.AmountCents, req.Currency)
	cancel()
	if err != nil {
		// The outcome is unknown; the payment stays PENDING for whoever
		// asks next (a retry, a lookup, the recovery job).
		return Payment{}, errs.Wrap(errs.Unavailable, client.ReasonProcessingError, err,
			"payment processor unreachable, retry later").With(client.MetaPaymentID, p.ID)
	}
	crashpoint.At(crashAfterProcessor)
	q, recorded, err := s.recordOutcome(ctx, p.IdempotencyKey, d)
	if err != nil {
		return Payment{}, err
	}
	if recorded {
		// Only what the service itself decided is logged, once; replays
		// are visible in the endpoint log. Card shows brand and last four.
		_ = level.Info(logx.FromContext(ctx, s.logger)).Log("msg", "charge attempted", "payment_id", q.ID, "order_id", q.OrderID,
			"status", q.Status, "decline_code", q.DeclineCode, "card", req.Card, "amount_cents", q.AmountCents,
			"currency", q.Currency)
	}
	return q, nil
}

// recordOutcome is step 3: it writes the processor's decision d on the
// charge under key, unless a settled outcome is recorded already (by a
// concurrent request, a lookup or the recovery job), which then stands;
// the processor's idempotency means the two cannot disagree. A FAILED
// payment takes a later approval or decline: the processor may have
// answered a concurrent attempt differently from a failed one.
//
// Once the processor has answered, its answer should reach the database
// even if the caller has given up, so the write is detached from the
// caller's cancellation and bounded by recordTimeout instead.
func (s *service) recordOutcome(ctx context.Context, key string, d Decision) (p Payment, recorded bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	p, err = s.store.WriteCharge(ctx, key, func(existing *Payment) (*Change, error) {
		recorded = false
		switch {
		case existing == nil:
			return nil, errs.Internalf(errNoAttempt, "payments: charge %q", key)
		case existing.Status == StatusPending, existing.Status == StatusFailed && d.Outcome != Failed:
			recorded = true
			return outcomeChange(*existing, d, s.clock()), nil
		}
		return nil, nil
	})
	if err == nil && recorded {
		s.metrics.settled(p.Status)
	}
	return p, recorded, err
}

// outcomeChange records decision d on the attempt p.
func outcomeChange(p Payment, d Decision, now time.Time) *Change {
	p.UpdatedAt = now
	ev := Event{PaymentID: p.ID, AmountCents: p.AmountCents, IdempotencyKey: p.IdempotencyKey, CreatedAt: now}
	switch d.Outcome {
	case Approved:
		p.Status, p.DeclineCode, ev.Type = StatusCaptured, "", EventCharged
	case Declined:
		p.Status, p.DeclineCode, ev.Type, ev.Reason = StatusDeclined, d.Code, EventDeclined, d.Code
	default:
		code := d.Code
		if code == "" {
			code = CodeProcessingError
		}
		p.Status, p.DeclineCode, ev.Type, ev.Reason = StatusFailed, code, EventFailed, code
	}
	return &Change{Payment: p, Event: ev}
}

// sameCharge reports whether req repeats the charge recorded as p. The card
// is compared by brand and last four: the full number is not kept.
func sameCharge(p Payment, req ChargeRequest) bool {
	return p.OrderID == req.OrderID && p.UserID == req.UserID && p.AmountCents == req.AmountCents &&
		p.Currency == req.Currency && p.CardBrand == req.Card.Brand() && p.CardLast4 == req.Card.Number.Last4()
}

// outcomeError is the error a charge that ended as p reports. It is
// derived from the record alone, so a replay reports what the first call
// did.
func outcomeError(p Payment) error {
	switch p.Status {
	case StatusDeclined:
		e := ErrCardDeclined
		if p.DeclineCode == CodeInsufficientFunds {
			e = ErrInsufficientFunds
		}
		return e.With(client.MetaPaymentID, p.ID).With(client.MetaDeclineCode, p.DeclineCode)
	case StatusFailed:
		return ErrProcessing.With(client.MetaPaymentID, p.ID)
	case StatusPending:
		// Unreachable from Charge, which records an outcome or fails;
		// reported as what it is should that ever change.
		return ErrChargePending.With(client.MetaPaymentID, p.ID)
	}
	return nil
}

// validateCharge checks req and returns it with its ids in canonical form,
// so that a repeat spelled in upper case is still the same charge.
func (s *service) validateCharge(req ChargeRequest) (ChargeRequest, error) {
	var v errs.Validation
	req.OrderID = valid.ID(&v, "order_id", req.OrderID)
	req.UserID = valid.ID(&v, "user_id", req.UserID)
	valid.Amount(&v, "amount_cents", req.AmountCents)
	valid.Currency(&v, "currency", req.Currency)
	valid.IdempotencyKey(&v, "idempotency_key", req.IdempotencyKey)
	req.Card.Validate(&v, "card", s.now())
	return req, v.Err()
}

func (s *service) GetChargeByKey(ctx context.Context, key string) (Payment, error) {
	var v errs.Validation
	if valid.IdempotencyKey(&v, "idempotency_key", key); v.Err() != nil {
		return Payment{}, v.Err()
	}
	p, err := s.store.ChargeByKey(ctx, key)
	if err != nil {
		return Payment{}, err
	}
	q, err := s.settle(ctx, p)
	if err != nil {
		// PENDING is still the truth as payments knows it; the caller asks
		// again or repeats the Charge.
		_ = level.Warn(logx.FromContext(ctx, s.logger)).Log("msg", "could not settle a pending charge", "payment_id", p.ID, "err", err)
		return p, nil
	}
	return q, nil
}

// settle asks the processor what became of p if it is PENDING, and
// records the answer. When the processor has no decision for the key, the
// charge is either still in flight or never reached it: only once the
// attempt is older than recoverAfter (longer than any attempt can take)
// is it taken as never charged and recorded FAILED, which a repeated
// Charge may try again. A payment that is not PENDING is returned as is.
func (s *service) settle(ctx context.Context, p Payment) (Payment, error) {
	if p.Status != StatusPending {
		return p, nil
	}
	lctx, cancel := context.WithTimeout(ctx, s.processorTimeout)
	d, ok, err := s.processor.Lookup(lctx, p.IdempotencyKey)
	cancel()
	if err != nil {
		return p, errs.Wrap(errs.Unavailable, client.ReasonProcessingError, err,
			"payment processor unreachable, retry later").With(client.MetaPaymentID, p.ID)
	}
	var q Payment
	var recorded bool
	if ok {
		q, recorded, err = s.recordOutcome(ctx, p.IdempotencyKey, d)
	} else {
		if s.clock().Sub(p.UpdatedAt) < s.recoverAfter {
			return p, nil
		}
		q, recorded, err = s.abandon(ctx, p)
	}
	if err != nil {
		return p, err
	}
	if recorded {
		_ = level.Info(logx.FromContext(ctx, s.logger)).Log("msg", "pending charge settled", "payment_id", q.ID,
			"order_id", q.OrderID, "status", q.Status, "processor_knew", ok, "pending_since", p.UpdatedAt)
	}
	return q, nil
}

// abandon records FAILED on the attempt p, which the processor never
// decided, unless the payment moved on since it was read (settled, or a
// new attempt began): only that very attempt is given up.
func (s *service) abandon(ctx context.Context, p Payment) (q Payment, recorded bool, err error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), recordTimeout)
	defer cancel()
	q, err = s.store.WriteCharge(ctx, p.IdempotencyKey, func(existing *Payment) (*Change, error) {
		recorded = false
		if existing == nil || existing.Status != StatusPending || !existing.UpdatedAt.Equal(p.UpdatedAt) {
			return nil, nil
		}
		recorded = true
		return outcomeChange(*existing, Decision{Outcome: Failed, Code: CodeProcessingError}, s.clock()), nil
	})
	if err == nil && recorded {
		s.metrics.settled(q.Status)
	}
	return q, recorded, err
}
