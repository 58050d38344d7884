package main

import (
	"context"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
	"github.com/kitshop/kitshop/kit/valid"
	"github.com/kitshop/kitshop/payments/client"
)

// Service charges and refunds cards and keeps the record of every attempt.
// Charge, Refund and GetChargeByKey are called by the orders saga, service
// to service, and ListPayments by the orders consistency checker;
// GetPayment by customers (owner or admin).
type Service interface {
	// Charge authorizes and captures req.AmountCents on req.Card in one step.
	//
	// The attempt is recorded (a PENDING payment, committed) before the
	// processor is called, and the processor is called with
	// req.IdempotencyKey, under which it charges at most once. So a crash
	// or a failed write after the processor answered loses nothing: the
	// next Charge with the key, GetChargeByKey or the recovery job asks the
	// processor and records what it says.
	//
	// It is idempotent on req.IdempotencyKey: a repeat of a charge returns
	// the first outcome (the same payment or the same decline) without
	// charging again, even when identical requests race. The same key with
	// a different order, user, amount, currency or card is
	// ErrIdempotencyKeyReused.
	//
	// Outcomes, each recorded on the payment:
	//   - approved: the CAPTURED payment;
	//   - declined: ErrCardDeclined or ErrInsufficientFunds (Meta
	//     payment_id, decline_code; HTTP 402), payment DECLINED;
	//   - processor failure: ErrProcessing (Unavailable, Meta payment_id),
	//     payment FAILED. Unlike a decline this is not final: a repeat with
	//     the same key tries the processor again on the same payment;
	//   - outcome unknown (processor unreachable, or the outcome could not
	//     be recorded): Unavailable PROCESSING_ERROR or a storage error;
	//     the payment stays PENDING until a repeat or the recovery job
	//     settles it.
	//
	// Invalid input (ids, amount, currency, Luhn, expiry, CVC) is
	// InvalidArgument with one field violation per problem. A user that
	// does not exist is ErrUserNotFound (checked for new charges only, and
	// only when the service has Users).
	Charge(ctx context.Context, req ChargeRequest) (Payment, error)

	// Refund returns req.AmountCents (0: whatever is left) of a CAPTURED
	// payment, named by req.PaymentID or by req.ChargeKey (its charge's
	// idempotency key), and records it on the payment and in its ledger; a
	// payment refunded in full becomes REFUNDED. The result says whether
	// money went back (RefundRefunded) or there was none to return
	// (RefundNothingToRefund).
	//
	// Refunding by ChargeKey a charge that moved no money (no payment for
	// the key, or a DECLINED or FAILED one) is RefundNothingToRefund and
	// changes nothing: a saga compensation never fails on a charge that
	// did not happen. A PENDING charge is first settled by asking the
	// processor; one whose outcome is still unknown is ErrChargePending.
	//
	// It is idempotent on req.IdempotencyKey: a repeat returns the payment
	// without refunding again. The key reused for another payment or
	// amount is ErrIdempotencyKeyReused. Refunds never add up to more than
	// was captured, however they interleave: ErrRefundExceedsCaptured
	// (Meta refundable_cents). By PaymentID, a payment that was never
	// captured is ErrNotCaptured and an unknown one ErrNotFound.
	Refund(ctx context.Context, req RefundRequest) (RefundResult, error)

	// GetPayment returns payment id to its owner or to an admin, the
	// caller being read from ctx (auth.ClaimsFrom, put there by the
	// transports). Anyone else gets ErrNotFound, as for an unknown id, so
	// existence is never revealed; no caller at all is Unauthenticated.
	GetPayment(ctx context.Context, id string) (Payment, error)

	// GetChargeByKey returns the payment recorded for a Charge's
	// idempotency key, for a saga that never learned the payment id. A
	// PENDING charge is first settled by asking the processor; it is
	// returned PENDING only while its outcome cannot be known yet. No
	// charge under key is ErrChargeNotFound.
	GetChargeByKey(ctx context.Context, key string) (Payment, error)

	// ListPayments lists payments in every status, oldest first
	// (created_at, then id), in keyset pages (kit/page rules), for the
	// orders consistency checker: a payment recorded between two pages
	// never causes one that existed to be repeated or skipped. With
	// req.OrderID, only that order's. It changes nothing. A malformed
	// page token, or one issued for another OrderID, is
	// ErrInvalidPageToken.
	ListPayments(ctx context.Context, req ListRequest) (PaymentPage, error)
}

// Users is what payments needs from the users service: whether a user id
// names someone who may be charged. Declared here, by its consumer; the
// process wires an implementation over the users client.
type Users interface {
	// Validate returns nil when userID names a user who may be charged, an
	// error of kind NotFound when it does not (a disabled user may be
	// reported so too), and any other error when it cannot tell.
	Validate(ctx context.Context, userID string) error
}

// Status is a payment's state.
type Status string

// Payment states. A payment is created PENDING, before the processor is
// called, and then moves PENDING -> CAPTURED, DECLINED or FAILED as the
// processor answers; CAPTURED -> REFUNDED when fully refunded; and, when
// the processor failed, FAILED -> PENDING on a repeated charge.
const (
	StatusPending  Status = "PENDING"
	StatusCaptured Status = "CAPTURED"
	StatusDeclined Status = "DECLINED"
	StatusFailed   Status = "FAILED"
	StatusRefunded Status = "REFUNDED"
)

// Payment is the record of one charge (identified by its idempotency key)
// and of what was refunded of it. Payments are never deleted.
//
// Its API shape is pb/payments/v1's Payment, mapped to JSON by
// payments/client; this type carries no JSON tags.
type Payment struct {
	ID            string
	OrderID       string
	UserID        string
	AmountCents   int64
	Currency      string
	Status        Status
	CardBrand     Brand
	CardLast4     string
	DeclineCode   string
	RefundedCents int64
	CreatedAt     time.Time
	UpdatedAt     time.Time
	// IdempotencyKey is the charge's key. It is the saga's business, not
	// the customer's: pb's Payment has no field for it, so neither
	// transport shows it (orders reaches a payment by key through
	// GetChargeByKey instead).
	IdempotencyKey string
}

// EventType names an entry in a payment's ledger.
type EventType string

// Ledger entry types: one per charge attempt, one per attempt's outcome,
// one per refund.
const (
	EventAttempted EventType = "ATTEMPTED"
	EventCharged   EventType = "CHARGED"
	EventDeclined  EventType = "DECLINED"
	EventFailed    EventType = "FAILED"
	EventRefunded  EventType = "REFUNDED"
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
// left (AmountCents == 0) of a payment, named by exactly one of PaymentID
// and ChargeKey.
type RefundRequest struct {
	PaymentID string
	// ChargeKey is the idempotency key of the charge whose payment to
	// refund.
	ChargeKey      string
	AmountCents    int64
	IdempotencyKey string
	Reason         string
}

// RefundOutcome says whether a refund returned money.
type RefundOutcome string

// Refund outcomes.
const (
	// RefundRefunded: money went back, by this call or, for a repeated
	// idempotency key, by the call it repeats.
	RefundRefunded RefundOutcome = "REFUNDED"
	// RefundNothingToRefund: the charge moved no money; nothing changed.
	RefundNothingToRefund RefundOutcome = "NOTHING_TO_REFUND"
)

// RefundResult is what Refund did.
type RefundResult struct {
	Outcome RefundOutcome
	// Payment is the payment after the refund; nil when no payment exists
	// for the charge key.
	Payment *Payment
	// AmountCents is what this refund (or the one it repeats) returned.
	AmountCents int64
}

// Domain errors. errors.Is matches on kind and reason, so the values the
// service returns (with payment_id and other metadata attached) still
// match these sentinels. Reasons come from payments/client, where callers
// find them.
var (
	// ErrNotFound keeps the generic reason NOT_FOUND rather than following
	// USER_NOT_FOUND and PRODUCT_NOT_FOUND: API.md (Identity) names
	// "404 NOT_FOUND" for another user's order or payment, and an unknown
	// id must answer exactly the same so existence is never revealed.
	ErrNotFound = errs.New(errs.NotFound, errs.ReasonNotFound, "payment not found")
	// ErrChargeNotFound is the internal lookup by charge key finding
	// nothing; only orders calls it, so a specific reason hides nothing
	// and tells "never recorded" apart from a misrouted call.
	ErrChargeNotFound = errs.New(errs.NotFound, client.ReasonChargeNotFound, "no charge recorded under this idempotency key")
	// Declines are business outcomes, not failures of the service: 402 so
	// a client can tell them from other precondition failures.
	ErrCardDeclined      = errs.New(errs.FailedPrecondition, client.ReasonCardDeclined, "card declined").WithStatus(http.StatusPaymentRequired)
	ErrInsufficientFunds = errs.New(errs.FailedPrecondition, client.ReasonInsufficientFunds, "insufficient funds").WithStatus(http.StatusPaymentRequired)
	// ErrProcessing is transient: the caller retries with backoff, then
	// compensates. It is Expected: the payments service itself is healthy,
	// so neither its breaker nor a caller's may count it.
	ErrProcessing = errs.New(errs.Unavailable, client.ReasonProcessingError, "payment processor error, retry later").AsExpected()
	// ErrChargePending: a refund or lookup met a charge whose outcome
	// nobody knows yet. Expected, like ErrProcessing: it says nothing
	// about the service's health.
	ErrChargePending = errs.New(errs.Unavailable, client.ReasonChargePending, "the charge's outcome is not known yet, retry later").AsExpected()
	// ErrUserNotFound is FailedPrecondition, not NotFound: the request is
	// well-formed and the resource it acts on (a new charge) is not what
	// is missing; a precondition in another service's state is, and
	// NotFound from Charge would read as "no such charge". Not
	// InvalidArgument either: the same id may become valid, which is
	// state, not syntax (the gRPC guide's line between the two).
	ErrUserNotFound          = errs.New(errs.FailedPrecondition, client.ReasonUserNotFound, "user not found")
	ErrIdempotencyKeyReused  = errs.ErrIdempotencyKeyReused
	ErrRefundExceedsCaptured = errs.New(errs.FailedPrecondition, client.ReasonRefundExceedsCaptured, "refund exceeds the captured amount not yet refunded")
	ErrNotCaptured           = errs.New(errs.FailedPrecondition, client.ReasonNotCaptured, "payment was not captured")
	ErrInvalidPageToken      = page.ErrInvalidToken
)

const maxRefundReasonLen = 500

// Defaults for Options.
const (
	DefaultProcessorTimeout = 15 * time.Second
	DefaultRecoverAfter     = 2 * time.Minute
)

// recordTimeout bounds writing an outcome the processor already gave; see
// recordOutcome.
const recordTimeout = 10 * time.Second

// Options tune the service; zero values take the defaults.
type Options struct {
	// Processor charges cards; default NewSimulatedProcessor().
	Processor Processor
	// Logger receives the service's own business log lines; default none.
	Logger log.Logger
	// Now is the clock card expiry and timestamps are measured against;
	// default time.Now.
	Now func() time.Time
	// ProcessorTimeout bounds one processor call (default
	// DefaultProcessorTimeout).
	ProcessorTimeout time.Duration
	// RecoverAfter is how old a PENDING attempt must be before the
	// processor having no decision for it is taken to mean it never
	// charged (the payment becomes FAILED, and a repeated Charge may try
	// again). It must comfortably exceed ProcessorTimeout, as a younger
	// attempt may still be in flight; values below twice ProcessorTimeout
	// are raised to that. Default DefaultRecoverAfter.
	RecoverAfter time.Duration
	// Metrics registers the domain metrics (service_metrics.go); nil
	// registers nothing.
	Metrics prometheus.Registerer
}

type service struct {
	store            Store
	users            Users
	processor        Processor
	logger           log.Logger
	now              func() time.Time
	processorTimeout time.Duration
	recoverAfter     time.Duration
	metrics          *paymentMetrics
}

// NewService returns the payments service on store. users checks that a
// charge's user exists; nil skips the check, which is logged as a warning.
func NewService(store Store, users Users, opt Options) *service {
	if opt.Processor == nil {
		opt.Processor = NewSimulatedProcessor()
	}
	if opt.Logger == nil {
		opt.Logger = log.NewNopLogger()
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.ProcessorTimeout <= 0 {
		opt.ProcessorTimeout = DefaultProcessorTimeout
	}
	if opt.RecoverAfter <= 0 {
		opt.RecoverAfter = DefaultRecoverAfter
	}
	// Declaring an attempt abandoned while it may still be in flight could
	// record FAILED for a charge the processor is about to approve.
	opt.RecoverAfter = max(opt.RecoverAfter, 2*opt.ProcessorTimeout)
	if users == nil {
		_ = level.Warn(opt.Logger).Log("msg", "charges do not check that their user exists: no users client configured")
	}
	return &service{
		store: store, users: users, processor: opt.Processor, logger: opt.Logger, now: opt.Now,
		processorTimeout: opt.ProcessorTimeout, recoverAfter: opt.RecoverAfter,
		metrics: newPaymentMetrics(opt.Metrics, opt.Logger),
	}
}

// clock is now in UTC at the precision Postgres keeps, so both stores
// return identical timestamps.
func (s *service) clock() time.Time { return s.now().UTC().Truncate(time.Microsecond) }

func (s *service) GetPayment(ctx context.Context, id string) (Payment, error) {
	caller, err := auth.RequireUser(ctx)
	if err != nil {
		return Payment{}, err
	}
	var v errs.Validation
	if id = valid.ID(&v, "id", id); v.Err() != nil {
		return Payment{}, v.Err()
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
