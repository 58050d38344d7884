package saga

import (
	"context"
	"encoding/json"
	"time"
)

// EventKind names a transition an Observer hears of.
type EventKind string

const (
	// EventStepStarted: a forward step is about to act (its start is
	// persisted).
	EventStepStarted EventKind = "step_started"
	// EventStepRetry: an attempt failed with a retryable error; the step
	// (or, when the saga is Compensating, its compensation) backs off and
	// tries again.
	EventStepRetry EventKind = "step_retry"
	// EventStepDone: the step's success is persisted.
	EventStepDone EventKind = "step_done"
	// EventStepFailed: the step failed and the saga turned compensating
	// (persisted).
	EventStepFailed EventKind = "step_failed"
	// EventStepParked: the step's peer stayed unreachable; the saga waits
	// for Resume (Definition.Patience).
	EventStepParked EventKind = "step_parked"
	// EventCompensationStarted: a step's compensation is about to act.
	EventCompensationStarted EventKind = "compensation_started"
	// EventCompensated: the step's compensation is persisted as done.
	EventCompensated EventKind = "compensated"
	// EventCompensationFailed: the compensation ran out of retries; the
	// saga requires attention (persisted).
	EventCompensationFailed EventKind = "compensation_failed"
	// EventFinished: the saga reached a final status (persisted), in this
	// drive.
	EventFinished EventKind = "finished"
)

// Event is one transition of a saga, told to Config.Observe after what it
// reports is persisted (EventStepStarted, EventStepRetry and
// EventCompensationStarted: before the step acts).
type Event struct {
	Kind       EventKind
	SagaID     string
	Definition string
	// Step is the step concerned; empty for EventFinished.
	Step string
	// Status is the saga's status after the event.
	Status Status
	// Attempt counts the step's calls (of Do, Recover or Compensate) in
	// this drive so far.
	Attempt int
	// Elapsed is how long the step (or its compensation) has run in this
	// drive, its attempts and backoffs included; for EventFinished, how
	// long this drive took.
	Elapsed time.Duration
	// Err is the error of EventStepRetry, EventStepFailed,
	// EventStepParked and EventCompensationFailed.
	Err error
	// Data is the saga's shared document; Failure and Attention are the
	// saga's (see State). All three are to be read only.
	Data               json.RawMessage
	Failure, Attention *Problem
}

// observe tells the observer, if any, about kind for step i (-1: the
// saga as a whole).
func (d *driver) observe(ctx context.Context, kind EventKind, i int, attempt int, elapsed time.Duration, err error) {
	if d.e.observe == nil {
		return
	}
	ev := Event{Kind: kind, SagaID: d.st.ID, Definition: d.st.Definition, Status: d.st.Status,
		Attempt: attempt, Elapsed: elapsed, Err: err, Data: d.st.Data,
		Failure: d.st.Failure, Attention: d.st.Attention}
	if i >= 0 {
		ev.Step = d.st.Steps[i].Name
	}
	d.e.observe(ctx, ev)
}
