package errs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"
)

// Reasons every service shares. Services define their own next to their
// domain (EMAIL_TAKEN, INSUFFICIENT_STOCK, ...).
const (
	ReasonValidation  = "VALIDATION_FAILED"
	ReasonInternal    = "INTERNAL"
	ReasonUnavailable = "UNAVAILABLE"
	ReasonDeadline    = "DEADLINE_EXCEEDED"
	ReasonCanceled    = "CANCELED"
	ReasonNotFound    = "NOT_FOUND"
	ReasonRateLimited = "RATE_LIMITED"
	ReasonUnauth      = "UNAUTHENTICATED"
	ReasonForbidden   = "PERMISSION_DENIED"
	// ReasonIdempotencyKeyReused: a retried request's key names a different
	// request. Every idempotent operation answers it the same way.
	ReasonIdempotencyKeyReused = "IDEMPOTENCY_KEY_REUSED"
)

// ErrIdempotencyKeyReused is 422 over HTTP, as API.md gives it for orders.
var ErrIdempotencyKeyReused = New(FailedPrecondition, ReasonIdempotencyKeyReused,
	"idempotency key was used for a different request").WithStatus(422)

// FieldViolation names one invalid input field, as in google.rpc.BadRequest.
type FieldViolation struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// Error is a classified error. Message is safe to show a client; Err, the
// cause, is for logs only and never leaves the process.
type Error struct {
	Kind    Kind
	Reason  string
	Message string
	Fields  []FieldViolation
	// Meta is extra machine-readable context (product_id, available, ...).
	// It travels as problem+json members and over gRPC (see ToGRPC).
	// Values are JSON scalars, so that a problem keeps their JSON type
	// ("available": 15, not "15"), and are one of four Go types:
	//   - string;
	//   - int64, for every integer (With converts int, int32, uint16, ...);
	//   - float64, always finite (JSON has no NaN or infinities);
	//   - bool.
	// Set it through With, which normalises values; encoders normalise
	// anything else they find here (see MetaValues).
	Meta map[string]any
	// Status overrides Kind's HTTP status when non-zero (402 for payments).
	Status int
	// Expected marks a failure the callee reported deliberately while
	// healthy, such as a card processor's transient error on one charge.
	// It keeps its kind (clients still retry an Unavailable), but breakers
	// and load-balancer retries do not count it against the callee.
	Expected bool
	// Details are public, structured context a client may need beyond
	// Meta's scalars: whole messages, such as the order a declined
	// checkout left behind. Over gRPC each is a status detail of its own
	// type (see ToGRPC); over HTTP a route may render them as problem
	// members (kit/rest's Spec.ErrorDetails). Add them with WithDetail.
	// They are shown to the caller, so nothing secret belongs here.
	Details []proto.Message
	Err     error
}

// New returns an error of the given kind and reason.
func New(kind Kind, reason, msg string) *Error {
	return &Error{Kind: kind, Reason: reason, Message: msg}
}

// Newf is New with a formatted message.
func Newf(kind Kind, reason, format string, args ...any) *Error {
	return New(kind, reason, fmt.Sprintf(format, args...))
}

// Wrap classifies a cause. The cause's text stays out of Message on purpose:
// it may name hosts, SQL or other internals.
func Wrap(kind Kind, reason string, cause error, msg string) *Error {
	return &Error{Kind: kind, Reason: reason, Message: msg, Err: cause}
}

// Internalf wraps an unexpected failure. Clients see only "internal error".
func Internalf(cause error, format string, args ...any) *Error {
	return &Error{Kind: Internal, Reason: ReasonInternal, Message: "internal error",
		Err: fmt.Errorf(format+": %w", append(args, cause)...)}
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.String())
	if e.Reason != "" {
		b.WriteString(" " + e.Reason)
	}
	if e.Message != "" {
		b.WriteString(": " + e.Message)
	}
	for _, f := range e.Fields {
		b.WriteString("; " + f.Field + " " + f.Message)
	}
	if e.Err != nil {
		b.WriteString(": " + e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// With returns a copy of e with one more metadata entry. Integers of any
// Go type become int64 and float32 becomes float64; a value of any other
// type (a struct, a NaN, an integer beyond int64) is stored as its
// fmt.Sprint text, because Meta only holds JSON scalars.
func (e *Error) With(key string, value any) *Error {
	c := *e
	c.Meta = make(map[string]any, len(e.Meta)+1)
	for k, v := range e.Meta {
		c.Meta[k] = v
	}
	c.Meta[key] = metaValue(value)
	return &c
}

// WithDetail returns a copy of e with one more detail (see Details). The
// copy has its own slice, so details added to e or to other copies never
// show up in it. A nil m is ignored.
func (e *Error) WithDetail(m proto.Message) *Error {
	c := *e
	if m == nil || !m.ProtoReflect().IsValid() {
		return &c
	}
	c.Details = append(slices.Clip(e.Details), m)
	return &c
}

// AsExpected returns a copy of e marked Expected.
func (e *Error) AsExpected() *Error {
	c := *e
	c.Expected = true
	return &c
}

// WithStatus returns a copy of e whose HTTP status is status.
func (e *Error) WithStatus(status int) *Error {
	c := *e
	c.Status = status
	return &c
}

// Is makes errors.Is match on kind and reason, so services can declare
// sentinel errors (var ErrEmailTaken = errs.New(...)) and still attach
// metadata or causes to the values they return.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Kind == e.Kind && t.Reason == e.Reason
}

// HTTPStatus is the status a client sees for e.
func (e *Error) HTTPStatus() int {
	if e.Status != 0 {
		return e.Status
	}
	return e.Kind.HTTPStatus()
}

// As classifies any error. Unclassified errors become Internal, except the
// context errors, which keep their meaning.
func As(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return Wrap(DeadlineExceeded, ReasonDeadline, err, "deadline exceeded")
	case errors.Is(err, context.Canceled):
		return Wrap(Canceled, ReasonCanceled, err, "request canceled")
	}
	if e := fromStatusError(err); e != nil {
		return e
	}
	return Internalf(err, "unclassified")
}

// KindOf is As(err).Kind; nil has no kind and reports Internal.
func KindOf(err error) Kind {
	if err == nil {
		return Internal
	}
	return As(err).Kind
}

// ReasonOf is As(err).Reason, or "" for nil.
func ReasonOf(err error) string {
	if err == nil {
		return ""
	}
	return As(err).Reason
}

// IsInfrastructure reports whether err should count against the callee's
// health (breakers, retries). Business outcomes never do.
func IsInfrastructure(err error) bool {
	if err == nil {
		return false
	}
	e := As(err)
	return e.Kind.Infrastructure() && !e.Expected
}
