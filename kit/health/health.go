// Package health tracks whether a process is ready to take traffic and
// serves that over HTTP (/health/live, /health/ready). The gRPC health
// service follows the same state through Subscribe (see kit/grpcx).
package health

import (
	"context"
	"encoding/json"
	"net/http"
	"sort"
	"sync"
	"time"
)

// Check reports nil when a dependency the process needs is usable.
type Check func(ctx context.Context) error

// Readiness is ready when the lifecycle has declared the process started
// (SetReady(true)) and every registered check passes. Shutdown flips it back
// first thing, so load balancers stop sending work before draining starts.
type Readiness struct {
	mu        sync.Mutex
	ready     bool
	checks    map[string]Check
	listeners []func(bool)
}

// New returns a Readiness that is not ready yet.
func New() *Readiness {
	return &Readiness{checks: map[string]Check{}}
}

// AddCheck registers a named dependency check run by the ready handler.
func (r *Readiness) AddCheck(name string, c Check) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checks[name] = c
}

// SetReady declares the process (not) willing to take traffic and tells
// every subscriber.
func (r *Readiness) SetReady(ready bool) {
	r.mu.Lock()
	changed := r.ready != ready
	r.ready = ready
	ls := append([]func(bool){}, r.listeners...)
	r.mu.Unlock()
	if changed {
		for _, l := range ls {
			l(ready)
		}
	}
}

// Subscribe calls f now with the current state and again on every change.
func (r *Readiness) Subscribe(f func(ready bool)) {
	r.mu.Lock()
	r.listeners = append(r.listeners, f)
	ready := r.ready
	r.mu.Unlock()
	f(ready)
}

// Declared reports what SetReady last said, without running checks.
func (r *Readiness) Declared() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ready
}

// Status runs every check (bounded by ctx) and reports the overall verdict
// with each check's result ("ok" or the failure text).
func (r *Readiness) Status(ctx context.Context) (bool, map[string]string) {
	r.mu.Lock()
	declared := r.ready
	checks := make(map[string]Check, len(r.checks))
	for n, c := range r.checks {
		checks[n] = c
	}
	r.mu.Unlock()

	results := map[string]string{"lifecycle": "ok"}
	ok := declared
	if !declared {
		results["lifecycle"] = "not serving"
	}
	names := make([]string, 0, len(checks))
	for n := range checks {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := checks[n](ctx); err != nil {
			results[n] = err.Error()
			ok = false
			continue
		}
		results[n] = "ok"
	}
	return ok, results
}

// LiveHandler answers 200 while the process can serve at all.
func LiveHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{"status": "ok"})
	})
}

// ReadyHandler answers 200 when ready, else 503, naming each check.
func (r *Readiness) ReadyHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		ctx, cancel := context.WithTimeout(req.Context(), 2*time.Second)
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
