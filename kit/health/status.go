package health

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// CheckTimeout bounds one run of the checks, for a probe and for a
// monitor round alike: a dependency slower than this is not usable. It
// stays under 2 s so that a prober with a 2 s timeout always gets an
// answer, and a verdict, rather than a timeout of its own.
const CheckTimeout = 1500 * time.Millisecond

// Status runs every check (bounded by ctx) and reports the overall verdict
// with each check's result: "ok", or a client-safe description of the
// failure (see Check). The declared state is reported as "lifecycle".
func (r *Readiness) Status(ctx context.Context) (bool, map[string]string) {
	declared := r.Declared()
	results := map[string]string{"lifecycle": "ok"}
	if !declared {
		results["lifecycle"] = "not serving"
	}
	ok := declared
	for _, res := range r.runChecks(ctx) {
		if res.err != nil {
			results[res.name] = clientMessage(res.err)
			ok = false
			continue
		}
		results[res.name] = "ok"
	}
	return ok, results
}

type checkResult struct {
	name string
	err  error
}

// Failures the runner reports itself, in the readiness body too.
var (
	errCheckTimedOut = errs.New(errs.Unavailable, errs.ReasonUnavailable, "timed out")
	errCheckStuck    = errs.New(errs.Unavailable, errs.ReasonUnavailable, "still running since an earlier probe")
	errCheckPanicked = errs.New(errs.Unavailable, errs.ReasonUnavailable, "check failed")
)

// runChecks runs the registered checks concurrently and returns their
// results within CheckTimeout (or ctx's earlier deadline), whatever the
// checks do: a check that ignores its context is reported as timed out and
// left to finish on its own. Until it does, later runs do not start it
// again, so a stuck dependency cannot pile up goroutines one probe at a
// time; they report it as still running.
func (r *Readiness) runChecks(ctx context.Context) []checkResult {
	ctx, cancel := context.WithTimeout(ctx, CheckTimeout)
	defer cancel()
	list := r.checkList()
	runs := make([]*checkRun, len(list))
	for i, c := range list {
		runs[i] = r.startCheck(ctx, c)
	}
	results := make([]checkResult, len(list))
	for i, c := range list {
		results[i] = checkResult{name: c.name, err: runs[i].wait(ctx)}
	}
	return results
}

// checkRun is one invocation of a check.
type checkRun struct {
	r    *Readiness
	name string
	done chan error // buffered: the check never blocks on sending

	mu        sync.Mutex
	finished  bool
	abandoned bool
}

func (r *Readiness) startCheck(ctx context.Context, c namedCheck) *checkRun {
	run := &checkRun{r: r, name: c.name, done: make(chan error, 1)}
	r.mu.Lock()
	stuck := r.overdue[c.name] > 0
	r.mu.Unlock()
	if stuck {
		run.finished = true
		run.done <- errCheckStuck
		return run
	}
	go run.do(ctx, c.check)
	return run
}

func (run *checkRun) do(ctx context.Context, check Check) {
	var err error
	defer func() {
		// A panicking check is a failing dependency, not a crashed process.
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: panic: %v", errCheckPanicked, p)
		}
		run.mu.Lock()
		run.finished = true
		if run.abandoned {
			run.r.mu.Lock()
			run.r.overdue[run.name]--
			run.r.mu.Unlock()
		}
		run.mu.Unlock()
		run.done <- err
	}()
	err = check(ctx)
}

// wait returns the check's result, or errCheckTimedOut once ctx ends
// without one.
func (run *checkRun) wait(ctx context.Context) error {
	select {
	case err := <-run.done:
		return err
	case <-ctx.Done():
	}
	run.mu.Lock()
	defer run.mu.Unlock()
	if run.finished {
		return <-run.done
	}
	run.abandoned = true
	run.r.mu.Lock()
	run.r.overdue[run.name]++
	run.r.mu.Unlock()
	return errCheckTimedOut
}

// clientMessage describes a failed check for a readiness body. Only a
// classified error's Message is meant for clients (kit/errs); anything
// else, like a raw dial error naming a host and port, is withheld.
func clientMessage(err error) string {
	var e *errs.Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	return "unavailable"
}

// LiveHandler answers 200 while the process can serve at all, naming the
// build it runs ({"status":"ok","version":"v1.4.0"}), so that a probe or a
// person can tell which image a rolling update has reached. An empty
// version is left out.
func LiveHandler(version string) http.Handler {
	body := map[string]any{"status": "ok"}
	if version != "" {
		body["version"] = version
	}
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, body)
	})
}

// ReadyHandler answers 200 when ready, else 503, naming each check. It
// runs the checks live rather than reporting Monitor's last round, so a
// probe always sees the present state.
func (r *Readiness) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), CheckTimeout)
		defer cancel()
		ok, checks := r.Status(ctx)
		status, text := http.StatusOK, "ok"
		if !ok {
			status, text = http.StatusServiceUnavailable, "unavailable"
		}
		writeJSON(w, status, map[string]any{"status": text, "checks": checks})
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
