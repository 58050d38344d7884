package saga_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/saga"
)

// peerDown is a step whose peer is unreachable while down is set.
func (w *world) peerDown(name string, down *atomic.Bool) saga.Step {
	return w.step(name, func(int) error {
		if down.Load() {
			return errUnavailable
		}
		return nil
	})
}

func TestUnreachablePeerParksAYoungSagaAndResumeFinishesIt(t *testing.T) {
	w := newWorld(t)
	var down atomic.Bool
	down.Store(true)
	d := def(w.step("reserve", nil), w.peerDown("charge", &down))
	d.Patience = 10 * time.Minute
	w.start(d, "s1")
	e := w.engine("e1", d)

	st, err := e.Run(context.Background(), "s1")
	if !errors.Is(err, saga.ErrParked) {
		t.Fatalf("Run = %v, want ErrParked", err)
	}
	// Nothing was failed or undone: the saga waits with the step started.
	wantStatus(t, w.load("s1"), saga.Running, saga.StepDone, saga.StepStarted)
	wantStatus(t, st, saga.Running)
	wantLog(t, w.effects(), "do:reserve")

	// Its lease lets Resume take it only after ParkFor (default 5s).
	if n, err := e.Resume(context.Background()); n != 0 || err != nil {
		t.Fatalf("Resume before ParkFor = %d, %v; want nothing claimable", n, err)
	}
	down.Store(false)
	w.clock.Advance(6 * time.Second)
	if n, err := w.engine("heir", d).Resume(context.Background()); n != 1 || err != nil {
		t.Fatalf("Resume after ParkFor = %d, %v", n, err)
	}
	wantStatus(t, w.load("s1"), saga.Succeeded, saga.StepDone, saga.StepDone)
	wantLog(t, w.effects(), "do:reserve", "do:charge")
}

func TestPatienceRunsOutThenTheSagaCompensates(t *testing.T) {
	w := newWorld(t)
	var down atomic.Bool
	down.Store(true)
	d := def(w.step("reserve", nil), w.peerDown("charge", &down))
	d.Patience = time.Minute
	w.start(d, "s1")
	if _, err := w.engine("e1", d).Run(context.Background(), "s1"); !errors.Is(err, saga.ErrParked) {
		t.Fatalf("first Run = %v, want ErrParked", err)
	}
	w.clock.Advance(2 * time.Minute)
	st, err := w.engine("e1", d).Run(context.Background(), "s1")
	if err != nil {
		t.Fatalf("Run past Patience = %v", err)
	}
	wantStatus(t, st, saga.Compensated, saga.StepCompensated, saga.StepCompensated)
	if st.Failure == nil || st.Failure.Step != "charge" || st.Failure.Reason != errs.ReasonUnavailable {
		t.Fatalf("failure %+v, want charge UNAVAILABLE", st.Failure)
	}
}

// A deliberate transient answer (a processor's processing_error) says the
// peer is up: its retries running out fails the step at once.
func TestExpectedTransientErrorIsNotParked(t *testing.T) {
	w := newWorld(t)
	transient := errs.New(errs.Unavailable, "PROCESSING_ERROR", "try again").AsExpected()
	d := def(w.step("reserve", nil), w.step("charge", always(transient)))
	d.Patience = time.Hour
	w.start(d, "s1")
	st, err := w.engine("e1", d).Run(context.Background(), "s1")
	if err != nil {
		t.Fatalf("Run = %v", err)
	}
	wantStatus(t, st, saga.Compensated)
	if got := w.count(w.calls, "do:charge"); got != testRetry.Attempts {
		t.Errorf("charge called %d times, want its %d attempts", got, testRetry.Attempts)
	}
}
