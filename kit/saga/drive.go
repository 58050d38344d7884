package saga

import (
	"context"
	"errors"
	"fmt"

	"github.com/kitshop/kitshop/kit/errs"
)

// driver drives one claimed saga. Every method that changes st saves it
// before returning, so the next step only ever starts from persisted state.
type driver struct {
	e   *Engine
	def *Definition
	st  *State
	ctx context.Context // the caller's, cancelled also when the lease is lost
	// saved is st as last persisted: what Run returns, whatever st holds
	// after a failed save or an interrupted step.
	saved State
	// fresh is the step this drive marked started and has not run yet
	// (-1: none). Such a step's outcome is not lost, so it is not asked
	// to Recover: started is only a promise made before acting.
	fresh int
	// cur is the step being driven, if any (trace.go).
	cur *stepRun
	// failure is the error fail recorded, for the observer and the span.
	failure error
}

func (d *driver) drive() error {
	for {
		// Checked before every step, so that no step is marked started
		// for a drive that is already over.
		if d.ctx.Err() != nil {
			return d.stopped()
		}
		switch d.st.Status {
		case Running:
			i := d.nextForward()
			if i < 0 {
				d.st.Status = Succeeded
				return d.save()
			}
			if err := d.forward(i); err != nil {
				return err
			}
		case Compensating:
			return d.compensate()
		default:
			return nil
		}
	}
}

// nextForward is the first step not done, or -1.
func (d *driver) nextForward() int {
	for i, s := range d.st.Steps {
		if s.Status != StepDone {
			return i
		}
	}
	return -1
}

// forward drives step i to done or, failing, the saga to compensating,
// within the step's span, and tells the observer how it went.
func (d *driver) forward(i int) error {
	r := d.beginStep(i, false)
	err := d.forwardStep(i)
	ss := &d.st.Steps[i]
	elapsed := d.e.now().Sub(r.began)
	switch {
	case err == nil && ss.Status == StepDone:
		d.observe(r.ctx, EventStepDone, i, r.attempts, elapsed, nil)
		d.endStep(OutcomeDone, nil)
	case err == nil && ss.Status == StepFailed:
		failure := d.failure
		d.observe(r.ctx, EventStepFailed, i, r.attempts, elapsed, failure)
		d.endStep(OutcomeFailed, failure)
	case errors.Is(err, ErrParked):
		d.observe(r.ctx, EventStepParked, i, r.attempts, elapsed, err)
		d.endStep(OutcomeParked, err)
	default:
		d.endStep(OutcomeStopped, nil)
	}
	return err
}

func (d *driver) forwardStep(i int) error {
	step, ss := &d.def.Steps[i], &d.st.Steps[i]
	if ss.Status == StepStarted && step.Recover != nil && d.fresh != i {
		// The step's outcome was lost: ask before acting again.
		var outcome Outcome
		call, failure, stop := d.try(i, false, func(ctx context.Context, c *Call) error {
			o, err := step.Recover(ctx, c)
			if err == nil && o == Unknown {
				err = errUnknown
			}
			outcome = o
			return err
		})
		switch {
		case stop != nil:
			return stop
		case failure != nil:
			return d.failOrPark(i, failure)
		case outcome == Done:
			d.tag(TagRecovered, "done")
			return d.done(i, call)
		}
		// NotDone: run Do, with the same key, as below.
		d.tag(TagRecovered, "not_done")
	}
	if ss.Status == StepPending {
		d.setStep(i, StepStarted)
		if err := d.save(); err != nil {
			return err
		}
	}
	d.fresh = -1
	d.observe(d.stepCtx(), EventStepStarted, i, d.cur.attempts, 0, nil)
	call, failure, stop := d.try(i, false, step.Do)
	switch {
	case stop != nil:
		return stop
	case failure != nil:
		return d.failOrPark(i, failure)
	}
	return d.done(i, call)
}

// done records step i's success. When the drive goes on, the next step is
// marked started in the same save, and after the last step the saga is
// marked succeeded: each fact is durable before anything acts on it, as
// the guarantees ask, for one write instead of two.
func (d *driver) done(i int, call *Call) error {
	d.setStep(i, StepDone)
	d.st.Data = call.Data
	switch next := d.nextForward(); {
	case next < 0:
		d.st.Status = Succeeded
	case d.st.Steps[next].Status == StepPending && d.ctx.Err() == nil:
		d.setStep(next, StepStarted)
		d.fresh = next
	}
	return d.save()
}

// failOrPark fails step i, unless the saga may still wait for its peer:
// see Definition.Patience. A parked saga keeps the step as it was and
// lets its lease run out ParkFor from now, so that Resume drives it
// again then, here or on another instance.
func (d *driver) failOrPark(i int, err error) error {
	if !d.mayPark(&d.def.Steps[i], err) {
		return d.fail(i, err)
	}
	if serr := d.save(); serr != nil {
		return serr
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), saveTimeout)
	defer cancel()
	if rerr := d.e.store.Renew(ctx, d.st.ID, d.e.owner, d.e.now().Add(d.e.park)); rerr != nil {
		return fmt.Errorf("saga %s: park: %w", d.st.ID, rerr)
	}
	return fmt.Errorf("saga %s: step %s: %w: %w", d.st.ID, d.st.Steps[i].Name, ErrParked, err)
}

// mayPark reports whether a forward step that ran out of retries on err
// should wait for its peer rather than fail the saga.
func (d *driver) mayPark(step *Step, err error) bool {
	return d.def.Patience > 0 && retryable(step, err) && errs.IsInfrastructure(err) &&
		d.e.now().Sub(d.st.CreatedAt) < d.def.Patience
}

// fail records why step i failed and turns the saga to compensating, in
// one save: a saga is never seen failed without being compensated.
func (d *driver) fail(i int, err error) error {
	d.failure = err
	d.setStep(i, StepFailed)
	d.st.Failure = problem(d.st.Steps[i].Name, err)
	d.st.Status = Compensating
	return d.save()
}

// compensate undoes, last first, every step that may have had an effect.
func (d *driver) compensate() error {
	for i := len(d.st.Steps) - 1; i >= 0; i-- {
		step, ss := &d.def.Steps[i], &d.st.Steps[i]
		if !ss.Status.needsCompensation() {
			continue
		}
		if d.ctx.Err() != nil {
			return d.stopped()
		}
		if step.Compensate == nil {
			d.setStep(i, StepCompensated)
			if err := d.save(); err != nil {
				return err
			}
			continue
		}
		if done, err := d.compensateStep(i); err != nil || done {
			return err
		}
	}
	d.st.Status = Compensated
	return d.save()
}

// compensateStep runs step i's compensation within its span. done is set
// when the saga may go no further: it requires attention.
func (d *driver) compensateStep(i int) (done bool, err error) {
	step, ss := &d.def.Steps[i], &d.st.Steps[i]
	r := d.beginStep(i, true)
	if ss.Status != StepCompensating {
		d.setStep(i, StepCompensating)
		if err := d.save(); err != nil {
			d.endStep(OutcomeStopped, nil)
			return false, err
		}
	}
	d.observe(r.ctx, EventCompensationStarted, i, 0, 0, nil)
	call, failure, stop := d.try(i, true, step.Compensate)
	switch {
	case stop != nil:
		d.endStep(OutcomeStopped, nil)
		return false, stop
	case failure != nil:
		d.st.Attention = problem(ss.Name, failure)
		d.st.Status = RequiresAttention
		if err := d.save(); err != nil {
			d.endStep(OutcomeStopped, nil)
			return false, err
		}
		d.observe(r.ctx, EventCompensationFailed, i, r.attempts, d.e.now().Sub(r.began), failure)
		d.endStep(OutcomeFailed, failure)
		return true, nil
	}
	d.setStep(i, StepCompensated)
	d.st.Data = call.Data
	if err := d.save(); err != nil {
		d.endStep(OutcomeStopped, nil)
		return false, err
	}
	d.observe(r.ctx, EventCompensated, i, r.attempts, d.e.now().Sub(r.began), nil)
	d.endStep(OutcomeCompensated, nil)
	return false, nil
}

func (d *driver) setStep(i int, s StepStatus) {
	d.st.Steps[i].Status = s
	d.st.Steps[i].UpdatedAt = d.e.now()
}

// save persists st and reports it. It saves even when the caller's context
// has just ended, within saveTimeout: an outcome already known is cheaper
// to record than to recover.
func (d *driver) save() error {
	d.st.UpdatedAt = d.e.now()
	// The step's context, when one is being driven: the save that
	// records its outcome shows up in its span.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.stepCtx()), saveTimeout)
	defer cancel()
	err := d.e.store.Save(ctx, d.st)
	switch {
	case errors.Is(err, ErrConflict):
		// Only a lease holder saves: a conflict means another engine
		// claimed the saga after this one's lease expired.
		return fmt.Errorf("saga %s: %w: %w", d.st.ID, ErrLeaseLost, err)
	case err != nil:
		return fmt.Errorf("saga %s: save: %w", d.st.ID, err)
	}
	d.saved = d.st.Clone()
	if d.e.onTransition != nil {
		d.e.onTransition(d.st.Clone())
	}
	return nil
}

// stopped is the error Run returns when d.ctx ended.
func (d *driver) stopped() error {
	cause := context.Cause(d.ctx)
	if errors.Is(cause, ErrLeaseLost) {
		return fmt.Errorf("saga %s: %w", d.st.ID, ErrLeaseLost)
	}
	return fmt.Errorf("saga %s: stopped, left %s: %w", d.st.ID, d.st.Status, cause)
}

func problem(step string, err error) *Problem {
	e := errs.As(err)
	p := &Problem{Step: step, Kind: e.Kind.String(), Reason: e.Reason}
	for k := range e.Meta {
		if p.Meta == nil {
			p.Meta = map[string]string{}
		}
		p.Meta[k] = e.MetaString(k)
	}
	return p
}
