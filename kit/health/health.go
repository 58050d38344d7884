// Package health tracks whether a process is ready to take traffic and
// serves that over HTTP (/health/live, /health/ready).
//
// Readiness combines two things: what the lifecycle declares (SetReady:
// started, or shutting down) and whether the process's dependencies answer
// (the registered checks). /health/ready runs the checks on every probe;
// push-style consumers such as the gRPC health service (see kit/grpcx)
// cannot, so Monitor runs them periodically and SubscribeServing delivers
// the combined verdict.
package health

import (
	"cmp"
	"context"
	"slices"
	"sync"

	"github.com/go-kit/log"
)

// Check reports nil when a dependency the process needs is usable. It
// should return promptly once ctx ends; one that does not is reported as
// timed out anyway (see CheckTimeout) and not started again until it
// returns. A failure that is an *errs.Error
// is reported to clients by its Message; any other error only as
// "unavailable", because causes routinely name internal addresses.
type Check func(ctx context.Context) error

// Readiness is ready when the lifecycle has declared the process started
// (SetReady(true)) and every registered check passes. Shutdown flips it back
// first thing, so load balancers stop sending work before draining starts.
// It is safe for concurrent use.
type Readiness struct {
	logger log.Logger

	// notify is held for a whole state change, listener calls included,
	// so listeners see changes one at a time and in the order they
	// happened: a verdict the monitor computed just before SetReady(false)
	// can never reach a listener after it.
	notify sync.Mutex

	// mu guards the fields below; it is never held while a listener runs,
	// so the getters and Status do not wait on slow listeners.
	mu       sync.Mutex
	declared bool
	// checksOK is the monitor's latest verdict on the checks. It starts
	// true: without a monitor (or before its first round) the serving
	// verdict follows the declared state alone, as it always has.
	checksOK bool
	// serving is the verdict last delivered to serving listeners.
	serving bool
	checks  map[string]Check
	// overdue counts, per check, runs that outlived their timeout and have
	// not returned yet (see runChecks).
	overdue    map[string]int
	declaredLs []func(bool)
	servingLs  []func(bool)
}

// Option configures a Readiness.
type Option func(*Readiness)

// WithLogger makes Monitor log each check that starts failing, with its
// full cause (which clients never see), and each that recovers.
func WithLogger(l log.Logger) Option {
	return func(r *Readiness) {
		if l != nil {
			r.logger = l
		}
	}
}

// New returns a Readiness that is not ready yet.
func New(opts ...Option) *Readiness {
	r := &Readiness{logger: log.NewNopLogger(), checksOK: true, checks: map[string]Check{}, overdue: map[string]int{}}
	for _, o := range opts {
		o(r)
	}
	return r
}

// AddCheck registers a named dependency check, run by the ready handler on
// every probe and by Monitor periodically. Adding a check under an
// existing name replaces it.
func (r *Readiness) AddCheck(name string, c Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = c
}

// SetReady declares the process (not) willing to take traffic. Subscribers
// and serving subscribers are told before it returns, so that at shutdown
// the gRPC health service says NOT_SERVING before draining begins,
// whatever the checks last said.
func (r *Readiness) SetReady(ready bool) {
	r.update(func() { r.declared = ready })
}

// Subscribe calls f now with the declared state and again each time
// SetReady changes it. Checks never affect it: it is the lifecycle's
// intent, the thing to follow to learn that shutdown has begun (a failing
// dependency must not look like a shutdown). To decide whether to take
// traffic, use SubscribeServing.
//
// f runs synchronously, one change at a time; it must not call SetReady,
// Subscribe or SubscribeServing.
func (r *Readiness) Subscribe(f func(ready bool)) {
	r.notify.Lock()
	defer r.notify.Unlock()
	r.mu.Lock()
	r.declaredLs = append(r.declaredLs, f)
	declared := r.declared
	r.mu.Unlock()
	f(declared)
}

// SubscribeServing calls f now with the serving verdict and again each
// time it changes. The verdict is true when the process is declared ready
// and every check passed in Monitor's latest round; SetReady(false) makes
// it false at once. Without a running Monitor it follows the declared
// state alone.
//
// f runs synchronously, one change at a time; it must not call SetReady,
// Subscribe or SubscribeServing.
func (r *Readiness) SubscribeServing(f func(serving bool)) {
	r.notify.Lock()
	defer r.notify.Unlock()
	r.mu.Lock()
	r.servingLs = append(r.servingLs, f)
	serving := r.serving
	r.mu.Unlock()
	f(serving)
}

// Declared reports what SetReady last said, without running checks.
func (r *Readiness) Declared() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.declared
}

// Serving reports the serving verdict last delivered to SubscribeServing
// listeners, without running checks.
func (r *Readiness) Serving() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.serving
}

// update applies change to the state and tells the listeners of each
// verdict that changed: serving ones first, as they steer traffic away.
func (r *Readiness) update(change func()) {
	r.notify.Lock()
	defer r.notify.Unlock()

	r.mu.Lock()
	wasDeclared := r.declared
	change()
	declared := r.declared
	serving := r.declared && r.checksOK
	var servingLs, declaredLs []func(bool)
	if serving != r.serving {
		r.serving = serving
		servingLs = slices.Clone(r.servingLs)
	}
	if declared != wasDeclared {
		declaredLs = slices.Clone(r.declaredLs)
	}
	r.mu.Unlock()

	for _, l := range servingLs {
		l(serving)
	}
	for _, l := range declaredLs {
		l(declared)
	}
}

// checkList returns the registered checks sorted by name, so that results
// and logs come in a stable order.
func (r *Readiness) checkList() []namedCheck {
	r.mu.Lock()
	list := make([]namedCheck, 0, len(r.checks))
	for n, c := range r.checks {
		list = append(list, namedCheck{n, c})
	}
	r.mu.Unlock()
	slices.SortFunc(list, func(a, b namedCheck) int { return cmp.Compare(a.name, b.name) })
	return list
}

type namedCheck struct {
	name  string
	check Check
}
