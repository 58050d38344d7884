package saga

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Definition is a named, ordered list of steps. Its Name is persisted with
// every saga, so that any instance can resume it: register the same
// definitions on every instance, and rename a definition (rather than
// reorder its steps) when it changes incompatibly.
type Definition struct {
	Name  string
	Steps []Step
	// Patience, when set, is how long after its creation a saga waits out
	// an unreachable peer. A forward step that runs out of its retries on
	// an infrastructure failure (errs.IsInfrastructure: the peer is down,
	// its breaker is open, it timed out; not a deliberate transient answer
	// such as a card processor's, which is Expected) does not fail the
	// saga while it is younger than Patience: the drive stops with
	// ErrParked and Resume tries again after Config.ParkFor. Past
	// Patience, the step fails and the saga compensates, as it always
	// does when Patience is zero.
	Patience time.Duration
}

// Step is one action of a saga.
type Step struct {
	// Name identifies the step within its definition and, with the saga
	// id, derives its idempotency key; it must not change once sagas run.
	Name string
	// Do is the forward action. It must be idempotent by call.Key: it may
	// run again after a crash that lost its outcome.
	Do func(ctx context.Context, call *Call) error
	// Compensate, when set, undoes Do. It must be idempotent by call.Key
	// and must succeed when Do never had an effect: a step is compensated
	// whenever it may have started.
	Compensate func(ctx context.Context, call *Call) error
	// Recover, when set, decides the fate of a step found started on
	// recovery (its outcome lost in a crash), for example by looking the
	// effect up by call.Key. Without it, the engine runs Do again. A
	// non-nil error is classified like one from Do: a retryable one is
	// retried, any other fails the step and compensates the saga.
	Recover func(ctx context.Context, call *Call) (Outcome, error)
	// Transient, when set, marks further errors of this step retryable
	// (beyond Unavailable and DeadlineExceeded, which always are).
	Transient func(error) bool
	// Retry bounds the attempts of Do and Recover, and of Compensate
	// unless CompensateRetry is set: an undo usually deserves more patience
	// than the action, since its alternative is an operator.
	Retry           Retry
	CompensateRetry Retry
}

// Outcome is Recover's verdict on a step whose outcome was lost.
type Outcome int

const (
	// Unknown: the effect cannot be established yet; asked again after a
	// backoff, like a retryable error.
	Unknown Outcome = iota
	// Done: the effect happened; the step is marked done and the saga goes
	// on (Recover may have set call.Data, which is saved).
	Done
	// NotDone: the effect did not happen; Do runs (again) with the same key.
	NotDone
)

// Call is what a step function sees of its saga.
type Call struct {
	SagaID string
	Step   string
	// Key is the step's idempotency key, the same on every attempt.
	Key string
	// Attempt counts from 1 within this drive of the step.
	Attempt int
	// Data is the saga's shared JSON document. A step may replace it; the
	// new value is saved with the step's success and is lost otherwise.
	Data json.RawMessage
}

// Decode unmarshals the shared data into v; empty data leaves v as is.
func (c *Call) Decode(v any) error {
	if len(c.Data) == 0 {
		return nil
	}
	return json.Unmarshal(c.Data, v)
}

// Encode replaces the shared data with v's JSON.
func (c *Call) Encode(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	c.Data = b
	return nil
}

// Retry bounds how a step function is repeated after retryable errors.
// The zero value takes DefaultRetry's fields.
type Retry struct {
	// Attempts is the most calls per drive, the first included.
	Attempts int
	// Backoff before retry n is drawn uniformly from (0, min(Max,
	// Base·2^(n-1))]: full jitter, so sagas that failed together do not
	// retry together.
	Base, Max time.Duration
	// Budget bounds the whole of one step's attempts and backoffs; each
	// attempt's context is cut to what is left of it.
	Budget time.Duration
}

// DefaultRetry suits calls to a peer service over a short outage.
var DefaultRetry = Retry{Attempts: 5, Base: 100 * time.Millisecond, Max: 2 * time.Second, Budget: 30 * time.Second}

func (r Retry) withDefaults() Retry {
	if r.Attempts < 1 {
		r.Attempts = DefaultRetry.Attempts
	}
	if r.Base <= 0 {
		r.Base = DefaultRetry.Base
	}
	if r.Max < r.Base {
		r.Max = max(r.Base, DefaultRetry.Max)
	}
	if r.Budget <= 0 {
		r.Budget = DefaultRetry.Budget
	}
	return r
}

// validate reports a definition the engine could not drive.
func (d *Definition) validate() error {
	if d == nil || d.Name == "" {
		return errors.New("saga: definition without a name")
	}
	if len(d.Steps) == 0 {
		return fmt.Errorf("saga: definition %q has no steps", d.Name)
	}
	seen := make(map[string]bool, len(d.Steps))
	for _, s := range d.Steps {
		switch {
		case s.Name == "":
			return fmt.Errorf("saga: definition %q has a step without a name", d.Name)
		case seen[s.Name]:
			return fmt.Errorf("saga: definition %q has two steps named %q", d.Name, s.Name)
		case s.Do == nil:
			return fmt.Errorf("saga: step %q of %q has no Do", s.Name, d.Name)
		}
		seen[s.Name] = true
	}
	return nil
}
