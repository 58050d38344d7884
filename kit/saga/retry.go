package saga

import (
	"context"
	"math/rand/v2"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// ReasonOutcomeUnknown is the reason recorded while Recover answers Unknown.
const ReasonOutcomeUnknown = "SAGA_OUTCOME_UNKNOWN"

// errUnknown turns Recover's Unknown into a retryable error.
var errUnknown = errs.New(errs.Unavailable, ReasonOutcomeUnknown, "step outcome not established yet")

// retryable reports whether err may go away by itself. Unavailable and
// DeadlineExceeded always may, Expected or not: Expected only keeps a
// callee's deliberate answer (a card processor's transient error) off its
// breaker, and such an answer is worth another attempt. Anything else is a
// business outcome unless the step's Transient says otherwise.
func retryable(step *Step, err error) bool {
	switch errs.KindOf(err) {
	case errs.Unavailable, errs.DeadlineExceeded:
		return true
	}
	return step.Transient != nil && step.Transient(err)
}

// backoff before retry n (1 for the first): full jitter over an
// exponential ceiling, as in kit/sd.
func backoff(r Retry, n int) time.Duration {
	d := r.Base << min(n-1, 30)
	if d > r.Max || d <= 0 {
		d = r.Max
	}
	return time.Duration(rand.Int64N(int64(d))) + 1
}

// try calls fn under step i's retry policy. It returns the successful
// call; or failure, the error that ended the step (not retryable, or out
// of attempts or budget); or stop, when the drive must end without a
// verdict (the context ended). Attempts and the last error are counted in
// the in-memory state and saved with the next transition.
func (d *driver) try(i int, compensating bool, fn func(context.Context, *Call) error) (call *Call, failure, stop error) {
	step, ss := &d.def.Steps[i], &d.st.Steps[i]
	r := step.Retry
	if compensating && step.CompensateRetry != (Retry{}) {
		r = step.CompensateRetry
	}
	r = r.withDefaults()
	deadline := d.e.now().Add(r.Budget)
	for n := 1; ; n++ {
		if compensating {
			ss.CompensationAttempts++
		} else {
			ss.Attempts++
		}
		if d.cur != nil {
			d.cur.attempts++
		}
		call := &Call{SagaID: d.st.ID, Step: step.Name, Key: ss.Key, Attempt: n, Data: clone(d.st.Data)}
		actx, cancel := context.WithTimeout(d.stepCtx(), deadline.Sub(d.e.now()))
		err := fn(actx, call)
		cancel()
		if err == nil {
			return call, nil, nil
		}
		if d.ctx.Err() != nil {
			return nil, nil, d.stopped()
		}
		e := errs.As(err)
		ss.LastErrKind, ss.LastErrReason = e.Kind.String(), e.Reason
		if !retryable(step, err) || n >= r.Attempts {
			return nil, err, nil
		}
		wait := backoff(r, n)
		if d.e.now().Add(wait).After(deadline) {
			return nil, err, nil
		}
		d.annotate("retry after " + e.Kind.String() + " " + e.Reason)
		if d.cur != nil {
			d.observe(d.cur.ctx, EventStepRetry, i, n, d.e.now().Sub(d.cur.began), err)
		}
		if err := d.e.sleep(d.ctx, wait); err != nil {
			return nil, nil, d.stopped()
		}
	}
}
