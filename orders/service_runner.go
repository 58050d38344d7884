package main

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/saga"
)

// runner drives sagas in the background, on its own context rather than a
// request's: a client that gives up must not stop a checkout half-way (it
// would only be resumed later). At most MaxDriving run at once; a saga
// that finds no slot waits in a bounded queue for the next free one, and
// beyond that in the database for the resume loop.
type runner struct {
	engine *saga.Engine
	logger log.Logger
	ctx    context.Context
	cancel context.CancelFunc
	slots  chan struct{}
	wg     sync.WaitGroup

	mu      sync.Mutex
	stopped bool
	drives  map[string]*drive // the sagas being driven now, by id
	backlog []string          // sagas waiting for a slot, oldest first
}

// drive is one background Run of a saga, for whoever waits for it.
type drive struct {
	done chan struct{}
	// state and err are Run's results, set before done is closed.
	state saga.State
	err   error

	mu sync.Mutex
	// failure is the error a step ended with, kept whole: the saga's
	// persisted Problem has its reason but not its metadata (the
	// product and quantity of INSUFFICIENT_STOCK), which the answer to
	// the request that placed the order should carry.
	failure *errs.Error
}

func newRunner(e *saga.Engine, maxDriving int, logger log.Logger) *runner {
	ctx, cancel := context.WithCancel(context.Background())
	return &runner{engine: e, logger: logger, ctx: ctx, cancel: cancel,
		slots: make(chan struct{}, maxDriving), drives: make(map[string]*drive)}
}

// start drives saga id in the background unless this runner drives it
// already, waiting while ctx lasts for a free slot. It returns the drive
// to wait for, or nil when no slot came free in time or the runner has
// stopped. A saga left without a slot is queued (see backlog): this
// instance holds its lease, so no resume loop would take it before the
// lease expired.
func (r *runner) start(ctx context.Context, id string) *drive {
	if d := r.current(id); d != nil {
		return d
	}
	select {
	case r.slots <- struct{}{}:
	default:
		select {
		case r.slots <- struct{}{}:
		case <-ctx.Done():
			r.queue(id)
			return nil
		case <-r.ctx.Done():
			return nil
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		<-r.slots
		return nil
	}
	if d := r.drives[id]; d != nil {
		// Started by someone else while this one waited for a slot.
		<-r.slots
		return d
	}
	d := &drive{done: make(chan struct{})}
	r.drives[id] = d
	r.wg.Add(1)
	go r.run(id, d)
	return d
}

// maxBacklog bounds the queue of sagas waiting for a slot, per slot;
// beyond it a saga waits for its lease to expire and the resume loop.
const maxBacklog = 16

// queue adds id to the sagas that the next free slot drives.
func (r *runner) queue(id string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped || len(r.backlog) >= maxBacklog*cap(r.slots) || r.drives[id] != nil || slices.Contains(r.backlog, id) {
		return
	}
	r.backlog = append(r.backlog, id)
}

// run drives id and then, with the same slot, whatever was queued.
func (r *runner) run(id string, d *drive) {
	defer r.wg.Done()
	defer func() { <-r.slots }()
	for {
		r.drive(id, d)
		if id, d = r.next(); d == nil {
			return
		}
	}
}

// next takes the first queued saga not being driven yet, registered as
// driven, or returns a nil drive.
func (r *runner) next() (string, *drive) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for len(r.backlog) > 0 && !r.stopped {
		id := r.backlog[0]
		r.backlog = r.backlog[1:]
		if r.drives[id] == nil {
			d := &drive{done: make(chan struct{})}
			r.drives[id] = d
			return id, d
		}
	}
	return "", nil
}

func (r *runner) drive(id string, d *drive) {
	// The drive runs on the runner's context, not a request's; its spans
	// and transition logs follow the trace the saga carries (State.Trace).
	d.state, d.err = r.runPatiently(id)
	logger := log.With(r.logger, "saga_id", id, logx.KeyTraceID, traceIDOf(d.state.Trace), logx.KeyRequestID, d.state.RequestID)
	switch {
	case d.err == nil, errors.Is(d.err, saga.ErrLeaseHeld):
		// Finished, or driven by another instance: nothing to report.
	case errors.Is(d.err, saga.ErrParked):
		_ = level.Info(logger).Log("msg", "saga parked while a peer is unreachable; it will be resumed", "err", d.err)
	case r.ctx.Err() != nil:
		_ = level.Info(logger).Log("msg", "stopped driving a saga; it will be resumed", "status", d.state.Status)
	default:
		_ = level.Warn(logger).Log("msg", "saga drive ended early; it will be resumed", "status", d.state.Status, "err", d.err)
	}
	r.mu.Lock()
	delete(r.drives, id)
	r.mu.Unlock()
	close(d.done)
}

// storeRetries bounds how often runPatiently drives a saga again after the store
// failed it; storeBackoff is the first wait, doubled each time (about
// 1.5 s in all).
const (
	storeRetries = 5
	storeBackoff = 100 * time.Millisecond
)

// runPatiently drives saga id, and drives it again shortly when the drive ended on
// the store being unavailable (the database restarting): this instance
// still holds the saga's lease, so without it the saga would wait for the
// lease to expire (KITSHOP_ORDERS_LEASE_TTL, 30 s) and the resume loop,
// and the request that placed the order would time out meanwhile (chaos
// postgres-restart: p99 29 s). Driving again is what resuming does: every
// step is idempotent by its key.
func (r *runner) runPatiently(id string) (saga.State, error) {
	delay := storeBackoff
	for attempt := 1; ; attempt++ {
		st, err := r.engine.Run(r.ctx, id)
		if err == nil || attempt == storeRetries || !storeUnavailable(err) || r.ctx.Err() != nil {
			return st, err
		}
		_ = level.Info(r.logger).Log("msg", "the store failed a saga drive; driving it again", "saga_id", id,
			"attempt", attempt, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-r.ctx.Done():
			t.Stop()
			return st, err
		case <-t.C:
		}
		delay *= 2
	}
}

// storeUnavailable: the drive ended because the store could not be read
// or written, not for a reason of the saga's own (parked, lease held or
// lost, a step's failure).
func storeUnavailable(err error) bool {
	if errors.Is(err, saga.ErrLeaseHeld) || errors.Is(err, saga.ErrLeaseLost) || errors.Is(err, saga.ErrParked) {
		return false
	}
	return errs.KindOf(err) == errs.Unavailable
}

func (r *runner) current(id string) *drive {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drives[id]
}

// note keeps err on saga id's current drive as the failure to report.
func (r *runner) note(id string, err error) {
	d := r.current(id)
	if d == nil {
		return
	}
	e := errs.As(err)
	d.mu.Lock()
	d.failure = e
	d.mu.Unlock()
}

func (d *drive) failed() *errs.Error {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.failure
}

// stop ends every drive and waits for them; idempotent.
func (r *runner) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
	r.cancel()
	r.wg.Wait()
}

// awaitPoll is how often a waiter re-reads a saga that another
// instance drives (or that no slot was free for).
const awaitPoll = 200 * time.Millisecond

// await waits until saga id is final or ctx ends, following d when this
// instance drives it and polling the store otherwise. It returns whether
// the saga was seen final, and the failure d noted, if any.
func (s *service) await(ctx context.Context, id string, d *drive) (final bool, failure *errs.Error) {
	if d != nil {
		select {
		case <-d.done:
			if d.state.Status.Final() {
				return true, d.failed()
			}
		case <-ctx.Done():
			return false, nil
		}
	}
	t := time.NewTicker(awaitPoll)
	defer t.Stop()
	for {
		st, err := s.store.LoadSaga(ctx, id)
		if err == nil && st.Status.Final() {
			return true, nil
		}
		select {
		case <-ctx.Done():
			return false, nil
		case <-t.C:
		}
	}
}
