package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	"github.com/kitshop/kitshop/kit/saga"
)

// Helpers of the event and watch tests, prefixed ev so they cannot clash
// with the other test files of the package.

// evStoreCase opens a fresh store of one kind; instances opens n stores
// that share one database (n processes' view of it), the first being the
// one open returns.
type evStoreCase struct {
	name      string
	open      func(t *testing.T) Store
	instances func(t *testing.T, n int) []Store
}

func evStoreCases() []evStoreCase {
	return []evStoreCase{
		{name: "memory", open: func(t *testing.T) Store { return evMemoryStore(t) }},
		{name: "postgres", open: func(t *testing.T) Store { return evPostgresStores(t, 1)[0] }, instances: evPostgresStores},
	}
}

func evMemoryStore(t *testing.T) Store {
	s := newMemoryStore()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// evPostgresStores opens n stores on one fresh database, each with its own
// pool and listener, as n instances would.
func evPostgresStores(t *testing.T, n int) []Store {
	t.Helper()
	url := pgtest.URL(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []Store
	for range n {
		db, err := pg.OpenMigrated(ctx, url, "orders", migrationFiles)
		if err != nil {
			t.Fatalf("open the orders schema: %v", err)
		}
		s := newPostgresStore(db).withListener(url)
		t.Cleanup(func() { _ = s.Close() })
		out = append(out, s)
	}
	return out
}

// evOrder is an order created in a store, with its checkout saga's state
// kept for the next SaveSaga.
type evOrder struct {
	Order
	st saga.State
}

var evCheckout = &saga.Definition{Name: "checkout.v1", Steps: []saga.Step{
	{Name: "validate_user"}, {Name: "reserve"}, {Name: "charge"}, {Name: "commit"},
}}

// evCreate creates a PENDING order for a new user (its first event).
func evCreate(t *testing.T, s Store) *evOrder {
	t.Helper()
	now := time.Now().UTC().Truncate(time.Microsecond)
	o := Order{
		ID: uuid.NewString(), UserID: uuid.NewString(), Status: StatusPending,
		Items: []Item{{ProductID: uuid.NewString(), SKU: "MUG-1", Name: "Blue mug", Quantity: 1,
			UnitPriceCents: 1299, LineTotalCents: 1299}},
		TotalCents: 1299, Currency: "USD",
		ShippingAddress: Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"},
		CreatedAt:       now, UpdatedAt: now,
	}
	st := saga.NewState(evCheckout, o.ID, nil, now)
	if _, created, err := s.CreateOrder(context.Background(), o, st, nil); err != nil || !created {
		t.Fatalf("CreateOrder: created %v, %v", created, err)
	}
	return &evOrder{Order: o, st: st}
}

// evSetStatus changes the order's status through a saga save, as the
// saga's projection does (one event in the outbox).
func evSetStatus(t *testing.T, s Store, o *evOrder, status Status, reason string) {
	t.Helper()
	now := time.Now().UTC()
	o.st.UpdatedAt = now
	if status == StatusConfirmed {
		o.st.Status = saga.Succeeded
	}
	if err := s.SaveSaga(context.Background(), &o.st, &OrderChange{OrderID: o.ID, Status: status, FailureReason: reason, Now: now}); err != nil {
		t.Fatalf("SaveSaga to %s: %v", status, err)
	}
	o.Status = status
}

// evShip ships a CONFIRMED order (one event).
func evShip(t *testing.T, s Store, o *evOrder) {
	t.Helper()
	if _, err := s.Ship(context.Background(), o.ID, time.Now().UTC()); err != nil {
		t.Fatalf("Ship: %v", err)
	}
	o.Status = StatusShipped
}

// evRelayAll relays the whole outbox.
func evRelayAll(t *testing.T, s Store) {
	t.Helper()
	for {
		n, err := s.RelayEvents(context.Background(), 1000)
		if err != nil {
			t.Fatalf("RelayEvents: %v", err)
		}
		if n == 0 {
			return
		}
	}
}

func evAllEvents(t *testing.T, s Store) []Event {
	t.Helper()
	var all []Event
	for {
		evs, err := s.Events(context.Background(), int64(len(all)), "", 1000)
		if err != nil {
			t.Fatalf("Events: %v", err)
		}
		if len(evs) == 0 {
			return all
		}
		all = append(all, evs...)
	}
}

func evAllNotifications(t *testing.T, s Store) []Notification {
	t.Helper()
	var all []Notification
	var after int64
	for {
		ns, err := s.Notifications(context.Background(), after, 1000)
		if err != nil {
			t.Fatalf("Notifications: %v", err)
		}
		if len(ns) == 0 {
			return all
		}
		all = append(all, ns...)
		after = ns[len(ns)-1].Offset
	}
}

// evRun runs job until the returned stop is called; stop waits for it and
// fails the test unless it returned nil.
func evRun(t *testing.T, job func(context.Context) error) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- job(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					t.Errorf("job returned %v, want nil", err)
				}
			case <-time.After(10 * time.Second):
				t.Errorf("job did not return within 10s of its context ending")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// evLogger logs JSON lines into a buffer the test reads.
func evLogger() (log.Logger, *kittest.LogBuffer) {
	buf := &kittest.LogBuffer{}
	return logx.New(buf, "orders"), buf
}

// TestNotificationWorkerCatchesUpWithoutGapsOrDuplicates stops the
// worker, lets a backlog of more than one batch build up, restarts it,
// and checks every event became exactly one notification, in offset
// order 1..N, matching its event.
func TestNotificationWorkerCatchesUpWithoutGapsOrDuplicates(t *testing.T) {
	for _, c := range evStoreCases() {
		t.Run(c.name, func(t *testing.T) {
			s := c.open(t)
			logger, logs := evLogger()
			jobs := newEventJobs(s, logger, nil)

			var orders []*evOrder
			for range 3 {
				o := evCreate(t, s)
				evSetStatus(t, s, o, StatusConfirmed, "")
				orders = append(orders, o)
			}
			evRelayAll(t, s)
			stop := evRun(t, jobs.runNotifications)
			kittest.WaitFor(t, 10*time.Second, "the first 6 notifications", func() bool {
				return len(evAllNotifications(t, s)) == 6
			})
			stop()

			// While the worker is down: more than a batch of events.
			for i := range notifyBatch/2 + 10 {
				o := evCreate(t, s)
				switch i % 3 {
				case 0:
					evSetStatus(t, s, o, StatusConfirmed, "")
					evShip(t, s, o)
				case 1:
					evSetStatus(t, s, o, StatusCancelled, "PAYMENT_DECLINED")
				}
			}
			evShip(t, s, orders[0])
			evRelayAll(t, s)
			events := evAllEvents(t, s)
			if len(events) <= 6+notifyBatch {
				t.Fatalf("only %d events: the backlog should exceed one batch", len(events))
			}
			if got, _ := s.Notifications(context.Background(), 6, 1); len(got) != 0 {
				t.Fatalf("a notification past 6 while the worker was down: %+v", got)
			}

			evRun(t, jobs.runNotifications)
			kittest.WaitFor(t, 20*time.Second, "the worker to catch up", func() bool {
				off, err := s.ConsumerOffset(context.Background(), notificationsConsumer)
				return err == nil && off == int64(len(events))
			})
			ns := evAllNotifications(t, s)
			if len(ns) != len(events) {
				t.Fatalf("%d notifications for %d events", len(ns), len(events))
			}
			for i, n := range ns {
				ev := events[i]
				kind, msg := describeEvent(ev)
				if n.Offset != int64(i+1) || ev.Offset != n.Offset || n.OrderID != ev.OrderID || n.UserID != ev.UserID ||
					n.Kind != kind || n.Message != msg {
					t.Fatalf("notification %d = %+v for event %+v (kind %q)", i, n, ev, kind)
				}
			}
			// Logged, once each, without personal data. The worker logs
			// after its batch committed, so the last lines may lag the
			// offset.
			var lines []map[string]any
			kittest.WaitFor(t, 10*time.Second, "a log line per notification", func() bool {
				lines = lines[:0]
				for _, l := range logs.Lines(t) {
					if l["msg"] == "order notification" {
						lines = append(lines, l)
					}
				}
				return len(lines) >= len(events)
			})
			if len(lines) != len(events) {
				t.Fatalf("%d notification log lines for %d events", len(lines), len(events))
			}
			for _, l := range lines {
				if l["level"] != "info" || l["user_id"] != nil || l["message"] != nil || l["kind"] == nil || l["order_id"] == nil {
					t.Fatalf("notification log line %v", l)
				}
			}
		})
	}
}

// TestNotificationWorkersOnSeveralInstancesShareTheLog runs two workers
// (two instances) while events are produced: together they notify each
// event exactly once.
func TestNotificationWorkersOnSeveralInstancesShareTheLog(t *testing.T) {
	for _, c := range evStoreCases() {
		t.Run(c.name, func(t *testing.T) {
			var stores []Store
			if c.instances != nil {
				stores = c.instances(t, 2)
			} else {
				s := c.open(t)
				stores = []Store{s, s}
			}
			for _, s := range stores {
				evRun(t, newEventJobs(s, log.NewNopLogger(), nil).runNotifications)
			}
			for i := range 40 {
				s := stores[i%2]
				o := evCreate(t, s)
				evSetStatus(t, s, o, StatusConfirmed, "")
				evRelayAll(t, s)
			}
			want := len(evAllEvents(t, stores[0]))
			kittest.WaitFor(t, 20*time.Second, "both workers to catch up", func() bool {
				off, err := stores[1].ConsumerOffset(context.Background(), notificationsConsumer)
				return err == nil && off == int64(want)
			})
			ns := evAllNotifications(t, stores[0])
			if len(ns) != want {
				t.Fatalf("%d notifications for %d events", len(ns), want)
			}
			for i, n := range ns {
				if n.Offset != int64(i+1) {
					t.Fatalf("notification %d has offset %d", i, n.Offset)
				}
			}
		})
	}
}

// evFlaky fails the first calls of the event jobs' store methods.
type evFlaky struct {
	Store
	relayFailures, consumeFailures atomic.Int64
	relayCalls, consumeCalls       atomic.Int64
}

var errEvFlaky = errs.New(errs.Unavailable, errs.ReasonUnavailable, "database unavailable")

func (f *evFlaky) RelayEvents(ctx context.Context, limit int) (int, error) {
	f.relayCalls.Add(1)
	if f.relayFailures.Add(-1) >= 0 {
		return 0, errEvFlaky
	}
	return f.Store.RelayEvents(ctx, limit)
}

func (f *evFlaky) ConsumeEvents(ctx context.Context, consumer string, limit int, handle func([]Event) ([]Notification, error)) (int, error) {
	f.consumeCalls.Add(1)
	if f.consumeFailures.Add(-1) >= 0 {
		// As a transaction that fails after handle ran: nothing stored.
		if _, err := handle([]Event{{Offset: 1, OrderID: "x", Status: StatusPending}}); err != nil {
			return 0, err
		}
		return 0, errEvFlaky
	}
	return f.Store.ConsumeEvents(ctx, consumer, limit, handle)
}

// TestEventJobsKeepGoingAfterErrors: the relay and the worker log store
// failures, back off, and get there once the store answers again; a
// failed batch is not logged as notified.
func TestEventJobsKeepGoingAfterErrors(t *testing.T) {
	s := &evFlaky{Store: evMemoryStore(t)}
	s.relayFailures.Store(3)
	s.consumeFailures.Store(3)
	logger, logs := evLogger()
	jobs := &eventJobs{store: s, logger: logger, relayEvery: 10 * time.Millisecond}
	for _, j := range jobs.Jobs() {
		evRun(t, j)
	}
	o := evCreate(t, s)
	jobs.StatusChanged()
	kittest.WaitFor(t, 20*time.Second, "the notification", func() bool {
		return len(evAllNotifications(t, s)) == 1
	})
	if n := evAllNotifications(t, s)[0]; n.OrderID != o.ID || n.Kind != notifyReceived {
		t.Fatalf("notification %+v", n)
	}
	if s.relayCalls.Load() < 4 || s.consumeCalls.Load() < 4 {
		t.Fatalf("relay calls %d, consume calls %d: the failures were not retried", s.relayCalls.Load(), s.consumeCalls.Load())
	}
	kittest.WaitFor(t, 5*time.Second, "the notification's log line", func() bool {
		return strings.Contains(logs.String(), `"msg":"order notification"`)
	})
	out := logs.String()
	for _, want := range []string{"order event relay failed; retrying", "notification worker failed; retrying"} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the logs:\n%s", want, out)
		}
	}
	if n := strings.Count(out, `"msg":"order notification"`); n != 1 {
		t.Errorf("%d notification log lines, want 1 (failed batches are not logged):\n%s", n, out)
	}
}

// TestRelayKeepsOrder writes interleaved status changes of several orders
// and checks the relay job publishes them in write order, with offsets
// 1..N, over several batches and rounds.
func TestRelayKeepsOrder(t *testing.T) {
	for _, c := range evStoreCases() {
		t.Run(c.name, func(t *testing.T) {
			s := c.open(t)
			type change struct {
				orderID string
				status  Status
			}
			var want []change
			var orders []*evOrder
			for range 60 {
				o := evCreate(t, s)
				orders = append(orders, o)
				want = append(want, change{o.ID, StatusPending})
			}
			for i, o := range orders {
				if i%2 == 0 {
					evSetStatus(t, s, o, StatusConfirmed, "")
					want = append(want, change{o.ID, StatusConfirmed})
				} else {
					evSetStatus(t, s, o, StatusCancelled, "INSUFFICIENT_STOCK")
					want = append(want, change{o.ID, StatusCancelled})
				}
			}
			for _, o := range orders[:len(orders)/2] {
				if o.Status == StatusConfirmed {
					evShip(t, s, o)
					want = append(want, change{o.ID, StatusShipped})
				}
			}
			if len(want) <= relayBatch {
				t.Fatalf("only %d changes: the test needs several batches", len(want))
			}
			evRun(t, (&eventJobs{store: s, logger: log.NewNopLogger()}).runRelay)
			kittest.WaitFor(t, 20*time.Second, "the relay to publish every change", func() bool {
				return len(evAllEvents(t, s)) >= len(want)
			})
			got := evAllEvents(t, s)
			if len(got) != len(want) {
				t.Fatalf("%d events, want %d", len(got), len(want))
			}
			for i, ev := range got {
				if ev.Offset != int64(i+1) || ev.OrderID != want[i].orderID || ev.Status != want[i].status {
					t.Fatalf("event %d = %+v, want offset %d %+v", i, ev, i+1, want[i])
				}
			}
		})
	}
}

// TestRelayRunsOnStatusChanged: with a long period, the signal alone makes
// the relay publish a new event promptly; the signalling store sends it
// after each status-changing write, and not after a failed one.
func TestRelayRunsOnStatusChanged(t *testing.T) {
	base := evMemoryStore(t)
	jobs := &eventJobs{store: base, logger: log.NewNopLogger(), relayEvery: time.Hour}
	s := jobs.signalling(base)
	evRun(t, jobs.runRelay)
	o := evCreate(t, s)
	kittest.WaitFor(t, 5*time.Second, "the PENDING event", func() bool { return len(evAllEvents(t, s)) == 1 })
	// The first round at start is surely over: these need the signal.
	evSetStatus(t, s, o, StatusConfirmed, "")
	kittest.WaitFor(t, 5*time.Second, "the CONFIRMED event", func() bool { return len(evAllEvents(t, s)) == 2 })
	evShip(t, s, o)
	kittest.WaitFor(t, 5*time.Second, "the SHIPPED event", func() bool { return len(evAllEvents(t, s)) == 3 })

	// Written past the signalling store: only StatusChanged relays it.
	evCreate(t, base)
	jobs.StatusChanged()
	kittest.WaitFor(t, 5*time.Second, "the fourth event", func() bool { return len(evAllEvents(t, s)) == 4 })

	// A refused write signals nothing (and there is nothing to relay).
	if _, err := s.Ship(context.Background(), o.ID, time.Now()); err == nil {
		t.Fatal("shipping twice succeeded")
	}
	select {
	case <-jobs.wake:
		t.Fatal("a failed Ship signalled the relay")
	default:
	}
}

// TestRelayPublishesWithoutSignal: events another instance wrote (no
// local signal) are relayed within relayEvery.
func TestRelayPublishesWithoutSignal(t *testing.T) {
	s := evMemoryStore(t)
	evRun(t, (&eventJobs{store: s, logger: log.NewNopLogger(), relayEvery: 20 * time.Millisecond}).runRelay)
	for i := 1; i <= 3; i++ {
		evCreate(t, s)
		kittest.WaitFor(t, 5*time.Second, fmt.Sprintf("event %d", i), func() bool { return len(evAllEvents(t, s)) == i })
	}
}

func TestDescribeEvent(t *testing.T) {
	id := uuid.NewString()
	for _, c := range []struct {
		status       Status
		reason, kind string
		says         string
	}{
		{StatusPending, "", notifyReceived, "We received your order " + id},
		{StatusConfirmed, "", notifyConfirmed, "Your order " + id + " is confirmed."},
		{StatusShipped, "", notifyShipped, "has shipped"},
		{StatusCancelled, "CANCELLED_BY_CUSTOMER", notifyCancelled, "as you asked"},
		{StatusCancelled, "PAYMENT_DECLINED", notifyCancelled, "declined. Nothing was charged"},
		{StatusCancelled, "INSUFFICIENT_STOCK", notifyCancelled, "out of stock"},
		{StatusCancelled, "RESERVATION_EXPIRED", notifyCancelled, "refunded"},
		{StatusCancelled, "SOMETHING_NEW", notifyCancelled, "could not be completed"},
		{StatusRequiresAttention, "", notifyNeedsAttention, "our team"},
		{Status("ON_HOLD"), "", notifyUpdated, "is now ON_HOLD"},
	} {
		kind, msg := describeEvent(Event{Offset: 1, OrderID: id, Status: c.status, Reason: c.reason})
		if kind != c.kind || !strings.Contains(msg, c.says) || !strings.Contains(msg, id) {
			t.Errorf("%s/%s: %q %q, want %q containing %q and the order id", c.status, c.reason, kind, msg, c.kind, c.says)
		}
	}
	now := time.Now()
	ns := notificationsFor([]Event{{Offset: 7, OrderID: id, UserID: "u", Status: StatusShipped}}, now)
	if len(ns) != 1 || ns[0].Offset != 7 || ns[0].UserID != "u" || !ns[0].CreatedAt.Equal(now) {
		t.Fatalf("notificationsFor: %+v", ns)
	}
}

func TestEventBackoffGrowsAndIsCapped(t *testing.T) {
	for n := 1; n < 40; n++ {
		d := eventBackoff(n)
		ceil := min(eventBackoffBase<<min(n-1, 30), eventBackoffMax)
		if d < ceil/2 || d > ceil {
			t.Fatalf("backoff %d = %v, want in [%v, %v]", n, d, ceil/2, ceil)
		}
	}
}
