package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// fault is one scenario's part: the runner owns the load, the timeline,
// the invariants and the report.
type fault interface {
	// prepare sets the stage before the load (a second instance to fail
	// over to, a proxy in front of one); errors abort before any load.
	prepare(ctx context.Context) error
	// inject starts the fault.
	inject(ctx context.Context) error
	// heal ends it, after -duration (a no-op for one-shot faults).
	heal(ctx context.Context) error
	// recovered waits (bounded) until the platform is whole again: the
	// registry lists every instance that runs.
	recovered(ctx context.Context) error
	// cleanup leaves the platform as it was found, as far as it can
	// (same number of instances of each service); it runs on every path.
	cleanup(ctx context.Context) error
}

// budget is how many requests a scenario may fail: fraction of all, but
// never fewer than floor (a short run's handful of in-flight requests).
type budget struct {
	fraction float64
	floor    int
}

func (b budget) allowed(requests int64) int64 {
	return max(int64(b.floor), int64(math.Ceil(b.fraction*float64(requests))))
}

func (b budget) String() string {
	return fmt.Sprintf("max(%d, %.1f%% of requests)", b.floor, 100*b.fraction)
}

// spec describes a scenario for -h and the runner.
type spec struct {
	name, about string
	duration    time.Duration // default -duration: how long the fault lasts
	budget      budget
	// needsDatabase says why the scenario itself needs Postgres (not
	// only the final check); "" when it does not.
	needsDatabase string
	make          func(e *env) (fault, error)
}

// env is what a fault works with.
type env struct {
	p   *platform
	opt *options
	log func(format string, args ...any)
}

// timeline prints each step with the time since the load began.
type timeline struct {
	w     io.Writer
	began time.Time
}

func (t *timeline) note(format string, args ...any) {
	at := "  setup"
	if !t.began.IsZero() {
		at = fmt.Sprintf("%+6.1fs", time.Since(t.began).Seconds())
	}
	fmt.Fprintf(t.w, "%s  %s\n", at, fmt.Sprintf(format, args...))
}

// verdict is a scenario's outcome.
type verdict struct {
	requests, failed, allowed int64
	failedDuring, failedAfter int
	recovery                  time.Duration // heal to the registry whole again
	sinceFault                time.Duration // the fault's start to the registry whole again
	lastFailure               time.Duration // heal to the last failed request (0: none after)
	check                     string
	checkClean, checked       bool
	problems                  []string
}

func (v verdict) ok() bool { return len(v.problems) == 0 }

func (v verdict) print(w io.Writer, name string) {
	fmt.Fprintf(w, "\n== chaos %s: ", name)
	if v.ok() {
		fmt.Fprintln(w, "INVARIANTS HELD")
	} else {
		fmt.Fprintln(w, "INVARIANTS BROKEN")
	}
	fmt.Fprintf(w, "  failed requests: %d of %d (budget %d): %d while the fault lasted, %d after it healed\n",
		v.failed, v.requests, v.allowed, v.failedDuring, v.failedAfter)
	fmt.Fprintf(w, "  recovery: registry whole %.1fs after the heal (%.1fs after the fault began); last failed request %s\n",
		v.recovery.Seconds(), v.sinceFault.Seconds(), lastFailureText(v.lastFailure))
	switch {
	case !v.checked:
		fmt.Fprintf(w, "  orders check: NOT RUN (%s)\n", v.check)
	case v.checkClean:
		fmt.Fprintf(w, "  orders check: clean (%s)\n", lastLine(v.check))
	default:
		fmt.Fprintf(w, "  orders check: DISCREPANCIES\n%s\n", indent(v.check))
	}
	for _, p := range v.problems {
		fmt.Fprintf(w, "  BROKEN: %s\n", p)
	}
}

func lastFailureText(d time.Duration) string {
	if d <= 0 {
		return "none after the heal"
	}
	return fmt.Sprintf("%.1fs after the heal", d.Seconds())
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimSpace(s), "\n", "\n    ")
}

// sleepCtx waits d, or less when ctx ends (a scenario's timeline, not a
// wait for a condition).
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
