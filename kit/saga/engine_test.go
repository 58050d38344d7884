package saga_test

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/saga"
)

var (
	errDeclined    = errs.New(errs.FailedPrecondition, "CARD_DECLINED", "declined")
	errUnavailable = errs.New(errs.Unavailable, errs.ReasonUnavailable, "down")
)

func always(err error) func(int) error { return func(int) error { return err } }

// failFirst fails the first n attempts with err.
func failFirst(n int, err error) func(int) error {
	return func(a int) error {
		if a <= n {
			return err
		}
		return nil
	}
}

func TestHappyPathPersistsStartedBeforeEachCall(t *testing.T) {
	w := newWorld(t)
	type shared struct{ Price int }
	b := w.step("b", nil)
	doB := b.Do
	b.Do = func(ctx context.Context, c *saga.Call) error {
		if c.Key != "s1/b" {
			t.Errorf("step b got key %q, want s1/b", c.Key)
		}
		// The step's state is persisted as started before it runs.
		if st := w.load(c.SagaID); st.Steps[1].Status != saga.StepStarted {
			t.Errorf("step b runs while persisted %s", st.Steps[1].Status)
		}
		if err := c.Encode(shared{Price: 42}); err != nil {
			return err
		}
		return doB(ctx, c)
	}
	c := w.step("c", nil)
	doC := c.Do
	var seen shared
	c.Do = func(ctx context.Context, call *saga.Call) error {
		if err := call.Decode(&seen); err != nil {
			return err
		}
		return doC(ctx, call)
	}
	d := def(w.step("a", nil), b, c)
	w.start(d, "s1")
	st, err := w.engine("e1", d).Run(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, saga.Succeeded, saga.StepDone, saga.StepDone, saga.StepDone)
	wantStatus(t, w.load("s1"), saga.Succeeded)
	wantLog(t, w.effects(), "do:a", "do:b", "do:c")
	if seen.Price != 42 {
		t.Errorf("step c read price %d from the shared data, want 42", seen.Price)
	}
	if got := string(w.load("s1").Data); got != `{"Price":42}` {
		t.Errorf("persisted data %s", got)
	}
	// a started; a done with b started; b done with c started; c done
	// with the saga succeeded.
	if n := len(w.transitions); n != 4 {
		t.Errorf("%d transitions reported, want 4", n)
	}
	if last := w.transitions[len(w.transitions)-1]; last.Status != saga.Succeeded {
		t.Errorf("last transition %s", last.Status)
	}
}

func TestBusinessFailureCompensatesInReverse(t *testing.T) {
	w := newWorld(t)
	first := w.step("validate", nil)
	first.Compensate = nil // nothing to undo: marked compensated without a call
	d := def(first, w.step("reserve", nil), w.step("charge", always(errDeclined)), w.step("commit", nil))
	w.start(d, "s1")
	st, err := w.engine("e1", d).Run(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, saga.Compensated, saga.StepCompensated, saga.StepCompensated, saga.StepCompensated, saga.StepPending)
	// The failed step is compensated too (a refund of nothing is safe and
	// an earlier attempt may have acted); then the others, last first.
	wantLog(t, w.effects(), "do:validate", "do:reserve", "undo:charge", "undo:reserve")
	if st.Steps[2].Attempts != 1 || len(w.slept) != 0 {
		t.Errorf("business error retried: %d attempts, slept %v", st.Steps[2].Attempts, w.slept)
	}
	want := saga.Problem{Step: "charge", Kind: "FailedPrecondition", Reason: "CARD_DECLINED"}
	if st.Failure == nil || !reflect.DeepEqual(*st.Failure, want) {
		t.Errorf("Failure = %+v, want %+v", st.Failure, want)
	}
	if st.Attention != nil {
		t.Errorf("Attention = %+v", st.Attention)
	}
}

func TestTransientFailureRetriedThenSucceeds(t *testing.T) {
	for name, err := range map[string]error{
		"Unavailable":         errUnavailable,
		"ExpectedUnavailable": errUnavailable.AsExpected(),
		"Deadline":            errs.New(errs.DeadlineExceeded, errs.ReasonDeadline, "slow"),
		"TransientHook":       errs.New(errs.Internal, "PROCESSING_ERROR", "try again"),
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			b := w.step("b", failFirst(2, err))
			b.Transient = func(err error) bool { return errs.ReasonOf(err) == "PROCESSING_ERROR" }
			d := def(w.step("a", nil), b)
			w.start(d, "s1")
			start := w.clock.Now()
			st, runErr := w.engine("e1", d).Run(context.Background(), "s1")
			if runErr != nil {
				t.Fatal(runErr)
			}
			wantStatus(t, st, saga.Succeeded)
			if st.Steps[1].Attempts != 3 || w.count(w.calls, "do:b") != 3 {
				t.Errorf("step b: %d attempts, %d calls, want 3", st.Steps[1].Attempts, w.count(w.calls, "do:b"))
			}
			if len(w.slept) != 2 {
				t.Fatalf("slept %v, want two backoffs", w.slept)
			}
			for i, d := range w.slept {
				if ceil := testRetry.Base << i; d <= 0 || d > ceil {
					t.Errorf("backoff %d is %v, want in (0, %v]", i+1, d, ceil)
				}
			}
			if got := w.clock.Now().Sub(start); got != w.slept[0]+w.slept[1] {
				t.Errorf("clock moved %v", got)
			}
		})
	}
}

func TestInternalErrorIsNotRetried(t *testing.T) {
	w := newWorld(t)
	d := def(w.step("a", nil), w.step("b", always(errors.New("boom"))))
	w.start(d, "s1")
	st, err := w.engine("e1", d).Run(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, saga.Compensated)
	if st.Steps[1].Attempts != 1 || st.Failure.Kind != "Internal" {
		t.Errorf("attempts %d, failure %+v", st.Steps[1].Attempts, st.Failure)
	}
}

func TestTransientFailureExhaustingAttemptsCompensates(t *testing.T) {
	w := newWorld(t)
	d := def(w.step("a", nil), w.step("b", always(errUnavailable)), w.step("c", nil))
	w.start(d, "s1")
	st, err := w.engine("e1", d).Run(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, saga.Compensated, saga.StepCompensated, saga.StepCompensated, saga.StepPending)
	wantLog(t, w.effects(), "do:a", "undo:b", "undo:a")
	if st.Steps[1].Attempts != testRetry.Attempts || len(w.slept) != testRetry.Attempts-1 {
		t.Errorf("%d attempts, %d backoffs", st.Steps[1].Attempts, len(w.slept))
	}
	if st.Failure.Step != "b" || st.Failure.Kind != "Unavailable" {
		t.Errorf("Failure = %+v", st.Failure)
	}
}

func TestTransientFailureExhaustingBudgetCompensates(t *testing.T) {
	w := newWorld(t)
	b := w.step("b", always(errUnavailable))
	b.Retry = saga.Retry{Attempts: 1000, Base: testRetry.Max, Max: testRetry.Max, Budget: 10 * testRetry.Max}
	d := def(w.step("a", nil), b)
	w.start(d, "s1")
	start := w.clock.Now()
	st, err := w.engine("e1", d).Run(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, saga.Compensated)
	if spent := w.clock.Now().Sub(start); spent > b.Retry.Budget {
		t.Errorf("step b spent %v, over its budget %v", spent, b.Retry.Budget)
	}
	if n := st.Steps[1].Attempts; n < 10 || n >= 1000 {
		t.Errorf("%d attempts: budget not what stopped them", n)
	}
}

func TestCompensationExhaustedRequiresAttention(t *testing.T) {
	for name, c := range map[string]struct {
		err      error
		attempts int
	}{
		"Transient": {errUnavailable, testRetry.Attempts},
		"Business":  {errs.New(errs.FailedPrecondition, "REFUND_REFUSED", "no"), 1},
		"OwnPolicy": {errUnavailable, 7},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			b := w.step("b", nil)
			b.Compensate = func(context.Context, *saga.Call) error { return c.err }
			if name == "OwnPolicy" {
				b.CompensateRetry = saga.Retry{Attempts: 7, Base: time.Millisecond, Max: time.Millisecond, Budget: time.Minute}
			}
			d := def(w.step("a", nil), b, w.step("c", always(errDeclined)))
			w.start(d, "s1")
			e := w.engine("e1", d)
			st, err := e.Run(context.Background(), "s1")
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, st, saga.RequiresAttention, saga.StepDone, saga.StepCompensating, saga.StepCompensated)
			// Compensation stops at the step that could not be undone: the
			// steps before it may depend on it being undone first.
			wantLog(t, w.effects(), "do:a", "do:b", "undo:c")
			want := saga.Problem{Step: "b", Kind: errs.KindOf(c.err).String(), Reason: errs.ReasonOf(c.err)}
			if st.Attention == nil || !reflect.DeepEqual(*st.Attention, want) {
				t.Errorf("Attention = %+v, want %+v", st.Attention, want)
			}
			if st.Failure == nil || st.Failure.Reason != "CARD_DECLINED" {
				t.Errorf("Failure = %+v, want the original CARD_DECLINED", st.Failure)
			}
			if st.Steps[1].CompensationAttempts != c.attempts {
				t.Errorf("%d compensation attempts, want %d", st.Steps[1].CompensationAttempts, c.attempts)
			}
			// Final: not resumed, and Run leaves it alone.
			if n, err := e.Resume(context.Background()); n != 0 || err != nil {
				t.Errorf("Resume = %d, %v", n, err)
			}
			again, err := e.Run(context.Background(), "s1")
			if err != nil || again.Version != st.Version {
				t.Errorf("Run of a saga requiring attention: version %d (was %d), %v", again.Version, st.Version, err)
			}
		})
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	store := saga.NewMemStore()
	noop := func(context.Context, *saga.Call) error { return nil }
	for name, cfg := range map[string]saga.Config{
		"NoStore":     {Owner: "e1"},
		"NoOwner":     {Store: store},
		"NoSteps":     {Store: store, Owner: "e1", Definitions: []*saga.Definition{{Name: "x"}}},
		"NoDo":        {Store: store, Owner: "e1", Definitions: []*saga.Definition{{Name: "x", Steps: []saga.Step{{Name: "a"}}}}},
		"DupStep":     {Store: store, Owner: "e1", Definitions: []*saga.Definition{{Name: "x", Steps: []saga.Step{{Name: "a", Do: noop}, {Name: "a", Do: noop}}}}},
		"DupDef":      {Store: store, Owner: "e1", Definitions: []*saga.Definition{{Name: "x", Steps: []saga.Step{{Name: "a", Do: noop}}}, {Name: "x", Steps: []saga.Step{{Name: "a", Do: noop}}}}},
		"UnnamedStep": {Store: store, Owner: "e1", Definitions: []*saga.Definition{{Name: "x", Steps: []saga.Step{{Do: noop}}}}},
	} {
		if _, err := saga.New(cfg); err == nil {
			t.Errorf("%s: New accepted it", name)
		}
	}
}

func TestRunRefusesAChangedDefinition(t *testing.T) {
	w := newWorld(t)
	old := def(w.step("a", nil), w.step("b", nil))
	w.start(old, "s1")
	changed := def(w.step("b", nil), w.step("a", nil))
	if _, err := w.engine("e1", changed).Run(context.Background(), "s1"); err == nil {
		t.Fatal("Run drove a saga under a reordered definition")
	}
	if _, err := w.engine("e1").Run(context.Background(), "s1"); err == nil {
		t.Fatal("Run drove a saga of an unknown definition")
	}
	if _, err := w.engine("e1", old).Run(context.Background(), "nope"); !errors.Is(err, saga.ErrNotFound) {
		t.Fatalf("Run(missing) = %v", err)
	}
	wantLog(t, w.effects())
}
