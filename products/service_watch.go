package main

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/valid"
)

// ErrWatchClosed is what Next returns after Close.
var ErrWatchClosed = errs.New(errs.Canceled, errs.ReasonCanceled, "stock watch closed")

// Fan-out design. The store is the source of changes (Store.WatchStock):
// the memory store publishes under its lock as it commits; the Postgres
// store publishes what a trigger NOTIFYs on commit, received through a
// pq.Listener, so a change made by any instance reaches the watchers of
// every instance. The broker below routes each change to the watches
// subscribed to that product, without ever blocking the publisher: each
// watch has a bounded queue, and a watch whose queue is full is cut off
// with ErrSlowConsumer instead of growing memory or stalling the others.
//
// When the store says changes may have been lost (Resync), each watch
// re-reads its own products in its consumer's Next, on that consumer's
// context: the work ends with the stream that wanted it, no goroutine
// outlives it, and one watch's reads cost only what it watches.

type stockBroker struct {
	buffer int
	logger log.Logger

	mu        sync.Mutex
	byProduct map[string]map[*StockWatch]struct{}
}

func newStockBroker(buffer int, logger log.Logger) *stockBroker {
	return &stockBroker{buffer: buffer, logger: logger, byProduct: map[string]map[*StockWatch]struct{}{}}
}

// Publish implements StockSink.
func (b *stockBroker) Publish(l StockLevel) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for w := range b.byProduct[l.ProductID] {
		w.offer(l)
	}
}

// Resync implements StockSink: it asks every watch to re-read the levels
// of its products; watches drop levels they already have.
func (b *stockBroker) Resync() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, set := range b.byProduct {
		for w := range set {
			w.requestResync()
		}
	}
}

func (b *stockBroker) add(w *StockWatch, ids []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		set := b.byProduct[id]
		if set == nil {
			set = map[*StockWatch]struct{}{}
			b.byProduct[id] = set
		}
		set[w] = struct{}{}
	}
}

func (b *stockBroker) remove(w *StockWatch, ids []string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, id := range ids {
		if set := b.byProduct[id]; set != nil {
			delete(set, w)
			if len(set) == 0 {
				delete(b.byProduct, id)
			}
		}
	}
}

// StockWatch is one client's view of stock changes. Subscribe and
// Unsubscribe may be called at any time, concurrently with Next; Next is
// for a single consumer.
type StockWatch struct {
	b       *stockBroker
	read    func(ctx context.Context, ids []string) ([]StockLevel, error)
	maxSubs int
	ch      chan StockLevel
	done    chan struct{}
	// resync holds a pending request to re-read every subscribed level.
	resync chan struct{}
	// release gives the watch's place back (Options.MaxWatchers); Close
	// calls it once.
	release func()

	mu sync.Mutex
	// subs maps each subscribed product to the highest version queued for
	// it, so an older or repeated level (a snapshot racing a change, a
	// resync) is never queued after a newer one.
	subs map[string]int64
	err  error
}

func (s *service) WatchStock(context.Context) (*StockWatch, error) {
	// Count first, check after: two racing opens may both be refused near
	// the limit, but it is never exceeded.
	if s.watchers.Add(1) > int64(s.opts.MaxWatchers) {
		s.watchers.Add(-1)
		return nil, ErrTooManyWatchers
	}
	return &StockWatch{
		b: s.broker, read: s.currentLevels, maxSubs: s.opts.MaxWatchedProducts,
		ch: make(chan StockLevel, s.broker.buffer), done: make(chan struct{}), resync: make(chan struct{}, 1),
		subs: map[string]int64{}, release: sync.OnceFunc(func() { s.watchers.Add(-1) }),
	}, nil
}

func (s *service) RunStockFeed(ctx context.Context) error {
	return s.store.WatchStock(ctx, s.broker)
}

func (s *service) currentLevels(ctx context.Context, ids []string) ([]StockLevel, error) {
	ps, err := s.store.GetProducts(ctx, ids)
	if err != nil {
		return nil, err
	}
	levels := make([]StockLevel, len(ps))
	for i, p := range ps {
		levels[i] = p.Level()
	}
	return levels, nil
}

// Subscribe adds products to the watch and queues each one's current
// level; unknown products are watched but have no level until they change.
// InvalidArgument for malformed ids; ErrTooManySubscriptions (Meta limit)
// if the watch would follow more than Options.MaxWatchedProducts.
func (w *StockWatch) Subscribe(ctx context.Context, ids []string) error {
	canon, err := canonicalIDs("subscribe.product_ids", ids)
	if err != nil {
		return err
	}
	w.mu.Lock()
	if w.err != nil {
		w.mu.Unlock()
		return w.err
	}
	var added []string
	for _, id := range canon {
		if _, ok := w.subs[id]; !ok {
			added = append(added, id)
		}
	}
	if len(w.subs)+len(added) > w.maxSubs {
		w.mu.Unlock()
		e := ErrTooManySubscriptions.With("limit", w.maxSubs)
		e.Message = fmt.Sprintf("a stock watch follows at most %d products", w.maxSubs)
		return e
	}
	for _, id := range added {
		w.subs[id] = 0
	}
	w.mu.Unlock()
	// Register before reading, so a change committed after the read is
	// published to us; one committed before is in the snapshot, and the
	// version check drops whichever arrives second.
	w.b.add(w, added)
	if err := w.closedErr(); err != nil {
		// Close ran between our bookkeeping and add; undo the add so
		// the broker does not keep a closed watch.
		w.b.remove(w, added)
		return err
	}
	if len(canon) == 0 {
		return nil
	}
	levels, err := w.read(ctx, canon)
	if err != nil {
		return err
	}
	for _, l := range levels {
		w.offer(l)
	}
	return nil
}

// Unsubscribe removes products; nothing more is delivered for them, even
// levels already queued.
func (w *StockWatch) Unsubscribe(ids []string) error {
	canon, err := canonicalIDs("unsubscribe.product_ids", ids)
	if err != nil {
		return err
	}
	w.mu.Lock()
	for _, id := range canon {
		delete(w.subs, id)
	}
	w.mu.Unlock()
	w.b.remove(w, canon)
	return nil
}

// Next blocks until a level for a subscribed product is available and
// returns it. It returns ErrSlowConsumer once the watch was cut off,
// ErrWatchClosed after Close, or ctx's error. A pending resync is done
// here, on ctx.
func (w *StockWatch) Next(ctx context.Context) (StockLevel, error) {
	for {
		// A cut-off watch stops at once rather than draining its queue.
		select {
		case <-w.done:
			return StockLevel{}, w.closedErr()
		default:
		}
		select {
		case <-w.done:
			return StockLevel{}, w.closedErr()
		case <-ctx.Done():
			return StockLevel{}, ctx.Err()
		case <-w.resync:
			w.reread(ctx)
		case l := <-w.ch:
			w.mu.Lock()
			_, ok := w.subs[l.ProductID]
			w.mu.Unlock()
			if ok {
				return l, nil
			}
		}
	}
}

// requestResync asks the consumer to re-read every subscribed level. It
// never blocks: one pending request covers any number.
func (w *StockWatch) requestResync() {
	select {
	case w.resync <- struct{}{}:
	default:
	}
}

// reread queues the current level of every subscribed product. A failed
// read is logged and dropped, as retrying against a database that just
// failed would spin: the levels shown stay stale until the next change.
func (w *StockWatch) reread(ctx context.Context) {
	w.mu.Lock()
	ids := make([]string, 0, len(w.subs))
	for id := range w.subs {
		ids = append(ids, id)
	}
	w.mu.Unlock()
	if len(ids) == 0 {
		return
	}
	levels, err := w.read(ctx, ids)
	if err != nil {
		if ctx.Err() == nil {
			level.Warn(w.b.logger).Log("msg", "stock watch resync failed; the watcher may show stale levels until the next change", "err", err)
		}
		return
	}
	for _, l := range levels {
		w.offer(l)
	}
}

// Done is closed when the watch ends: cut off or closed.
func (w *StockWatch) Done() <-chan struct{} { return w.done }

// Err says why the watch ended (ErrSlowConsumer or ErrWatchClosed); nil
// while it runs.
func (w *StockWatch) Err() error { return w.closedErr() }

// Close ends the watch and unregisters it. Safe to call more than once.
func (w *StockWatch) Close() {
	w.mu.Lock()
	ids := make([]string, 0, len(w.subs))
	for id := range w.subs {
		ids = append(ids, id)
	}
	w.subs = map[string]int64{}
	w.stopLocked(ErrWatchClosed)
	w.mu.Unlock()
	w.b.remove(w, ids)
	w.release()
}

// offer queues l if it is for a subscribed product and newer than what was
// queued for it; a full queue cuts the watch off. It never blocks.
func (w *StockWatch) offer(l StockLevel) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.err != nil {
		return
	}
	last, ok := w.subs[l.ProductID]
	if !ok || l.Version <= last {
		return
	}
	select {
	case w.ch <- l:
		w.subs[l.ProductID] = l.Version
	default:
		w.stopLocked(ErrSlowConsumer)
	}
}

func (w *StockWatch) stopLocked(err error) {
	if w.err == nil {
		w.err = err
		close(w.done)
	}
}

func (w *StockWatch) closedErr() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

func canonicalIDs(field string, ids []string) ([]string, error) {
	var v errs.Validation
	out := make([]string, 0, len(ids))
	seen := map[string]bool{}
	for i, id := range ids {
		c := valid.ID(&v, fmt.Sprintf("%s[%d]", field, i), id)
		if c != "" && !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out, v.Err()
}
