package saga

import (
	"encoding/json"
	"time"
)

// Status is where a saga stands as a whole.
type Status string

const (
	// Running: forward steps are being (or are to be) driven.
	Running Status = "running"
	// Compensating: a step failed; started steps are being undone.
	Compensating Status = "compensating"
	// Succeeded: every step is done. Final.
	Succeeded Status = "succeeded"
	// Compensated: a step failed and every started step was undone. Final.
	Compensated Status = "compensated"
	// RequiresAttention: a compensation could not be completed; an operator
	// must look (State.Attention says which step and why). Final for the
	// engine: it is never resumed on its own.
	RequiresAttention Status = "requires_attention"
)

// Final reports whether the engine will never drive a saga in s again.
func (s Status) Final() bool {
	return s == Succeeded || s == Compensated || s == RequiresAttention
}

// StepStatus is where one step stands.
type StepStatus string

const (
	StepPending      StepStatus = "pending"
	StepStarted      StepStatus = "started"
	StepDone         StepStatus = "done"
	StepFailed       StepStatus = "failed"
	StepCompensating StepStatus = "compensating"
	StepCompensated  StepStatus = "compensated"
)

// needsCompensation reports whether a step in s may have had an effect
// that is not yet undone. A failed step counts: an earlier attempt of it
// may have timed out after acting.
func (s StepStatus) needsCompensation() bool {
	return s == StepStarted || s == StepDone || s == StepFailed || s == StepCompensating
}

// Problem records a failure durably: the step it happened in and the
// errs kind name and reason code of its error.
type Problem struct {
	Step   string `json:"step"`
	Kind   string `json:"kind"`
	Reason string `json:"reason"`
	// Meta is the error's metadata (errs.Error Meta, as text): what the
	// peer said about its refusal, such as the id of the payment a
	// declined charge recorded, for the saga's projection to keep.
	Meta map[string]string `json:"meta,omitempty"`
}

// StepState is the persisted state of one step.
type StepState struct {
	Name   string     `json:"name"`
	Status StepStatus `json:"status"`
	// Key is the idempotency key the step sends (see Key); persisted so
	// that an operator, or a checker, can look the effect up by it.
	Key string `json:"key"`
	// Attempts counts calls of Do (and of Recover) over the saga's life;
	// CompensationAttempts counts calls of Compensate.
	Attempts             int `json:"attempts"`
	CompensationAttempts int `json:"compensation_attempts"`
	// LastErrKind and LastErrReason are those of the step's last error,
	// forward or compensating; empty after none.
	LastErrKind   string    `json:"last_err_kind,omitempty"`
	LastErrReason string    `json:"last_err_reason,omitempty"`
	UpdatedAt     time.Time `json:"updated_at"`
}

// State is everything the engine persists about one saga. A Store saves
// it as a whole; only Claim and Renew change the lease fields.
type State struct {
	ID         string      `json:"id"`
	Definition string      `json:"definition"`
	Status     Status      `json:"status"`
	Steps      []StepState `json:"steps"`
	// Data is an opaque JSON document the steps share: each Call starts
	// with it, and what a successful Do or Compensate leaves in Call.Data
	// is saved with that step's transition.
	Data json.RawMessage `json:"data,omitempty"`
	// Failure is why the saga compensates (the forward step that failed);
	// Attention is why it requires attention (the compensation that could
	// not be completed). Each is nil until it happens.
	Failure   *Problem `json:"failure,omitempty"`
	Attention *Problem `json:"attention,omitempty"`
	// Trace is the W3C traceparent of the span the saga's drives
	// continue (kit/tracing.Traceparent of the request that created it),
	// so that a saga resumed by another instance after a crash stays in
	// its order's trace, sampled or not as the edge decided. Creators set
	// it with NewState's result; a drive of a saga without one starts a
	// trace and records it here (Config.Tracer).
	Trace string `json:"trace,omitempty"`
	// RequestID is the id of the request that created the saga
	// (kit/logx.RequestID), carried on by its drives like Trace, so that
	// the calls they make, and the lines logged about them, name it.
	RequestID string `json:"request_id,omitempty"`
	// Version increases with every save; Save refuses a stale one.
	Version int64 `json:"version"`
	// LeaseOwner holds the saga until LeaseExpiry; empty when nobody does.
	LeaseOwner  string    `json:"lease_owner,omitempty"`
	LeaseExpiry time.Time `json:"lease_expiry"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// Key is the idempotency key of step name in saga sagaID: the same on
// every attempt, every recovery and every instance.
func Key(sagaID, step string) string {
	return sagaID + "/" + step
}

// NewState is the initial state of saga id under def, with the steps'
// shared data. The caller persists it (for example in the transaction that
// creates its own row) and then calls Engine.Run.
func NewState(def *Definition, id string, data json.RawMessage, now time.Time) State {
	steps := make([]StepState, len(def.Steps))
	for i, s := range def.Steps {
		steps[i] = StepState{Name: s.Name, Status: StepPending, Key: Key(id, s.Name), UpdatedAt: now}
	}
	return State{ID: id, Definition: def.Name, Status: Running, Steps: steps,
		Data: clone(data), CreatedAt: now, UpdatedAt: now}
}

// Clone returns a deep copy of s, so that a copy handed to a callback or
// kept by a store does not alias the engine's.
func (s State) Clone() State {
	c := s
	c.Steps = append([]StepState(nil), s.Steps...)
	c.Data = clone(s.Data)
	if s.Failure != nil {
		f := *s.Failure
		c.Failure = &f
	}
	if s.Attention != nil {
		a := *s.Attention
		c.Attention = &a
	}
	return c
}

func clone(b json.RawMessage) json.RawMessage {
	if b == nil {
		return nil
	}
	return append(json.RawMessage(nil), b...)
}
