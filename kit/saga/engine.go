package saga

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/logx"
)

// Config configures an Engine. Store, Definitions and Owner are required.
type Config struct {
	Store       Store
	Definitions []*Definition
	// Owner names this instance in leases; it must be unique among the
	// instances sharing the store (host name, pid and a random suffix).
	Owner string
	// LeaseTTL is how long a claim lasts without renewal: how soon another
	// instance takes over a dead one's sagas. Default 30s.
	LeaseTTL time.Duration
	// RenewEvery is how often a driving engine renews its lease, in real
	// time. Default LeaseTTL/3, so that two renewals may fail in a row.
	RenewEvery time.Duration
	// ResumeBatch bounds how many sagas one Resume drives. Default 100.
	ResumeBatch int
	// ParkFor is how long a parked saga (see Definition.Patience) waits
	// before Resume drives it again. Default 5s.
	ParkFor time.Duration
	// Now and Sleep are the clock and the backoff wait; tests inject fakes.
	// Sleep must return early, with an error, when ctx ends.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error
	// OnTransition, when set, is called with a copy of the state after
	// every save, in the driving goroutine: status writes, metrics, logs.
	// It must not block for long; the next step waits for it.
	OnTransition func(State)
	// Observe, when set, is told of every step's transitions as they
	// happen (see Event), in the driving goroutine, with a context that
	// carries the step's span: logs, step metrics. Like OnTransition, it
	// must not block for long.
	Observe func(context.Context, Event)
	// Tracer, when set, traces every drive and step (see trace.go) under
	// the trace State.Trace names.
	Tracer *zipkin.Tracer
}

// Engine drives sagas. It is safe for concurrent use: several sagas may
// be driven at once, each by one Run.
type Engine struct {
	store        Store
	defs         map[string]*Definition
	owner        string
	ttl, renew   time.Duration
	park         time.Duration
	batch        int
	now          func() time.Time
	sleep        func(context.Context, time.Duration) error
	onTransition func(State)
	observe      func(context.Context, Event)
	tracer       *zipkin.Tracer

	// driving holds the ids this engine is driving now. A lease is per
	// owner, so the store would let a second Run of this engine claim a
	// saga the first is driving; this keeps them apart.
	mu      sync.Mutex
	driving map[string]bool
}

// saveTimeout bounds a save made after the caller's context ended: an
// outcome already known is worth recording, but not worth waiting long for.
const saveTimeout = 5 * time.Second

// New returns an Engine, or an error for an unusable Config.
func New(cfg Config) (*Engine, error) {
	if cfg.Store == nil || cfg.Owner == "" {
		return nil, errors.New("saga: Config needs a Store and an Owner")
	}
	e := &Engine{store: cfg.Store, defs: make(map[string]*Definition), owner: cfg.Owner,
		ttl: cfg.LeaseTTL, renew: cfg.RenewEvery, batch: cfg.ResumeBatch, park: cfg.ParkFor,
		now: cfg.Now, sleep: cfg.Sleep, onTransition: cfg.OnTransition, driving: make(map[string]bool),
		observe: cfg.Observe, tracer: cfg.Tracer}
	for _, d := range cfg.Definitions {
		if err := d.validate(); err != nil {
			return nil, err
		}
		if _, dup := e.defs[d.Name]; dup {
			return nil, fmt.Errorf("saga: two definitions named %q", d.Name)
		}
		e.defs[d.Name] = d
	}
	if e.ttl <= 0 {
		e.ttl = 30 * time.Second
	}
	if e.renew <= 0 {
		e.renew = e.ttl / 3
	}
	if e.park <= 0 {
		e.park = 5 * time.Second
	}
	if e.batch <= 0 {
		e.batch = 100
	}
	if e.now == nil {
		e.now = time.Now
	}
	if e.sleep == nil {
		e.sleep = sleep
	}
	return e, nil
}

// Run claims saga id and drives it until it is final, then returns its
// final state. It returns early, with the state as last persisted:
//   - ErrLeaseHeld when another owner holds a live lease on the saga;
//   - ErrLeaseLost when the lease was lost while driving;
//   - ErrParked when a step's peer stayed unreachable (Definition.Patience):
//     the saga waits, unfailed, for Resume;
//   - an error wrapping ctx's cause when ctx ended: the saga is left as it
//     was persisted, not failed, and Run or Resume goes on with it later;
//   - the Store's error when loading, claiming or saving failed.
//
// A saga already final is returned as it is.
func (e *Engine) Run(ctx context.Context, id string) (State, error) {
	st, err := e.store.Load(ctx, id)
	if err != nil {
		return st, fmt.Errorf("saga %s: load: %w", id, err)
	}
	if st.Status.Final() {
		return st, nil
	}
	def, err := e.definition(st)
	if err != nil {
		return st, err
	}
	if !e.enter(id) {
		return st, fmt.Errorf("saga %s: driven by this engine already: %w", id, ErrLeaseHeld)
	}
	defer e.leave(id)
	if now := e.now(); !e.holds(st, now) {
		claimed, err := e.store.Claim(ctx, id, e.owner, now, now.Add(e.ttl))
		if err != nil {
			return st, fmt.Errorf("saga %s: claim: %w", id, err)
		}
		st = claimed
	}
	work, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer e.heartbeat(work, cancel, id)()
	began := e.now()
	work = logx.WithRequestID(work, st.RequestID)
	work, span := e.startDrive(work, &st)
	d := &driver{e: e, def: def, st: &st, ctx: work, saved: st.Clone(), fresh: -1}
	err = d.drive()
	if err == nil && d.saved.Status.Final() {
		d.observe(work, EventFinished, -1, 0, e.now().Sub(began), nil)
	}
	endDrive(span, d.saved, err)
	return d.saved, err
}

// Resume drives every saga left unfinished with a free or expired lease:
// those of a crashed or stopped instance, and those whose creator never
// ran them. Call it on start and periodically. It returns how many sagas
// it drove to a final state, and the errors of the others joined (a saga
// another instance claimed first is not an error).
func (e *Engine) Resume(ctx context.Context) (int, error) {
	ids, err := e.store.ListClaimable(ctx, e.now(), e.batch)
	if err != nil {
		return 0, fmt.Errorf("saga: list claimable: %w", err)
	}
	finished := 0
	var failures []error
	for _, id := range ids {
		if ctx.Err() != nil {
			failures = append(failures, context.Cause(ctx))
			break
		}
		_, err := e.Run(ctx, id)
		switch {
		case err == nil:
			finished++
		case !errors.Is(err, ErrLeaseHeld) && !errors.Is(err, ErrParked):
			failures = append(failures, err)
		}
	}
	return finished, errors.Join(failures...)
}

// holds reports whether st, as just loaded, shows a lease of this
// engine's with more than half its time left. Run then skips the claim (a
// write): a creator that persists a new saga with its own lease, so that
// no other instance takes it before it is driven, drives it at once with
// one round trip less. Fencing is intact: another engine can only have
// claimed the saga since it was loaded after that lease expired, and its
// claim bumped the version, so this engine's first save conflicts, as it
// would after a claim of its own. A drive of this engine's that held the
// lease before has ended (enter keeps drives of one saga apart).
func (e *Engine) holds(st State, now time.Time) bool {
	return st.LeaseOwner == e.owner && st.LeaseExpiry.Sub(now) > e.ttl/2
}

func (e *Engine) enter(id string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.driving[id] {
		return false
	}
	e.driving[id] = true
	return true
}

func (e *Engine) leave(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.driving, id)
}

// definition returns st's definition, checking that its steps are those
// persisted: a changed definition must not be applied to old sagas.
func (e *Engine) definition(st State) (*Definition, error) {
	def, ok := e.defs[st.Definition]
	if !ok {
		return nil, fmt.Errorf("saga %s: unknown definition %q", st.ID, st.Definition)
	}
	if len(def.Steps) != len(st.Steps) {
		return nil, fmt.Errorf("saga %s: definition %q has %d steps, the saga %d", st.ID, def.Name, len(def.Steps), len(st.Steps))
	}
	for i, s := range def.Steps {
		if s.Name != st.Steps[i].Name {
			return nil, fmt.Errorf("saga %s: step %d is %q in definition %q but %q in the saga", st.ID, i, s.Name, def.Name, st.Steps[i].Name)
		}
	}
	return def, nil
}

// heartbeat renews the lease on id every e.renew until the returned stop
// is called; stop waits for it to end. When the lease turns out lost, it
// cancels the drive with ErrLeaseLost. Other renewal errors (a store
// blip) are let pass: if the lease expires meanwhile and another engine
// claims the saga, the claim's version bump fences this engine's saves.
func (e *Engine) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, id string) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(e.renew)
		defer t.Stop()
		for {
			select {
			case <-quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				err := e.store.Renew(ctx, id, e.owner, e.now().Add(e.ttl))
				if errors.Is(err, ErrLeaseHeld) || errors.Is(err, ErrNotFound) {
					cancel(ErrLeaseLost)
					return
				}
			}
		}
	}()
	return func() { close(quit); <-done }
}

// sleep waits d or until ctx ends.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}
