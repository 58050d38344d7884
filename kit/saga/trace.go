package saga

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/tracing"
)

// Spans (Config.Tracer): each drive of a saga is a span named
// "saga <definition>", child of the span State.Trace names (the request
// that created the saga, whichever instance drives it and however much
// later), and each step it drives is a child span, "saga step <name>" or
// "saga compensate <name>", under which the step's own calls appear. A
// trace the edge decided not to sample stays unsampled: the persisted
// traceparent carries the decision.

// Span tags. The error tags are kit/mw's, so that a trace reads the same
// above and below the saga.
const (
	TagSagaID     = "saga.id"
	TagDefinition = "saga.definition"
	// TagStatus is the saga's status when the drive ended.
	TagStatus = "saga.status"
	// TagResumed marks a drive that found the saga already under way: a
	// resume after a crash, a lost lease or a park.
	TagResumed = "saga.resumed"
	// TagOutcome is how a step's span ended: done, failed, parked,
	// compensated, or stopped (the drive ended first).
	TagOutcome  = "saga.step.outcome"
	TagAttempts = "saga.step.attempts"
	// TagRecovered is Recover's verdict on a step whose outcome a crash
	// lost: done or not_done.
	TagRecovered   = "saga.step.recovered"
	TagErrorKind   = "kitshop.error.kind"
	TagErrorReason = "kitshop.error.reason"
)

// Step span outcomes (TagOutcome).
const (
	OutcomeDone        = "done"
	OutcomeFailed      = "failed"
	OutcomeParked      = "parked"
	OutcomeCompensated = "compensated"
	OutcomeStopped     = "stopped"
)

// startDrive starts the drive's span and returns ctx carrying it; without
// a tracer, ctx and a nil span. A saga that carries no trace yet takes
// the drive's, so that later drives continue it.
func (e *Engine) startDrive(ctx context.Context, st *State) (context.Context, zipkin.Span) {
	if e.tracer == nil {
		return ctx, nil
	}
	name := "saga " + st.Definition
	var sp zipkin.Span
	if parent, ok := tracing.ParseTraceparent(st.Trace); ok {
		sp = tracing.StartSpan(e.tracer, parent, name)
		ctx = zipkin.NewContext(ctx, sp)
	} else {
		sp, ctx = tracing.StartChild(ctx, e.tracer, name)
		st.Trace = tracing.FormatTraceparent(sp.Context())
	}
	if tracing.Records(sp) {
		sp.Tag(TagSagaID, st.ID)
		sp.Tag(TagDefinition, st.Definition)
		if underWay(st) {
			sp.Tag(TagResumed, "true")
		}
	}
	return ctx, sp
}

// underWay reports whether any step of st has moved.
func underWay(st *State) bool {
	for _, s := range st.Steps {
		if s.Status != StepPending {
			return true
		}
	}
	return false
}

func endDrive(sp zipkin.Span, st State, err error) {
	if sp == nil {
		return
	}
	if tracing.Records(sp) {
		sp.Tag(TagStatus, string(st.Status))
		if err != nil {
			sp.Tag(TagDriveEnd, driveEnd(err))
		}
	}
	sp.Finish()
}

// TagDriveEnd says why a drive ended before the saga was final.
const TagDriveEnd = "saga.drive.end"

// driveEnd classifies the error a drive ended with, for TagDriveEnd: a
// parked saga or a lost lease is a normal turn of events, not a fault to
// paint red.
func driveEnd(err error) string {
	switch {
	case errors.Is(err, ErrParked):
		return "parked"
	case errors.Is(err, ErrLeaseLost):
		return "lease_lost"
	case errors.Is(err, ErrLeaseHeld):
		return "lease_held"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "stopped"
	}
	return "error"
}

// stepRun is the step (or compensation) being driven: its span and the
// context carrying it, which its calls and the saves that record it use.
type stepRun struct {
	i            int
	compensating bool
	ctx          context.Context
	span         zipkin.Span // nil without a tracer
	began        time.Time
	attempts     int
}

// beginStep makes step i the current one, with its span.
func (d *driver) beginStep(i int, compensating bool) *stepRun {
	r := &stepRun{i: i, compensating: compensating, ctx: d.ctx, began: d.e.now()}
	if d.e.tracer != nil {
		prefix := "saga step "
		if compensating {
			prefix = "saga compensate "
		}
		r.span, r.ctx = tracing.StartChild(d.ctx, d.e.tracer, prefix+d.st.Steps[i].Name)
	}
	d.cur = r
	return r
}

// endStep ends the current step's span with outcome (and err, the error
// the step ended with, if any).
func (d *driver) endStep(outcome string, err error) {
	r := d.cur
	d.cur = nil
	if r == nil || r.span == nil {
		return
	}
	if tracing.Records(r.span) {
		r.span.Tag(TagOutcome, outcome)
		r.span.Tag(TagAttempts, strconv.Itoa(r.attempts))
		if err != nil {
			tagError(r.span, err)
		}
	}
	r.span.Finish()
}

// annotate notes a moment of the current step on its span.
func (d *driver) annotate(what string) {
	if d.cur != nil && d.cur.span != nil && tracing.Records(d.cur.span) {
		d.cur.span.Annotate(d.e.now(), what)
	}
}

// tag sets a tag on the current step's span.
func (d *driver) tag(key, value string) {
	if d.cur != nil && d.cur.span != nil && tracing.Records(d.cur.span) {
		d.cur.span.Tag(key, value)
	}
}

// tagError tags err's kind and reason, never its message (which may
// quote a value); only an infrastructure failure sets Zipkin's error tag,
// as kit/mw does: a declined card is an answer, not a fault.
func tagError(sp zipkin.Span, err error) {
	e := errs.As(err)
	sp.Tag(TagErrorKind, e.Kind.String())
	if e.Reason != "" {
		sp.Tag(TagErrorReason, e.Reason)
	}
	if errs.IsInfrastructure(err) {
		zipkin.TagError.Set(sp, e.Kind.String())
	}
}

// stepCtx is the context of the step being driven, else the drive's.
func (d *driver) stepCtx() context.Context {
	if d.cur != nil {
		return d.cur.ctx
	}
	return d.ctx
}
