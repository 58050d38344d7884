package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/saga"
	"github.com/kitshop/kitshop/orders/client"
)

// The order event stream, service side.
//
// Every status change is written to the outbox in the transaction that
// makes it (Store.CreateOrder, SaveSaga with an OrderChange, Ship). Two
// background jobs take it from there:
//
//   - the relay moves outbox entries to the append-only event log
//     (Store.RelayEvents), which gives them dense offsets and wakes every
//     instance's readers. It runs when this instance signals a status
//     change (StatusChanged) and at least every relayEvery, so entries
//     written by an instance that died before relaying are relayed by
//     another one. One relay runs at a time across instances (the store
//     serializes them); the others find nothing to do.
//   - the notification worker is the log's consumer in this process
//     (consumer name "notifications"): it reads the log at its own pace
//     from its stored offset and turns each event into a Notification,
//     stored with the new offset in one transaction, so a worker that was
//     down catches up with no gap and no duplicate. Several instances may
//     run it: the store hands each batch to one of them.
//
// Retention: the event log is kept for ever in this version. Nothing
// deletes events; a later issue may drop entries below the smallest
// consumer offset (and below what WatchOrder needs, which is only the
// latest offset per order) once consumers are registered with an age
// limit. Until then the log grows by a few rows per order, like the order
// tables themselves.

// notificationsConsumer is the notification worker's consumer name in the
// event log (its offset in event_consumers).
const notificationsConsumer = "notifications"

const (
	// defaultRelayEvery is the longest the relay sleeps without a local
	// signal: the bound on how late an event written by another instance
	// that died before relaying it (or whose signal was lost) is published.
	defaultRelayEvery = 500 * time.Millisecond
	// relayBatch entries move per RelayEvents call, and one relay round
	// makes at most relayRoundBatches calls before it yields (a backlog is
	// then worked through in the following rounds, which start at once).
	relayBatch        = 100
	relayRoundBatches = 10
	// notifyBatch events are handed to the notification worker at once.
	notifyBatch = 100
	// eventStoreTimeout bounds each store call of the jobs, so a frozen
	// database stalls a job for that long, never for ever.
	eventStoreTimeout = 30 * time.Second
	// Backoff after failures: from eventBackoffBase, doubling, up to
	// eventBackoffMax, jittered over its upper half so instances do not
	// retry in step.
	eventBackoffBase = 200 * time.Millisecond
	eventBackoffMax  = 10 * time.Second
	// eventMinIdleRound spaces the rounds that found nothing to do: a store
	// whose wake-up returns at once (a broken listener) costs at most one
	// query per eventMinIdleRound per loop, not a busy loop.
	eventMinIdleRound = 50 * time.Millisecond
)

// eventJobs runs the relay and the notification worker. The zero values of
// relayEvery and now take their defaults, so a literal with store and
// logger set is ready; newEventJobs is the same with the defaults filled.
//
// The service adds Jobs() to its own and calls StatusChanged itself after
// each write that changed a status (PlaceOrder, ShipOrder, and every final
// saga save in onTransition), so the relay wakes at once.
type eventJobs struct {
	store      Store
	logger     log.Logger
	relayEvery time.Duration
	now        func() time.Time

	once sync.Once
	// wake holds at most one pending relay request: signals that arrive
	// while a round runs collapse into one more round.
	wake chan struct{}
}

func newEventJobs(store Store, logger log.Logger, now func() time.Time) *eventJobs {
	e := &eventJobs{store: store, logger: logger, now: now}
	e.init()
	return e
}

func (e *eventJobs) init() {
	e.once.Do(func() {
		e.wake = make(chan struct{}, 1)
		if e.relayEvery <= 0 {
			e.relayEvery = defaultRelayEvery
		}
		if e.now == nil {
			e.now = time.Now
		}
		if e.logger == nil {
			e.logger = log.NewNopLogger()
		}
	})
}

// StatusChanged asks the relay for a round soon. It never blocks, so the
// service may call it on any path right after its write commits.
func (e *eventJobs) StatusChanged() {
	e.init()
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

// signalling returns store with every write that may change an order's
// status (CreateOrder, SaveSaga with a status in its change, Ship)
// followed, once it succeeded, by StatusChanged, for a caller that writes
// through the Store without the service (the service signals explicitly).
// A spurious signal (a status that was already the stored one) costs one
// empty relay.
func (e *eventJobs) signalling(store Store) Store {
	e.init()
	return &signallingStore{Store: store, jobs: e}
}

type signallingStore struct {
	Store
	jobs *eventJobs
}

func (s *signallingStore) CreateOrder(ctx context.Context, o Order, st saga.State, idem *IdemClaim) (IdemRecord, bool, error) {
	rec, created, err := s.Store.CreateOrder(ctx, o, st, idem)
	if err == nil && created {
		s.jobs.StatusChanged()
	}
	return rec, created, err
}

func (s *signallingStore) SaveSaga(ctx context.Context, st *saga.State, change *OrderChange) error {
	err := s.Store.SaveSaga(ctx, st, change)
	if err == nil && change != nil && change.Status != "" {
		s.jobs.StatusChanged()
	}
	return err
}

func (s *signallingStore) Ship(ctx context.Context, id string, now time.Time) (Order, error) {
	o, err := s.Store.Ship(ctx, id, now)
	if err == nil {
		s.jobs.StatusChanged()
	}
	return o, err
}

// Jobs are the relay loop and the notification worker. Each returns nil
// when ctx ends and never returns early on store errors: those are logged
// and retried with backoff.
func (e *eventJobs) Jobs() []func(context.Context) error {
	e.init()
	return []func(context.Context) error{e.runRelay, e.runNotifications}
}

// runRelay relays whenever woken and at least every relayEvery.
func (e *eventJobs) runRelay(ctx context.Context) error {
	e.init()
	var failures int
	t := time.NewTimer(0) // a first round at start: leftovers of a crash
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-e.wake:
		case <-t.C:
		}
		moved, more, err := e.relayRound(ctx)
		next := e.relayEvery
		switch {
		case err != nil && ctx.Err() != nil:
			return nil
		case err != nil:
			failures++
			next = eventBackoff(failures)
			_ = level.Warn(e.logger).Log("msg", "order event relay failed; retrying", "moved", moved, "retry_in", next, "err", err)
		case more:
			failures = 0
			next = 0 // a backlog: go on at once, after a ctx check
		default:
			failures = 0
		}
		t.Reset(next) // Go 1.23+ timers drop a stale tick on Reset
	}
}

// relayRound moves outbox entries to the log until the outbox is empty,
// another instance holds the relay, or relayRoundBatches calls were made
// (more is then true).
func (e *eventJobs) relayRound(ctx context.Context) (moved int, more bool, err error) {
	for range relayRoundBatches {
		cctx, cancel := context.WithTimeout(ctx, eventStoreTimeout)
		n, err := e.store.RelayEvents(cctx, relayBatch)
		cancel()
		moved += n
		if err != nil {
			return moved, false, err
		}
		if n < relayBatch {
			return moved, false, nil
		}
	}
	return moved, true, nil
}

// runNotifications consumes the log as notificationsConsumer until ctx
// ends: batches back to back while there is a backlog, then it sleeps in
// Store.WaitEvents until the log grows.
func (e *eventJobs) runNotifications(ctx context.Context) error {
	e.init()
	var failures int
	var lastIdle time.Time
	for ctx.Err() == nil {
		n, err := e.consumeOnce(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			failures++
			wait := eventBackoff(failures)
			_ = level.Warn(e.logger).Log("msg", "notification worker failed; retrying", "retry_in", wait, "err", err)
			eventSleep(ctx, wait)
			continue
		}
		failures = 0
		if n == notifyBatch {
			continue // a backlog: catch up before waiting
		}
		// Caught up. The stored offset, not the last batch, says where:
		// another instance's worker may have consumed since.
		if err := e.waitForEvents(ctx, &lastIdle); err != nil && ctx.Err() == nil {
			failures++
			wait := eventBackoff(failures)
			_ = level.Warn(e.logger).Log("msg", "notification worker could not wait for events; retrying", "retry_in", wait, "err", err)
			eventSleep(ctx, wait)
		}
	}
	return nil
}

func (e *eventJobs) waitForEvents(ctx context.Context, lastIdle *time.Time) error {
	if d := eventMinIdleRound - time.Since(*lastIdle); d > 0 {
		eventSleep(ctx, d)
	}
	*lastIdle = time.Now()
	cctx, cancel := context.WithTimeout(ctx, eventStoreTimeout)
	offset, err := e.store.ConsumerOffset(cctx, notificationsConsumer)
	cancel()
	if err != nil {
		return err
	}
	// WaitEvents returns at the latest after the store's poll interval;
	// the timeout only guards against a store that would not.
	cctx, cancel = context.WithTimeout(ctx, eventStoreTimeout)
	defer cancel()
	if err := e.store.WaitEvents(cctx, offset); err != nil && cctx.Err() == nil {
		return err
	}
	return nil
}

// consumeOnce hands the worker's next batch to notificationsFor and logs
// what was stored, once the transaction that stored it committed (a
// failed batch is handed again and must not have been logged as sent).
func (e *eventJobs) consumeOnce(ctx context.Context) (int, error) {
	var made []Notification
	cctx, cancel := context.WithTimeout(ctx, eventStoreTimeout)
	defer cancel()
	n, err := e.store.ConsumeEvents(cctx, notificationsConsumer, notifyBatch, func(batch []Event) ([]Notification, error) {
		made = notificationsFor(batch, e.now())
		return made, nil
	})
	if err != nil {
		return n, err
	}
	for _, m := range made {
		// No user id, address or message text: the order id and the kind
		// say what was sent without personal data in the logs.
		_ = level.Info(e.logger).Log("msg", "order notification", "offset", m.Offset, "order_id", m.OrderID, "kind", m.Kind)
	}
	return n, nil
}

// notificationsFor makes one notification per event. It never fails: an
// event it cannot describe gets a generic message, because an error here
// would stop the consumer on that event for ever.
func notificationsFor(batch []Event, now time.Time) []Notification {
	out := make([]Notification, len(batch))
	for i, ev := range batch {
		kind, msg := describeEvent(ev)
		out[i] = Notification{Offset: ev.Offset, OrderID: ev.OrderID, UserID: ev.UserID,
			Kind: kind, Message: msg, CreatedAt: now}
	}
	return out
}

// Notification kinds, one per status (stable names a sender would switch on).
const (
	notifyReceived       = "order_received"
	notifyConfirmed      = "order_confirmed"
	notifyShipped        = "order_shipped"
	notifyCancelled      = "order_cancelled"
	notifyNeedsAttention = "order_needs_attention"
	notifyUpdated        = "order_updated"
)

func describeEvent(ev Event) (kind, message string) {
	id := ev.OrderID
	switch ev.Status {
	case StatusPending:
		return notifyReceived, fmt.Sprintf("We received your order %s and are confirming it.", id)
	case StatusConfirmed:
		return notifyConfirmed, fmt.Sprintf("Your order %s is confirmed.", id)
	case StatusShipped:
		return notifyShipped, fmt.Sprintf("Your order %s has shipped.", id)
	case StatusCancelled:
		return notifyCancelled, fmt.Sprintf("Your order %s was cancelled: %s", id, cancelExplanation(ev.Reason))
	case StatusRequiresAttention:
		return notifyNeedsAttention, fmt.Sprintf("Your order %s ran into a problem; our team has been alerted and will resolve it.", id)
	default:
		return notifyUpdated, fmt.Sprintf("Your order %s is now %s.", id, ev.Status)
	}
}

// cancelExplanation tells the customer why, from the order's failure
// reason (orders/client reasons, and the cancel saga's
// CANCELLED_BY_CUSTOMER).
func cancelExplanation(reason string) string {
	switch reason {
	case ReasonCancelledByCustomer:
		return "cancelled as you asked; your payment is refunded."
	case client.ReasonPaymentDeclined, client.ReasonInsufficientFunds:
		return "the payment was declined. Nothing was charged."
	case client.ReasonPaymentFailed:
		return "the payment could not be processed. Nothing was charged."
	case client.ReasonInsufficientStock:
		return "an item is out of stock. Nothing was charged."
	case client.ReasonReservationExpired:
		return "an item sold out before the order completed; your payment is refunded."
	default:
		return "the order could not be completed. Anything charged is refunded."
	}
}

// eventBackoff is the wait after the n-th failure in a row (n >= 1).
func eventBackoff(n int) time.Duration {
	d := eventBackoffBase << min(n-1, 30)
	if d > eventBackoffMax || d <= 0 {
		d = eventBackoffMax
	}
	return d/2 + time.Duration(rand.Int64N(int64(d/2)+1))
}

// eventSleep waits for d or until ctx ends.
func eventSleep(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}
