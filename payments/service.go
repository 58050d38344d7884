package main

import (
	"context"
	"net/http"
	"regexp"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
)

// Service charges and refunds cards and keeps the record of every attempt.
// Charge and Refund are called by the orders saga, service to service;
// GetPayment by customers (owner or admin).
type Service interface {
	// Charge authorizes and captures req.AmountCents on req.Card in one step.
	//
	// It is idempotent on req.IdempotencyKey: a repeat of a charge returns
	// the first outcome (the same payment or the same decline) without
	// charging again, even when identical requests race. The same key with
	// a different order, user, amount, currency or card is
	// ErrIdempotencyKeyReused.
	//
	// Outcomes, each recorded as a payment:
	//   - approved: the CAPTURED payment;
	//   - declined: ErrCardDeclined or ErrInsufficientFunds (Meta
	//     payment_id, decline_code; HTTP 402), payment DECLINED;
	//   - processor failure: ErrProcessing (Unavailable, Meta payment_id),
	//     payment FAILED. Unlike a decline this is not final: a repeat with
	//     the same key tries the processor again on the same payment.
	//
	// Invalid input (ids, amount, currency, Luhn, expiry, CVC) is
	// InvalidArgument with one field violation per problem.
	Charge(ctx context.Context, req ChargeRequest) (Payment, error)

	// Refund returns req.AmountCents (0: whatever is left) of a CAPTURED
	// payment and records it on the payment and in its ledger; a payment
	// refunded in full becomes REFUNDED.
	//
	// It is idempotent on req.IdempotencyKey: a repeat returns the payment
	// without refunding again. The key reused for another payment or
	// amount is ErrIdempotencyKeyReused. Refunds never add up to more than
	// was captured, however they interleave: ErrRefundExceedsCaptured
	// (Meta refundable_cents). A payment that was never captured is
	// ErrNotCaptured; an unknown one ErrNotFound.
	Refund(ctx context.Context, req RefundRequest) (Payment, error)

	// GetPayment returns payment id to its owner or to an admin, the
	// caller being read from ctx (auth.ClaimsFrom, put there by the
	// transports). Anyone else gets ErrNotFound, as for an unknown id, so
	// existence is never revealed; no caller at all is Unauthenticated.
	GetPayment(ctx context.Context, id string) (Payment, error)
}

// Status is a payment's state.
type Status string

// Payment states. A payment is created in one of the first three and
// only ever moves CAPTURED -> REFUNDED (fully refunded) or, when the
// processor failed, FAILED -> any state on a repeated charge.
const (
	StatusCaptured Status = "CAPTURED"
	StatusDeclined Status = "DECLINED"
	StatusFailed   Status = "FAILED"
	StatusRefunded Status = "REFUNDED"
)

// Payment is the record of one charge (identified by its idempotency key)
// and of what was refunded of it. Payments are never deleted.
type Payment struct {
	ID            string    `json:"id"`
	OrderID       string    `json:"order_id"`
	UserID        string    `json:"user_id"`
	AmountCents   int64     `json:"amount_cents"`
	Currency      string    `json:"currency"`
	Status        Status    `json:"status"`
	CardBrand     Brand     `json:"card_brand"`
	CardLast4     string    `json:"card_last4"`
	DeclineCode   string    `json:"decline_code"`
	RefundedCents int64     `json:"refunded_cents"`
	CreatedAt     time.Time `json:"created_at"`
	UpdatedAt     time.Time `json:"updated_at"`
	// IdempotencyKey is the charge's key; it is the saga's business, not
	// the customer's, so it stays out of the JSON.
	IdempotencyKey string `json:"-"`
}

// EventType names an entry in a payment's ledger.
type EventType string

// Ledger entry types: one per charge attempt outcome, one per refund.
const (
	EventCharged  EventType = "CHARGED"
	EventDeclined EventType = "DECLINED"
	EventFailed   EventType = "FAILED"
	EventRefunded EventType = "REFUNDED"
)

// Event is an append-only ledger entry. Every state change of a payment
// writes exactly one, in the same transaction.
type Event struct {
	PaymentID string
	Type      EventType
	// AmountCents is what moved: the charged amount, or the refunded one.
	AmountCents int64
	// RequestedCents is what a refund asked for (0 = the rest), kept so a
	// repeat can be told apart from a different refund under the same key.
	RequestedCents int64
	// IdempotencyKey is the charge's key for charge events and the
	// refund's own key for refunds.
	IdempotencyKey string
	// Reason is the refund's reason, or the processor's code.
	Reason    string
	CreatedAt time.Time
}

// ChargeRequest asks for a charge. Printing it is safe: Card redacts.
type ChargeRequest struct {
	OrderID        string
	UserID         string
	AmountCents    int64
	Currency       string
	Card           Card
	IdempotencyKey string
}

// RefundRequest asks for a refund of part (AmountCents > 0) or all that is
// left (AmountCents == 0) of a payment.
type RefundRequest struct {
	PaymentID      string
	AmountCents    int64
	IdempotencyKey string
	Reason         string
}

// Reasons specific to payments.
const (
	ReasonCardDeclined          = "CARD_DECLINED"
	ReasonInsufficientFunds     = "INSUFFICIENT_FUNDS"
	ReasonProcessingError       = "PROCESSING_ERROR"
	ReasonIdempotencyKeyReused  = errs.ReasonIdempotencyKeyReused
	ReasonRefundExceedsCaptured = "REFUND_EXCEEDS_CAPTURED"
	ReasonNotCaptured           = "PAYMENT_NOT_CAPTURED"
)

// Domain errors. errors.Is matches on kind and reason, so the values the
// service returns (with payment_id and other metadata attached) still
// match these sentinels.
var (
	// ErrNotFound keeps the generic reason NOT_FOUND rather than following
	// USER_NOT_FOUND and PRODUCT_NOT_FOUND: API.md (Identity) names
	// "404 NOT_FOUND" for another user's order or payment, and an unknown
	// id must answer exactly the same so existence is never revealed.
	ErrNotFound = errs.New(errs.NotFound, errs.ReasonNotFound, "payment not found")
	// Declines are business outcomes, not failures of the service: 402 so
	// a client can tell them from other precondition failures.
	ErrCardDeclined      = errs.New(errs.FailedPrecondition, ReasonCardDeclined, "card declined").WithStatus(http.StatusPaymentRequired)
	ErrInsufficientFunds = errs.New(errs.FailedPrecondition, ReasonInsufficientFunds, "insufficient funds").WithStatus(http.StatusPaymentRequired)
	// ErrProcessing is transient: the caller retries with backoff, then
	// compensates. It is Expected: the payments service itself is healthy,
	// so neither its breaker nor a caller's may count it.
	ErrProcessing            = errs.New(errs.Unavailable, ReasonProcessingError, "payment processor error, retry later").AsExpected()
	ErrIdempotencyKeyReused  = errs.ErrIdempotencyKeyReused
	ErrRefundExceedsCaptured = errs.New(errs.FailedPrecondition, ReasonRefundExceedsCaptured, "refund exceeds the captured amount not yet refunded")
	ErrNotCaptured           = errs.New(errs.FailedPrecondition, ReasonNotCaptured, "payment was not captured")
)

const (
	maxIdempotencyKeyLen = 255
	maxRefundReasonLen   = 500
)

// currencyPattern checks the shape of an ISO 4217 code; which codes exist
// is the processor's business.
var currencyPattern = regexp.MustCompile(`^[A-Z]{3}$`)

// Options tune the service; zero values take the defaults.
type Options struct {
	// Processor charges cards; default SimulatedProcessor.
	Processor Processor
	// Logger receives the service's own business log lines; default none.
	Logger log.Logger
	// Now is the clock card expiry and timestamps are measured against;
	// default time.Now.
	Now func() time.Time
}

type service struct {
	store     Store
	processor Processor
	logger    log.Logger
	now       func() time.Time
}

// NewService returns the payments service on store.
func NewService(store Store, opt Options) Service {
	if opt.Processor == nil {
		opt.Processor = SimulatedProcessor{}
	}
	if opt.Logger == nil {
		opt.Logger = log.NewNopLogger()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	return &service{store: store, processor: opt.Processor, logger: opt.Logger, now: opt.Now}
}

// clock is now in UTC at the precision Postgres keeps, so both stores
// return identical timestamps.
func (s *service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *service) Charge(ctx context.Context, req ChargeRequest) (Payment, error) {
	if err := s.validateCharge(req); err != nil {
		return Payment{}, err
	}
	attempted := false
	p, err := s.store.Charge(ctx, req.IdempotencyKey, func(existing *Payment) (*Change, error) {
		attempted = false // decide may run again if the store retries its transaction
		if existing != nil {
			if !sameCharge(*existing, req) {
				return nil, ErrIdempotencyKeyReused.With("payment_id", existing.ID)
			}
			if existing.Status != StatusFailed {
				return nil, nil // a repeat: the recorded outcome stands
			}
		}
		attempted = true
		return s.attempt(ctx, req, existing)
	})
	if err != nil {
		return Payment{}, err
	}
	if attempted {
		// Only what the service itself decided is logged, once; replays
		// are visible in the endpoint log. Card shows brand and last four.
		_ = level.Info(logx.FromContext(ctx, s.logger)).Log("msg", "charge attempted", "payment_id", p.ID, "order_id", p.OrderID,
			"status", p.Status, "decline_code", p.DeclineCode, "card", req.Card, "amount_cents", p.AmountCents,
			"currency", p.Currency)
	}
	if err := outcomeError(p); err != nil {
		return Payment{}, err
	}
	return p, nil
}

// attempt asks the processor and builds the state change that records its
// decision: a new payment, or the retried FAILED one (existing).
func (s *service) attempt(ctx context.Context, req ChargeRequest, existing *Payment) (*Change, error) {
	d, err := s.processor.Charge(ctx, req.Card, req.AmountCents, req.Currency)
	if err != nil {
		// The outcome is unknown, so nothing is recorded and the caller's
		// retry asks again.
		return nil, errs.Wrap(errs.Unavailable, ReasonProcessingError, err, "payment processor unreachable, retry later")
	}
	now := s.clock()
	var p Payment
	if existing != nil {
		p = *existing
	} else {
		p = Payment{
			ID: uuid.NewString(), OrderID: req.OrderID, UserID: req.UserID,
			AmountCents: req.AmountCents, Currency: req.Currency,
			CardBrand: req.Card.Brand(), CardLast4: req.Card.Number.Last4(),
			IdempotencyKey: req.IdempotencyKey, CreatedAt: now,
		}
	}
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
	return &Change{Payment: p, Event: ev}, nil
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
		return e.With("payment_id", p.ID).With("decline_code", p.DeclineCode)
	case StatusFailed:
		return ErrProcessing.With("payment_id", p.ID)
	}
	return nil
}

func (s *service) validateCharge(req ChargeRequest) error {
	var v errs.Validation
	v.Check(isUUID(req.OrderID), "order_id", "must be a UUID")
	v.Check(isUUID(req.UserID), "user_id", "must be a UUID")
	v.Check(req.AmountCents > 0, "amount_cents", "must be > 0")
	v.Check(currencyPattern.MatchString(req.Currency), "currency", "must be an ISO 4217 code (3 upper-case letters)")
	checkKey(&v, req.IdempotencyKey)
	req.Card.validate(&v, "card", s.now())
	return v.Err()
}

func (s *service) Refund(ctx context.Context, req RefundRequest) (Payment, error) {
	var v errs.Validation
	v.Check(isUUID(req.PaymentID), "payment_id", "must be a UUID")
	v.Check(req.AmountCents >= 0, "amount_cents", "must be >= 0 (0 refunds what is left)")
	checkKey(&v, req.IdempotencyKey)
	v.Check(len(req.Reason) <= maxRefundReasonLen, "reason", "must be at most 500 bytes")
	if err := v.Err(); err != nil {
		return Payment{}, err
	}
	refunded := int64(0)
	p, err := s.store.Refund(ctx, req.PaymentID, req.IdempotencyKey, func(p Payment, prior *Event) (*Change, error) {
		refunded = 0
		if prior != nil {
			if prior.PaymentID != p.ID || prior.RequestedCents != req.AmountCents {
				return nil, ErrIdempotencyKeyReused.With("payment_id", prior.PaymentID)
			}
			return nil, nil
		}
		change, err := s.refund(p, req)
		if change != nil {
			refunded = change.Event.AmountCents
		}
		return change, err
	})
	if err != nil {
		return Payment{}, err
	}
	if refunded > 0 {
		_ = level.Info(logx.FromContext(ctx, s.logger)).Log("msg", "refunded", "payment_id", p.ID, "order_id", p.OrderID,
			"amount_cents", refunded, "refunded_cents", p.RefundedCents, "status", p.Status)
	}
	return p, nil
}

// refund applies req to p, the payment as it stands under the store's lock.
func (s *service) refund(p Payment, req RefundRequest) (*Change, error) {
	switch p.Status {
	case StatusCaptured:
	case StatusRefunded:
		return nil, ErrRefundExceedsCaptured.With("payment_id", p.ID).With("refundable_cents", 0)
	default:
		return nil, ErrNotCaptured.With("payment_id", p.ID)
	}
	left := p.AmountCents - p.RefundedCents
	amount := req.AmountCents
	if amount == 0 {
		amount = left
	}
	if amount > left {
		return nil, ErrRefundExceedsCaptured.With("payment_id", p.ID).With("refundable_cents", left)
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

func (s *service) GetPayment(ctx context.Context, id string) (Payment, error) {
	caller, err := auth.RequireUser(ctx)
	if err != nil {
		return Payment{}, err
	}
	if !isUUID(id) {
		return Payment{}, errs.Invalid(errs.FieldViolation{Field: "id", Message: "must be a UUID"})
	}
	p, err := s.store.Payment(ctx, id)
	if err != nil {
		return Payment{}, err
	}
	if !caller.IsAdmin() && caller.UserID() != p.UserID {
		return Payment{}, ErrNotFound
	}
	return p, nil
}

func checkKey(v *errs.Validation, key string) {
	v.Check(key != "" && len(key) <= maxIdempotencyKeyLen, "idempotency_key", "required, at most 255 bytes")
}

func isUUID(s string) bool {
	_, err := uuid.Parse(s)
	return err == nil && len(s) == 36
}
