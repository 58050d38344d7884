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

// forward drives step i to done or, failing, the saga to compensating.
func (d *driver) forward(i int) error {
	step, ss := &d.def.Steps[i], &d.st.Steps[i]
	if ss.Status == StepStarted && step.Recover != nil {
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
			return d.fail(i, failure)
		case outcome == Done:
			return d.done(i, call)
		}
		// NotDone: run Do, with the same key, as below.
	}
	if ss.Status == StepPending {
		d.setStep(i, StepStarted)
		if err := d.save(); err != nil {
			return err
		}
	}
	call, failure, stop := d.try(i, false, step.Do)
	switch {
	case stop != nil:
		return stop
	case failure != nil:
		return d.fail(i, failure)
	}
	return d.done(i, call)
}

func (d *driver) done(i int, call *Call) error {
	d.setStep(i, StepDone)
	d.st.Data = call.Data
	return d.save()
}

// fail records why step i failed and turns the saga to compensating, in
// one save: a saga is never seen failed without being compensated.
func (d *driver) fail(i int, err error) error {
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
		if ss.Status != StepCompensating {
			d.setStep(i, StepCompensating)
			if err := d.save(); err != nil {
				return err
			}
		}
		call, failure, stop := d.try(i, true, step.Compensate)
		switch {
		case stop != nil:
			return stop
		case failure != nil:
			d.st.Attention = problem(ss.Name, failure)
			d.st.Status = RequiresAttention
			return d.save()
		}
		d.setStep(i, StepCompensated)
		d.st.Data = call.Data
		if err := d.save(); err != nil {
			return err
		}
	}
	d.st.Status = Compensated
	return d.save()
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
	ctx, cancel := context.WithTimeout(context.WithoutCancel(d.ctx), saveTimeout)
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
	return &Problem{Step: step, Kind: e.Kind.String(), Reason: e.Reason}
}
