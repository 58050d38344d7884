package saga_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/saga"
)

// crashAfterEffect makes step's first Do apply its effect and then "crash":
// the caller's context is cut before the engine can persist the outcome.
func crashAfterEffect(w *world, s saga.Step, cancel *context.CancelFunc) saga.Step {
	do := s.Do
	var once sync.Once
	s.Do = func(ctx context.Context, c *saga.Call) error {
		if err := do(ctx, c); err != nil {
			return err
		}
		crashed := false
		once.Do(func() { (*cancel)(); crashed = true })
		if crashed {
			return errs.Wrap(errs.Canceled, errs.ReasonCanceled, ctx.Err(), "cut")
		}
		return nil
	}
	return s
}

func TestCrashAfterEffectIsResumedExactlyOnce(t *testing.T) {
	for _, mode := range []string{"redo", "recover"} {
		for crashAt := range 3 {
			t.Run(fmt.Sprintf("%s/step%d", mode, crashAt), func(t *testing.T) {
				w := newWorld(t)
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				steps := []saga.Step{w.step("a", nil), w.step("b", nil), w.step("c", nil)}
				steps[crashAt] = crashAfterEffect(w, steps[crashAt], &cancel)
				if mode == "recover" {
					// Look the effect up by key instead of acting again.
					steps[crashAt].Recover = func(_ context.Context, c *saga.Call) (saga.Outcome, error) {
						if w.count(w.applied, "do:"+c.Key) == 1 {
							return saga.Done, nil
						}
						return saga.NotDone, nil
					}
				}
				d := def(steps...)
				w.start(d, "s1")
				st, err := w.engine("dead", d).Run(ctx, "s1")
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("crashed Run = %v, want context.Canceled", err)
				}
				// Left running, the step started: nothing failed.
				wantStatus(t, w.load("s1"), saga.Running)
				if got := w.load("s1").Steps[crashAt].Status; got != saga.StepStarted || st.Failure != nil {
					t.Fatalf("crashed step left %s, failure %+v", got, st.Failure)
				}

				w.clock.Advance(ttl + time.Second)
				n, err := w.engine("heir", d).Resume(context.Background())
				if n != 1 || err != nil {
					t.Fatalf("Resume = %d, %v", n, err)
				}
				wantStatus(t, w.load("s1"), saga.Succeeded, saga.StepDone, saga.StepDone, saga.StepDone)
				wantLog(t, w.effects(), "do:a", "do:b", "do:c")
				wantCalls := 2 // redo: Do ran again, with the same key
				if mode == "recover" {
					wantCalls = 1
				}
				if got := w.count(w.calls, "do:"+steps[crashAt].Name); got != wantCalls {
					t.Errorf("Do of the crashed step called %d times, want %d", got, wantCalls)
				}
			})
		}
	}
}

func TestRecoverVerdicts(t *testing.T) {
	for name, c := range map[string]struct {
		verdicts []saga.Outcome
		err      error
		want     saga.Status
		doCalls  int
	}{
		"NotDoneRunsDo":         {verdicts: []saga.Outcome{saga.NotDone}, want: saga.Succeeded, doCalls: 1},
		"UnknownAskedAgain":     {verdicts: []saga.Outcome{saga.Unknown, saga.Done}, want: saga.Succeeded},
		"BusinessCompensates":   {err: errDeclined, want: saga.Compensated},
		"UnknownForeverGivesUp": {verdicts: []saga.Outcome{saga.Unknown, saga.Unknown, saga.Unknown}, want: saga.Compensated},
	} {
		t.Run(name, func(t *testing.T) {
			w := newWorld(t)
			b := w.step("b", nil)
			asked := 0
			b.Recover = func(context.Context, *saga.Call) (saga.Outcome, error) {
				asked++
				if c.err != nil {
					return saga.Unknown, c.err
				}
				return c.verdicts[asked-1], nil
			}
			d := def(w.step("a", nil), b)
			w.start(d, "s1")
			// As a crashed instance left it: a done, b started.
			st := w.load("s1")
			st.Steps[0].Status, st.Steps[1].Status = saga.StepDone, saga.StepStarted
			if err := w.store.Save(context.Background(), &st); err != nil {
				t.Fatal(err)
			}
			got, err := w.engine("e1", d).Run(context.Background(), "s1")
			if err != nil {
				t.Fatal(err)
			}
			wantStatus(t, got, c.want)
			if n := w.count(w.calls, "do:b"); n != c.doCalls {
				t.Errorf("Do called %d times, want %d", n, c.doCalls)
			}
			if c.want == saga.Compensated && w.count(w.calls, "undo:b") != 1 {
				t.Errorf("the started step was not compensated")
			}
		})
	}
}

func TestCrashDuringCompensationIsResumed(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b := w.step("b", nil)
	undo := b.Compensate
	var once sync.Once
	b.Compensate = func(ctx context.Context, c *saga.Call) error {
		_ = undo(ctx, c)
		crashed := false
		once.Do(func() { cancel(); crashed = true })
		if crashed {
			return ctx.Err()
		}
		return nil
	}
	d := def(w.step("a", nil), b, w.step("c", always(errDeclined)))
	w.start(d, "s1")
	if _, err := w.engine("dead", d).Run(ctx, "s1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	wantStatus(t, w.load("s1"), saga.Compensating, saga.StepDone, saga.StepCompensating, saga.StepCompensated)
	w.clock.Advance(ttl + time.Second)
	if n, err := w.engine("heir", d).Resume(context.Background()); n != 1 || err != nil {
		t.Fatalf("Resume = %d, %v", n, err)
	}
	wantStatus(t, w.load("s1"), saga.Compensated)
	wantLog(t, w.effects(), "do:a", "do:b", "undo:c", "undo:b", "undo:a")
	// The heir redoes the interrupted compensation only, not the finished one.
	if c, b := w.count(w.calls, "undo:c"), w.count(w.calls, "undo:b"); c != 1 || b != 2 {
		t.Errorf("compensations called: c %d, b %d; want 1, 2", c, b)
	}
}

// block makes s's first Do signal entered and wait for release.
func block(s saga.Step, entered chan<- struct{}, release <-chan struct{}) saga.Step {
	do := s.Do
	var once sync.Once
	s.Do = func(ctx context.Context, c *saga.Call) error {
		first := false
		once.Do(func() { first = true })
		if first {
			close(entered)
			<-release
		}
		return do(ctx, c)
	}
	return s
}

func TestTwoEnginesOnlyOneDrives(t *testing.T) {
	w := newWorld(t)
	entered, release := make(chan struct{}), make(chan struct{})
	d := def(block(w.step("a", nil), entered, release), w.step("b", nil))
	w.start(d, "s1")
	one, two := w.engine("one", d), w.engine("two", d)

	done := make(chan error, 1)
	go func() { _, err := one.Run(context.Background(), "s1"); done <- err }()
	<-entered
	if _, err := two.Run(context.Background(), "s1"); !errors.Is(err, saga.ErrLeaseHeld) {
		t.Fatalf("second engine's Run = %v, want ErrLeaseHeld", err)
	}
	// The lease is per owner: a second Run of the same engine is kept out
	// by the engine itself.
	if _, err := one.Run(context.Background(), "s1"); !errors.Is(err, saga.ErrLeaseHeld) {
		t.Fatalf("same engine's second Run = %v, want ErrLeaseHeld", err)
	}
	if n, err := two.Resume(context.Background()); n != 0 || err != nil {
		t.Fatalf("second engine's Resume = %d, %v: it must not see a leased saga", n, err)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	wantStatus(t, w.load("s1"), saga.Succeeded)
	if w.count(w.calls, "do:a") != 1 || w.count(w.calls, "do:b") != 1 {
		t.Errorf("steps called %v", w.calls)
	}
}

func TestEnginesRacingOnOneSaga(t *testing.T) {
	w := newWorld(t)
	d := def(w.step("a", nil), w.step("b", nil))
	w.start(d, "s1")
	var wg sync.WaitGroup
	errc := make(chan error, 4)
	for i := range 4 {
		e := w.engine(fmt.Sprint("e", i), d)
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := e.Run(context.Background(), "s1")
			errc <- err
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		if err != nil && !errors.Is(err, saga.ErrLeaseHeld) {
			t.Errorf("Run: %v", err)
		}
	}
	wantStatus(t, w.load("s1"), saga.Succeeded)
	if w.count(w.calls, "do:a") != 1 || w.count(w.calls, "do:b") != 1 {
		t.Errorf("steps called %v, want once each", w.calls)
	}
}

func TestDeadOwnerTakenOverAndFenced(t *testing.T) {
	w := newWorld(t)
	entered, release := make(chan struct{}), make(chan struct{})
	d := def(block(w.step("a", nil), entered, release), w.step("b", nil))
	w.start(d, "s1")
	zombie, heir := w.engine("zombie", d), w.engine("heir", d)

	done := make(chan error, 1)
	go func() { _, err := zombie.Run(context.Background(), "s1"); done <- err }()
	<-entered // the zombie hangs inside step a

	w.clock.Advance(ttl - time.Second)
	if n, _ := heir.Resume(context.Background()); n != 0 {
		t.Fatal("a live lease was taken over")
	}
	w.clock.Advance(2 * time.Second)
	if n, err := heir.Resume(context.Background()); n != 1 || err != nil {
		t.Fatalf("Resume after the lease expired = %d, %v", n, err)
	}
	wantStatus(t, w.load("s1"), saga.Succeeded)

	// The zombie wakes up: its save is refused, and it says why.
	close(release)
	if err := <-done; !errors.Is(err, saga.ErrLeaseLost) {
		t.Fatalf("zombie's Run = %v, want ErrLeaseLost", err)
	}
	wantStatus(t, w.load("s1"), saga.Succeeded)
	wantLog(t, w.effects(), "do:a", "do:b")
}

func TestLeaseRenewedWhileWorkingAndLossStopsTheDrive(t *testing.T) {
	w := newWorld(t)
	stolen := make(chan struct{})
	a := w.step("a", nil)
	a.Do = func(ctx context.Context, c *saga.Call) error {
		w.clock.Advance(time.Minute) // a long call, past the first lease
		want := w.clock.Now().Add(ttl)
		kittest.WaitFor(t, 5*time.Second, "lease renewal", func() bool {
			return w.load("s1").LeaseExpiry.Equal(want)
		})
		// Now another owner takes it (as after a long GC pause).
		w.clock.Advance(ttl + time.Second)
		if _, err := w.store.Claim(ctx, "s1", "thief", w.clock.Now(), w.clock.Now().Add(ttl)); err != nil {
			t.Errorf("thief's Claim: %v", err)
		}
		close(stolen)
		select { // the heartbeat notices and cuts the step
		case <-ctx.Done():
			if cause := context.Cause(ctx); !errors.Is(cause, saga.ErrLeaseLost) {
				t.Errorf("step cut by %v, want ErrLeaseLost", cause)
			}
		case <-time.After(5 * time.Second):
			t.Error("the lost lease did not cut the step")
		}
		return ctx.Err()
	}
	a.Retry.Budget = time.Hour // only the lease may cut the step
	d := def(a)
	w.start(d, "s1")
	e, err := saga.New(saga.Config{Store: w.store, Definitions: []*saga.Definition{d}, Owner: "e1",
		LeaseTTL: ttl, RenewEvery: time.Millisecond, Now: w.clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.Run(context.Background(), "s1")
	<-stolen
	if !errors.Is(err, saga.ErrLeaseLost) {
		t.Fatalf("Run = %v, want ErrLeaseLost", err)
	}
	st := w.load("s1")
	wantStatus(t, st, saga.Running, saga.StepStarted)
	if st.LeaseOwner != "thief" {
		t.Errorf("lease owner %q", st.LeaseOwner)
	}
}

func TestCallerDeadlineLeavesTheSagaRunning(t *testing.T) {
	w := newWorld(t)
	b := w.step("b", nil)
	do := b.Do
	var once sync.Once
	b.Do = func(ctx context.Context, c *saga.Call) error {
		first := false
		once.Do(func() { first = true })
		if first {
			<-ctx.Done() // a slow peer; the caller's deadline passes first
			return errs.Wrap(errs.DeadlineExceeded, errs.ReasonDeadline, ctx.Err(), "timed out")
		}
		return do(ctx, c)
	}
	d := def(w.step("a", nil), b, w.step("c", nil))
	w.start(d, "s1")
	e := w.engine("e1", d)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	returned, err := e.Run(ctx, "s1")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Run = %v, want the caller's deadline", err)
	}
	st := w.load("s1")
	wantStatus(t, st, saga.Running, saga.StepDone, saga.StepStarted, saga.StepPending)
	if !reflect.DeepEqual(returned, st) {
		t.Errorf("Run returned %+v, not the persisted %+v", returned, st)
	}
	if st.Failure != nil || len(w.slept) != 0 {
		t.Fatalf("the caller's deadline counted as a failure: %+v, slept %v", st.Failure, w.slept)
	}
	wantLog(t, w.effects(), "do:a")

	// The same instance goes on in the background, as orders does.
	st, err = e.Run(context.Background(), "s1")
	if err != nil {
		t.Fatal(err)
	}
	wantStatus(t, st, saga.Succeeded)
	wantLog(t, w.effects(), "do:a", "do:b", "do:c")
}

func TestCallerCancelDuringBackoffStops(t *testing.T) {
	w := newWorld(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	d := def(w.step("a", always(errUnavailable)))
	w.start(d, "s1")
	e, err := saga.New(saga.Config{Store: w.store, Definitions: []*saga.Definition{d}, Owner: "e1", Now: w.clock.Now,
		Sleep: func(ctx context.Context, _ time.Duration) error { cancel(); return ctx.Err() }})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.Run(ctx, "s1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	st := w.load("s1")
	wantStatus(t, st, saga.Running, saga.StepStarted)
	if st.Failure != nil || w.count(w.calls, "do:a") != 1 {
		t.Fatalf("failure %+v after %d calls", st.Failure, w.count(w.calls, "do:a"))
	}
}

func TestRunWithAnEndedContextTouchesNothing(t *testing.T) {
	w := newWorld(t)
	d := def(w.step("a", nil))
	w.start(d, "s1")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := w.engine("e1", d).Run(ctx, "s1"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v", err)
	}
	wantStatus(t, w.load("s1"), saga.Running, saga.StepPending)
	wantLog(t, w.effects())
}
