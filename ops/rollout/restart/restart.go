// Package restart replaces the running instances of a service one at a
// time, so that the service keeps at least as many ready instances as it
// had throughout: start a replacement, wait until the registry lists it,
// then stop (SIGTERM) one old instance and wait until it has left the
// registry and exited. Graceful shutdown (deregister, grace, drain) is the
// instance's own; this package only orders the steps and bounds each wait.
//
// It drives whatever can start and stop instances through Platform: the
// process-level tests' harness (ops/e2e, rolling_restart_test), and
// `make run` through SocketPlatform (socket_platform.go): the launcher's
// control socket (.run/launcher.sock, ops/launcher/control) starts an
// extra instance on ephemeral ports and stops an old one, an exit the
// launcher expects rather than takes for a crash, while the registry's
// view (/v1/services/<service>) says when a replacement is registered.
// Main (command.go) is `go run ./ops/rollout restart <service|all>`.
//
// The gateway keeps its fixed port, so restarting it would take a second
// port or SO_REUSEPORT, which kitshop's listeners do not set: Main refuses
// it with that reason. The services behind it need neither.
package restart

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Instance is one running instance, as its Platform knows it.
type Instance interface {
	String() string
}

// Platform is what a rolling restart needs from the thing that runs the
// processes.
type Platform interface {
	// Running lists the instances of service now running: the ones the
	// restart replaces (snapshot taken once, before the first step).
	Running(service string) []Instance
	// Start starts one more instance of service and returns at once.
	Start(ctx context.Context, service string) (Instance, error)
	// Registered is how many instances of service the registry lists.
	Registered(ctx context.Context, service string) (int, error)
	// Stop sends SIGTERM to in and returns once it has exited.
	Stop(ctx context.Context, in Instance) error
}

// Options bound the waits of each step.
type Options struct {
	// ReadyTimeout bounds the wait for a replacement to register
	// (default 60 s: a service migrates its schema before it is ready).
	ReadyTimeout time.Duration
	// StopTimeout bounds a graceful stop: deregister, grace, drain
	// (default 30 s).
	StopTimeout time.Duration
	// Poll is how often the registry is asked (default 100 ms).
	Poll time.Duration
	// Log receives each step as it happens (optional).
	Log func(Event)
}

// Event is one step of a restart, for the operator's timeline.
type Event struct {
	At       time.Time
	Service  string
	Step     string // "start", "registered", "stop", "stopped"
	Instance string
	// Registered is the registry's count after the step.
	Registered int
}

func (e Event) String() string {
	return fmt.Sprintf("%s %-8s %-10s %s (registered: %d)", e.At.Format("15:04:05.000"), e.Service, e.Step, e.Instance, e.Registered)
}

func (o Options) withDefaults() Options {
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	if o.StopTimeout <= 0 {
		o.StopTimeout = 30 * time.Second
	}
	if o.Poll <= 0 {
		o.Poll = 100 * time.Millisecond
	}
	if o.Log == nil {
		o.Log = func(Event) {}
	}
	return o
}

// ErrNothingRunning is returned for a service with no running instance:
// there is nothing to replace, and starting one is not a restart.
var ErrNothingRunning = errors.New("restart: no running instance")

// Service replaces every running instance of service, one at a time. It
// stops at the first step that fails, leaving the instances as they are
// then (never fewer ready than before: an old instance is stopped only
// after its replacement registered).
func Service(ctx context.Context, p Platform, service string, opts Options) error {
	o := opts.withDefaults()
	old := p.Running(service)
	if len(old) == 0 {
		return fmt.Errorf("%w of %s", ErrNothingRunning, service)
	}
	for _, in := range old {
		if err := replace(ctx, p, service, in, o); err != nil {
			return err
		}
	}
	return nil
}

// replace starts one replacement and stops in once it is registered.
func replace(ctx context.Context, p Platform, service string, in Instance, o Options) error {
	before, err := p.Registered(ctx, service)
	if err != nil {
		return fmt.Errorf("restart %s: reading the registry: %w", service, err)
	}
	repl, err := p.Start(ctx, service)
	if err != nil {
		return fmt.Errorf("restart %s: starting a replacement for %s: %w", service, in, err)
	}
	o.Log(Event{At: time.Now(), Service: service, Step: "start", Instance: repl.String(), Registered: before})
	n, err := waitCount(ctx, p, service, o.Poll, o.ReadyTimeout, func(n int) bool { return n > before })
	if err != nil {
		return fmt.Errorf("restart %s: replacement %s not registered within %s (%w); %s left running",
			service, repl, o.ReadyTimeout, err, in)
	}
	o.Log(Event{At: time.Now(), Service: service, Step: "registered", Instance: repl.String(), Registered: n})

	o.Log(Event{At: time.Now(), Service: service, Step: "stop", Instance: in.String(), Registered: n})
	sctx, cancel := context.WithTimeout(ctx, o.StopTimeout)
	defer cancel()
	if err := p.Stop(sctx, in); err != nil {
		return fmt.Errorf("restart %s: stopping %s: %w", service, in, err)
	}
	// A graceful stop deregisters before it exits, so the count is back
	// at once; a short wait covers a registry view that lags its store.
	n, err = waitCount(ctx, p, service, o.Poll, o.StopTimeout, func(n int) bool { return n <= before })
	if err != nil {
		return fmt.Errorf("restart %s: %s exited but is still registered after %s: %w", service, in, o.StopTimeout, err)
	}
	o.Log(Event{At: time.Now(), Service: service, Step: "stopped", Instance: in.String(), Registered: n})
	return nil
}

// waitCount polls the registry until ok accepts its count, within timeout.
func waitCount(ctx context.Context, p Platform, service string, poll, timeout time.Duration, ok func(int) bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t := time.NewTicker(poll)
	defer t.Stop()
	last := -1
	for {
		if n, err := p.Registered(ctx, service); err == nil {
			last = n
			if ok(n) {
				return n, nil
			}
		}
		select {
		case <-ctx.Done():
			return last, fmt.Errorf("registry lists %d: %w", last, ctx.Err())
		case <-t.C:
		}
	}
}
