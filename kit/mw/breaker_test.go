package mw_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/mw"
)

// flaky is an endpoint whose next outcome the test controls.
type flaky struct {
	mu    sync.Mutex
	calls int
	err   error
	panic bool
}

func (f *flaky) set(err error, panics bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err, f.panic = err, panics
}

func (f *flaky) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

func (f *flaky) endpoint(context.Context, any) (any, error) {
	f.mu.Lock()
	f.calls++
	err, p := f.err, f.panic
	f.mu.Unlock()
	if p {
		panic("boom")
	}
	return "ok", err
}

func isBreakerOpen(err error) bool {
	e := errs.As(err)
	return e != nil && e.Kind == errs.Unavailable && e.Reason == mw.ReasonBreakerOpen
}

func TestBreakerOpensOnInfrastructureFailures(t *testing.T) {
	f := &flaky{err: errs.Wrap(errs.Unavailable, "DB_DOWN", errors.New("refused"), "down")}
	e := mw.Breaker("t", mw.BreakerSettings{ConsecutiveFailures: 3, OpenTimeout: time.Hour})(f.endpoint)
	for i := 0; i < 3; i++ {
		if _, err := e(context.Background(), nil); errs.ReasonOf(err) != "DB_DOWN" {
			t.Fatalf("call %d: %v, want the endpoint's own error", i, err)
		}
	}
	_, err := e(context.Background(), nil)
	if !isBreakerOpen(err) {
		t.Fatalf("after 3 infrastructure failures: %v, want BREAKER_OPEN", err)
	}
	if f.count() != 3 {
		t.Errorf("open breaker let a call through: %d calls", f.count())
	}
}

func TestBreakerIgnoresBusinessErrors(t *testing.T) {
	business := []error{
		errs.New(errs.NotFound, "USER_NOT_FOUND", "no user"),
		errs.Invalid(errs.FieldViolation{Field: "email", Message: "bad"}),
		errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "no stock"),
		errs.New(errs.AlreadyExists, "EMAIL_TAKEN", "taken"),
		context.Canceled, // the caller went away: says nothing about the callee
	}
	for _, be := range business {
		f := &flaky{err: be}
		e := mw.Breaker("t", mw.BreakerSettings{ConsecutiveFailures: 2, OpenTimeout: time.Hour})(f.endpoint)
		for i := 0; i < 10; i++ {
			if _, err := e(context.Background(), nil); err != be {
				t.Fatalf("%v: call %d returned %v, want the business error unchanged", be, i, err)
			}
		}
		if f.count() != 10 {
			t.Errorf("%v: breaker opened on business errors (%d calls of 10)", be, f.count())
		}
	}
}

func TestBreakerHalfOpenRecovers(t *testing.T) {
	f := &flaky{err: errs.New(errs.Internal, "X", "x")}
	e := mw.Breaker("t", mw.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 20 * time.Millisecond})(f.endpoint)
	_, _ = e(context.Background(), nil)
	if _, err := e(context.Background(), nil); !isBreakerOpen(err) {
		t.Fatalf("want open, got %v", err)
	}
	f.set(nil, false)
	waitPass(t, e)
	if _, err := e(context.Background(), nil); err != nil {
		t.Errorf("closed breaker after recovery: %v", err)
	}
}

// TestBreakerSurvivesPanickingTrial checks that a panic during the half-open
// trial call is counted: without that, the breaker would wait for the
// trial's outcome forever and reject every later call.
func TestBreakerSurvivesPanickingTrial(t *testing.T) {
	f := &flaky{err: errs.New(errs.Internal, "X", "x")}
	e := mw.Breaker("t", mw.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 20 * time.Millisecond})(f.endpoint)
	_, _ = e(context.Background(), nil)
	f.set(nil, true)
	deadline := time.Now().Add(2 * time.Second)
	for panicked := false; !panicked; {
		if time.Now().After(deadline) {
			t.Fatal("trial call never reached the endpoint")
		}
		panicked = func() (p bool) {
			defer func() { p = recover() != nil }()
			_, _ = e(context.Background(), nil)
			return false
		}()
		time.Sleep(5 * time.Millisecond)
	}
	f.set(nil, false)
	waitPass(t, e)
}

func waitPass(t *testing.T, e endpoint.Endpoint) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		_, err := e(context.Background(), nil)
		if err == nil {
			return
		}
		if !isBreakerOpen(err) {
			t.Fatalf("unexpected error %v", err)
		}
		if time.Now().After(deadline) {
			t.Fatal("breaker never let a trial call through")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBreakerSettingsFromEnv(t *testing.T) {
	t.Setenv(mw.EnvBreakerFailures, "7")
	t.Setenv(mw.EnvBreakerOpenTimeout, "30s")
	s, err := mw.BreakerSettingsFromEnv()
	if err != nil || s.ConsecutiveFailures != 7 || s.OpenTimeout != 30*time.Second {
		t.Errorf("settings = %+v, %v", s, err)
	}
	t.Setenv(mw.EnvBreakerFailures, "0")
	if _, err := mw.BreakerSettingsFromEnv(); err == nil {
		t.Error("0 failures accepted")
	}
	t.Setenv(mw.EnvBreakerFailures, "")
	t.Setenv(mw.EnvBreakerOpenTimeout, "soon")
	if _, err := mw.BreakerSettingsFromEnv(); err == nil {
		t.Error("bad duration accepted")
	}
}

// TestCircuitBreakerDoDoesNotAllocate: kit/sd runs every attempt of every
// call through Do.
func TestCircuitBreakerDoDoesNotAllocate(t *testing.T) {
	cb := mw.NewCircuitBreaker("test", mw.BreakerSettings{})
	ok := func() (any, error) { return nil, nil }
	if n := testing.AllocsPerRun(100, func() { _, _ = cb.Do(ok) }); n != 0 {
		t.Fatalf("Do allocates %v times per call", n)
	}
}

// A call cut short by the caller's own deadline fails with whatever the
// callee made of it (here a bare context.DeadlineExceeded, which looks
// like a timeout): it is never counted against the callee.
func TestBreakerIgnoresTheCallersOwnDeadline(t *testing.T) {
	f := &flaky{err: context.DeadlineExceeded}
	e := mw.Breaker("t", mw.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: time.Hour})(f.endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
	defer cancel()
	<-ctx.Done()
	for i := 0; i < 5; i++ {
		if _, err := e(ctx, nil); !errors.Is(err, context.DeadlineExceeded) || isBreakerOpen(err) {
			t.Fatalf("call %d: %v, want the callee's error unchanged", i, err)
		}
	}
	if f.count() != 5 {
		t.Fatalf("the caller's deadline opened the breaker: %d calls of 5", f.count())
	}
	// The same error with the caller's context still live is a failure.
	if _, err := e(context.Background(), nil); isBreakerOpen(err) {
		t.Fatalf("first live failure: %v", err)
	}
	if _, err := e(context.Background(), nil); !isBreakerOpen(err) {
		t.Fatalf("after a live failure: %v, want BREAKER_OPEN", err)
	}
}

// A refused call says when to come back: the rest of the open period,
// which an HTTP edge turns into Retry-After.
func TestOpenBreakerSaysWhenToRetry(t *testing.T) {
	f := &flaky{err: errs.New(errs.Unavailable, "DOWN", "down")}
	cb := mw.NewCircuitBreaker("t", mw.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 30 * time.Second})
	if cb.State() != "closed" {
		t.Fatalf("new breaker is %s", cb.State())
	}
	_, _ = cb.Do(func() (any, error) { return f.endpoint(context.Background(), nil) })
	_, err := cb.Do(func() (any, error) { return f.endpoint(context.Background(), nil) })
	if !isBreakerOpen(err) || cb.State() != "open" {
		t.Fatalf("got %v in state %s, want BREAKER_OPEN", err, cb.State())
	}
	if got := errs.As(err).MetaString(httpx.MetaRetryAfter); got != "30" && got != "29" {
		t.Fatalf("retry after %q seconds, want the open period's rest (30)", got)
	}
}
