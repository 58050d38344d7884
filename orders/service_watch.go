package main

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/valid"
)

// WatchOrder, service side.
//
// A watch reads the order event log (Store.Events filtered by order), the
// same durable log the notification worker consumes, so it sees changes
// made by any instance, in order, and cannot miss one: it notes the
// order's latest log offset BEFORE loading the order, so a change
// committed after that load has a later offset and is read afterwards
// (the order row commits before its event is relayed, so an event the
// watch has already counted is always reflected in what it loads).
//
// Waking watches up is shared per process and store (eventFeed): one
// follower goroutine reads the whole log as it grows, sleeping in
// Store.WaitEvents (Postgres LISTEN/NOTIFY, or polling), and pokes only
// the watches of the orders that changed. So a thousand open watches cost
// one log reader and one listener, not a thousand, and a watch reads the
// database only when its own order changed. The follower runs while at
// least one watch is open and stops with the last one.
//
// Each message is the order as loaded after a change, never a snapshot
// made up from an event: when an order changes twice before the watch
// reads it (CONFIRMED then SHIPPED within milliseconds), the watch sends
// the latest state only. The final state is always sent, and a status is
// never sent twice in a row.
//
// Bounds: at most DefaultMaxOrderWatchers watches per process (beyond,
// ErrTooManyWatchers), each at most DefaultMaxWatchDuration (then
// ErrWatchExpired; a client watches again and gets the current state
// first, so it loses nothing). A store error ends the watch with that
// error, for the same reason.

const (
	// DefaultMaxOrderWatchers bounds the WatchOrder streams open at once
	// in one process, as products bounds its stock watches: each holds a
	// goroutine, a stream and a share of the database's attention.
	DefaultMaxOrderWatchers = 1000
	// DefaultMaxWatchDuration bounds one watch. A CONFIRMED order may wait
	// days to ship; no stream should stay open that long through proxies
	// and deploys, and a client re-watching after an hour costs nothing.
	DefaultMaxWatchDuration = time.Hour
	// reasonTooManyWatchers (RESOURCE_EXHAUSTED): the instance serves as
	// many watches as it may; retry later or elsewhere. The same code as
	// products' WatchStock.
	reasonTooManyWatchers = "TOO_MANY_WATCHERS"

	// watchEventsPage is how many of one order's events a watch reads at
	// once (an order has a handful).
	watchEventsPage = 100
	// watchRecheck is how often a watch looks at the log for its order
	// without being woken: a safety net against a lost wake-up that costs
	// one indexed query per watch per interval.
	watchRecheck = 30 * time.Second
	// feedPage is how many log entries the follower reads at once.
	feedPage = 500
)

var (
	// ErrTooManyWatchers refuses a watch beyond the process's limit
	// (metadata limit).
	ErrTooManyWatchers = errs.New(errs.ResourceExhausted, reasonTooManyWatchers,
		"this instance has too many open order watches; retry later")
	// ErrWatchExpired ends a watch that reached its maximum duration. It
	// is Expected: a deliberate end from a healthy server, not a failure a
	// breaker should count. Watch again to continue.
	ErrWatchExpired = errs.New(errs.DeadlineExceeded, errs.ReasonDeadline,
		"the watch reached its maximum duration; watch again to continue").AsExpected()
)

// orderWatches is this process's watch hub; main may replace it with
// other limits before serving.
var orderWatches = newWatchHub(DefaultMaxOrderWatchers, DefaultMaxWatchDuration)

// watchOrder is Service.WatchOrder: it sends the order as load returns it
// (load is the service's GetOrder, which checks the caller may see it),
// then again on every status change, until the order is final (nil), ctx
// ends (ctx's error), send fails (send's error), a store or load call
// fails (that error), or the watch expires (ErrWatchExpired).
func watchOrder(ctx context.Context, store Store, load func(ctx context.Context, id string) (Order, error),
	id string, send func(Order) error) error {
	return orderWatches.watch(ctx, store, load, id, send)
}

// watchHub counts the open watches and keeps one eventFeed per store.
type watchHub struct {
	max         int
	maxDuration time.Duration
	open        atomic.Int64

	mu sync.Mutex
	// feeds are kept when idle (a struct each, one per store the process
	// ever watched: one in production), so a restarted follower starts
	// from the offset its predecessor reached.
	feeds map[Store]*eventFeed
}

func newWatchHub(max int, maxDuration time.Duration) *watchHub {
	if max <= 0 {
		max = DefaultMaxOrderWatchers
	}
	if maxDuration <= 0 {
		maxDuration = DefaultMaxWatchDuration
	}
	return &watchHub{max: max, maxDuration: maxDuration, feeds: map[Store]*eventFeed{}}
}

func (h *watchHub) feed(store Store) *eventFeed {
	h.mu.Lock()
	defer h.mu.Unlock()
	f := h.feeds[store]
	if f == nil {
		f = &eventFeed{store: store, subs: map[string]map[*feedSub]struct{}{}}
		h.feeds[store] = f
	}
	return f
}

// Open reports how many watches are open (for tests and metrics).
func (h *watchHub) Open() int { return int(h.open.Load()) }

func (h *watchHub) watch(parent context.Context, store Store, load func(context.Context, string) (Order, error),
	id string, send func(Order) error) error {
	v := &errs.Validation{}
	id = valid.ID(v, "id", id)
	if err := v.Err(); err != nil {
		return err
	}
	// Count first, check after: two racing opens near the limit may both
	// be refused, but the limit is never exceeded.
	if h.open.Add(1) > int64(h.max) {
		h.open.Add(-1)
		e := ErrTooManyWatchers.With("limit", h.max)
		e.Message = fmt.Sprintf("this instance serves at most %d order watches at once; retry later", h.max)
		return e
	}
	defer h.open.Add(-1)

	ctx, cancel := context.WithTimeoutCause(parent, h.maxDuration, ErrWatchExpired)
	defer cancel()
	w := &orderWatch{parent: parent, ctx: ctx, store: store, load: load, id: id, send: send}

	// Subscribe before reading the offset: an event relayed from now on
	// wakes this watch, one relayed before is within the offset read next.
	f := h.feed(store)
	sub := f.subscribe(id)
	defer f.unsubscribe(sub)
	return w.run(sub)
}

// orderWatch is one WatchOrder call.
type orderWatch struct {
	parent, ctx context.Context
	store       Store
	load        func(context.Context, string) (Order, error)
	id          string
	send        func(Order) error

	after int64 // the order's events up to here are reflected in last
	last  Status
}

func (w *orderWatch) run(sub *feedSub) error {
	// The offset BEFORE the load: a change the load missed has a later
	// offset, and one it saw at most makes the watch load again.
	if _, err := w.newEvents(); err != nil {
		return w.stopped(err)
	}
	o, err := w.load(w.ctx, w.id)
	if err != nil {
		return w.stopped(err)
	}
	if err := w.send(o); err != nil {
		return err
	}
	w.last = o.Status

	recheck := time.NewTimer(watchRecheck)
	defer recheck.Stop()
	for !w.last.Final() {
		changed, err := w.newEvents()
		if err != nil {
			return w.stopped(err)
		}
		if changed {
			if err := w.reload(); err != nil {
				return err
			}
			continue // final now? More events meanwhile? Look before sleeping.
		}
		select {
		case <-w.ctx.Done():
			return w.stopped(w.ctx.Err())
		case <-sub.wake:
		case <-recheck.C:
		}
		recheck.Reset(watchRecheck)
	}
	return nil
}

// newEvents reads the order's events after w.after and moves w.after to
// the last; it reports whether there were any.
func (w *orderWatch) newEvents() (bool, error) {
	found := false
	for {
		evs, err := w.store.Events(w.ctx, w.after, w.id, watchEventsPage)
		if err != nil {
			return found, err
		}
		if len(evs) == 0 {
			return found, nil
		}
		found = true
		w.after = evs[len(evs)-1].Offset
		if len(evs) < watchEventsPage {
			return true, nil
		}
	}
}

// reload loads the order and sends it when its status is not the one last
// sent.
func (w *orderWatch) reload() error {
	o, err := w.load(w.ctx, w.id)
	if err != nil {
		return w.stopped(err)
	}
	if o.Status == w.last {
		return nil
	}
	if err := w.send(o); err != nil {
		return err
	}
	w.last = o.Status
	return nil
}

// stopped turns an error met while the watch's context was ending into
// the reason it ended: the caller's context error, or ErrWatchExpired
// when the watch's own time ran out. Other errors are returned as they
// are.
func (w *orderWatch) stopped(err error) error {
	if w.ctx.Err() == nil {
		return err
	}
	if w.parent.Err() != nil {
		return w.parent.Err()
	}
	if errors.Is(context.Cause(w.ctx), ErrWatchExpired) {
		return ErrWatchExpired
	}
	return err
}

// eventFeed follows one store's event log for the watches of this process
// and wakes those whose order has a new event.
//
// Why no wake-up is lost: the follower reads every log entry after its
// cursor, and its cursor never passes the log's head; so an event relayed
// after a watch subscribed is read (and wakes the watch) after the
// subscription. The one gap is a follower's start, when it looks the head
// up: events relayed between a subscription and that look-up would be
// skipped, so a starting follower wakes every watch once it knows the
// head, and each reads its own order's events. A wake-up is a hint: the
// watch reads its order's events from its own offset, so a spurious one
// costs a query and changes nothing.
type eventFeed struct {
	store Store

	mu   sync.Mutex
	subs map[string]map[*feedSub]struct{} // by order id
	n    int
	// stop ends the running follower (nil when none runs); done is closed
	// when it has returned.
	stop context.CancelFunc
	done chan struct{}
	// head is the highest offset a follower has read: a lower bound of
	// the log's head for the next follower's look-up.
	head int64
}

// feedSub is one watch's subscription; wake holds at most one pending
// wake-up, so the follower never blocks on a watch.
type feedSub struct {
	orderID string
	wake    chan struct{}
}

func (f *eventFeed) subscribe(orderID string) *feedSub {
	s := &feedSub{orderID: orderID, wake: make(chan struct{}, 1)}
	f.mu.Lock()
	defer f.mu.Unlock()
	set := f.subs[orderID]
	if set == nil {
		set = map[*feedSub]struct{}{}
		f.subs[orderID] = set
	}
	set[s] = struct{}{}
	f.n++
	if f.stop == nil {
		// The follower serves all watches, so it runs on its own context,
		// never one watch's; the last watch to leave stops it.
		ctx, cancel := context.WithCancel(context.Background())
		f.stop, f.done = cancel, make(chan struct{})
		go f.follow(ctx, f.head, f.done)
	}
	return s
}

// unsubscribe removes s; the last watch to leave stops the follower and
// waits for it, so no goroutine outlives the watches.
func (f *eventFeed) unsubscribe(s *feedSub) {
	f.mu.Lock()
	if set := f.subs[s.orderID]; set != nil {
		delete(set, s)
		if len(set) == 0 {
			delete(f.subs, s.orderID)
		}
	}
	f.n--
	var done chan struct{}
	if f.n == 0 && f.stop != nil {
		f.stop()
		done = f.done
		f.stop, f.done = nil, nil
	}
	f.mu.Unlock()
	if done != nil {
		<-done // prompt: every call of the follower honours its context
	}
}

// follow reads the log from its head as it grows until ctx ends.
func (f *eventFeed) follow(ctx context.Context, from int64, done chan struct{}) {
	defer close(done)
	failures := 0
	retry := func(err error) {
		failures++
		eventSleep(ctx, eventBackoff(failures))
	}
	head := from
	for ctx.Err() == nil {
		h, err := logHead(ctx, f.store, head)
		if err == nil {
			head = h
			break
		}
		retry(err)
	}
	f.wakeAll()
	var lastIdle time.Time
	for ctx.Err() == nil {
		evs, err := f.store.Events(ctx, head, "", feedPage)
		if err != nil {
			retry(err)
			continue
		}
		failures = 0
		if len(evs) > 0 {
			head = evs[len(evs)-1].Offset
			f.dispatch(evs, head)
		}
		if len(evs) == feedPage {
			continue
		}
		if d := eventMinIdleRound - time.Since(lastIdle); d > 0 {
			eventSleep(ctx, d)
		}
		lastIdle = time.Now()
		if err := f.store.WaitEvents(ctx, head); err != nil && ctx.Err() == nil {
			retry(err)
		}
	}
}

func (f *eventFeed) dispatch(evs []Event, head int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.head = max(f.head, head)
	for _, ev := range evs {
		for s := range f.subs[ev.OrderID] {
			s.poke()
		}
	}
}

func (f *eventFeed) wakeAll() {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, set := range f.subs {
		for s := range set {
			s.poke()
		}
	}
}

func (s *feedSub) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// logHead returns the log's highest offset, knowing it is at least from.
// The Store has no call for it; "is there an entry after x" (Events with
// limit 1) is monotonic in x, so an exponential then binary search finds
// it in O(log distance) indexed queries: about 2*log2(n) once per process
// for a log of n entries, and a few when from is recent.
func logHead(ctx context.Context, store Store, from int64) (int64, error) {
	after := func(x int64) (bool, error) {
		evs, err := store.Events(ctx, x, "", 1)
		return len(evs) > 0, err
	}
	lo := from // invariant: the head is above lo, or lo is the head
	more, err := after(lo)
	if err != nil || !more {
		return lo, err
	}
	// Now the head is above lo. Find hi at or above it.
	step := int64(1)
	hi := lo + step
	for {
		more, err := after(hi)
		if err != nil {
			return 0, err
		}
		if !more {
			break
		}
		lo, step = hi, step*2
		hi = lo + step
	}
	// The head is in (lo, hi].
	for hi-lo > 1 {
		mid := lo + (hi-lo)/2
		more, err := after(mid)
		if err != nil {
			return 0, err
		}
		if more {
			lo = mid
		} else {
			hi = mid
		}
	}
	return hi, nil
}
