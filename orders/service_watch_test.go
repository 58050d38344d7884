package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
)

// evWatch is a watch running in the background: what it sent and how it
// ended.
type evWatch struct {
	sent  chan Order
	done  chan error
	loads atomic.Int64
}

// evStartWatch runs hub.watch on order id with the store's Order as load
// (the service's GetOrder minus the owner check), on a child of ctx that
// the test's cleanup cancels, waiting for the watch to return.
func evStartWatch(t *testing.T, ctx context.Context, hub *watchHub, s Store, id string) *evWatch {
	ctx, cancel := context.WithCancel(ctx)
	w := &evWatch{sent: make(chan Order, 16), done: make(chan error, 1)}
	exited := make(chan struct{})
	load := func(ctx context.Context, id string) (Order, error) {
		w.loads.Add(1)
		return s.Order(ctx, id)
	}
	go func() {
		defer close(exited)
		w.done <- hub.watch(ctx, s, load, id, func(o Order) error {
			w.sent <- o
			return nil
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			t.Errorf("watch of %s did not return within 10s of its context ending", id)
		}
	})
	return w
}

func (w *evWatch) expect(t *testing.T, want Status) Order {
	t.Helper()
	select {
	case o := <-w.sent:
		if o.Status != want {
			t.Fatalf("watch sent %s, want %s", o.Status, want)
		}
		return o
	case err := <-w.done:
		// Both may be ready (a final status, then the end): what was
		// sent comes first.
		select {
		case o := <-w.sent:
			w.done <- err
			if o.Status != want {
				t.Fatalf("watch sent %s, want %s", o.Status, want)
			}
			return o
		default:
		}
		t.Fatalf("watch ended with %v while %s was expected", err, want)
	case <-time.After(10 * time.Second):
		t.Fatalf("watch sent nothing in 10s; want %s", want)
	}
	return Order{}
}

func (w *evWatch) expectEnd(t *testing.T) error {
	t.Helper()
	select {
	case o := <-w.sent:
		t.Fatalf("watch sent %s, want it to end", o.Status)
	case err := <-w.done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end in 10s")
	}
	return nil
}

// expectQuiet checks the watch sends nothing for a moment (a negative
// check, so short: it only catches a duplicate sent at once).
func (w *evWatch) expectQuiet(t *testing.T) {
	t.Helper()
	select {
	case o := <-w.sent:
		t.Fatalf("watch sent %s, want nothing", o.Status)
	case err := <-w.done:
		t.Fatalf("watch ended with %v, want it to go on", err)
	case <-time.After(200 * time.Millisecond):
	}
}

// TestWatchOrderSendsEveryStatusUntilFinal: PENDING now, then CONFIRMED,
// then SHIPPED, and the watch ends by itself.
func TestWatchOrderSendsEveryStatusUntilFinal(t *testing.T) {
	for _, c := range evStoreCases() {
		t.Run(c.name, func(t *testing.T) {
			kittest.CheckGoroutines(t)
			s := c.open(t)
			o := evCreate(t, s)
			evRelayAll(t, s)
			other := evCreate(t, s)
			w := evStartWatch(t, context.Background(), newWatchHub(10, time.Minute), s, o.ID)
			w.expect(t, StatusPending)

			evSetStatus(t, s, o, StatusConfirmed, "")
			evRelayAll(t, s)
			got := w.expect(t, StatusConfirmed)
			if got.ID != o.ID || got.TotalCents != o.TotalCents {
				t.Fatalf("watch sent %+v", got)
			}
			// Another order's changes wake nobody here: no load, no send.
			loads := w.loads.Load()
			evSetStatus(t, s, other, StatusConfirmed, "")
			evShip(t, s, other)
			evRelayAll(t, s)
			w.expectQuiet(t)
			if n := w.loads.Load(); n != loads {
				t.Fatalf("another order's events made the watch load its order (%d loads, then %d)", loads, n)
			}

			evShip(t, s, o)
			evRelayAll(t, s)
			w.expect(t, StatusShipped)
			if err := w.expectEnd(t); err != nil {
				t.Fatalf("watch ended with %v, want nil at a final state", err)
			}
		})
	}
}

// TestWatchOrderOfAFinalOrderSendsItAndEnds.
func TestWatchOrderOfAFinalOrderSendsItAndEnds(t *testing.T) {
	s := evMemoryStore(t)
	o := evCreate(t, s)
	evSetStatus(t, s, o, StatusCancelled, "CARD_DECLINED")
	w := evStartWatch(t, context.Background(), newWatchHub(10, time.Minute), s, o.ID)
	w.expect(t, StatusCancelled)
	if err := w.expectEnd(t); err != nil {
		t.Fatal(err)
	}
}

// TestWatchOrderSeesAChangeBetweenLoadAndWait: the order ships right after
// the watch loaded it CONFIRMED (and the event is relayed before the watch
// looks at the log): the watch still sends SHIPPED.
func TestWatchOrderSeesAChangeBetweenLoadAndWait(t *testing.T) {
	for _, c := range evStoreCases() {
		t.Run(c.name, func(t *testing.T) {
			s := c.open(t)
			o := evCreate(t, s)
			evSetStatus(t, s, o, StatusConfirmed, "")
			evRelayAll(t, s)
			var calls atomic.Int64
			load := func(ctx context.Context, id string) (Order, error) {
				got, err := s.Order(ctx, id)
				if calls.Add(1) == 1 {
					evShip(t, s, o)
					evRelayAll(t, s)
				}
				return got, err
			}
			sent := make(chan Order, 4)
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err := newWatchHub(10, time.Minute).watch(ctx, s, load, o.ID, func(o Order) error {
				sent <- o
				return nil
			})
			close(sent)
			if err != nil {
				t.Fatal(err)
			}
			var statuses []Status
			for o := range sent {
				statuses = append(statuses, o.Status)
			}
			if len(statuses) != 2 || statuses[0] != StatusConfirmed || statuses[1] != StatusShipped {
				t.Fatalf("sent %v, want [CONFIRMED SHIPPED]", statuses)
			}
		})
	}
}

// TestWatchOrderCountsAChangeBeforeLoadOnce: a change relayed after the
// watch noted the offset but before it loaded is in the first message and
// is not sent again.
func TestWatchOrderCountsAChangeBeforeLoadOnce(t *testing.T) {
	s := evMemoryStore(t)
	o := evCreate(t, s)
	evRelayAll(t, s)
	var calls atomic.Int64
	load := func(ctx context.Context, id string) (Order, error) {
		if calls.Add(1) == 1 {
			// On the watch's goroutine: report, never t.Fatal, here.
			if err := s.SaveSaga(ctx, &o.st, &OrderChange{OrderID: o.ID, Status: StatusConfirmed, Now: time.Now()}); err != nil {
				t.Errorf("SaveSaga: %v", err)
			}
			if _, err := s.RelayEvents(ctx, 10); err != nil {
				t.Errorf("RelayEvents: %v", err)
			}
		}
		return s.Order(ctx, id)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sent := make(chan Order, 4)
	done := make(chan error, 1)
	go func() {
		done <- newWatchHub(10, time.Minute).watch(ctx, s, load, o.ID, func(o Order) error {
			sent <- o
			return nil
		})
	}()
	w := &evWatch{sent: sent, done: done}
	w.expect(t, StatusConfirmed)
	kittest.WaitFor(t, 5*time.Second, "the watch to read the event it already reflected", func() bool { return calls.Load() >= 2 })
	w.expectQuiet(t)
	cancel()
	if err := w.expectEnd(t); !errors.Is(err, context.Canceled) {
		t.Fatalf("watch ended with %v, want context.Canceled", err)
	}
}

// TestWatchOrderEndsWithItsContext: cancelling ends the watch with the
// context's error and leaves no goroutine behind (the shared follower
// stops with its last watch).
func TestWatchOrderEndsWithItsContext(t *testing.T) {
	for _, c := range evStoreCases() {
		t.Run(c.name, func(t *testing.T) {
			kittest.CheckGoroutines(t)
			s := c.open(t)
			hub := newWatchHub(10, time.Minute)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			var ws []*evWatch
			for range 3 {
				o := evCreate(t, s)
				w := evStartWatch(t, ctx, hub, s, o.ID)
				w.expect(t, StatusPending)
				ws = append(ws, w)
			}
			if hub.Open() != 3 {
				t.Fatalf("%d watches open, want 3", hub.Open())
			}
			cancel()
			for _, w := range ws {
				if err := w.expectEnd(t); !errors.Is(err, context.Canceled) {
					t.Fatalf("watch ended with %v, want context.Canceled", err)
				}
			}
			if hub.Open() != 0 {
				t.Fatalf("%d watches open after all ended", hub.Open())
			}
		})
	}
}

// TestWatchOrderEndsOnSendError.
func TestWatchOrderEndsOnSendError(t *testing.T) {
	kittest.CheckGoroutines(t)
	s := evMemoryStore(t)
	o := evCreate(t, s)
	errGone := errors.New("client gone")
	sends := 0
	first := make(chan struct{})
	done := make(chan error, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	go func() {
		done <- newWatchHub(10, time.Minute).watch(ctx, s, s.Order, o.ID,
			func(Order) error {
				sends++
				if sends == 1 {
					close(first)
					return nil
				}
				return errGone
			})
	}()
	<-first
	evSetStatus(t, s, o, StatusConfirmed, "")
	evRelayAll(t, s)
	select {
	case err := <-done:
		if !errors.Is(err, errGone) || sends != 2 {
			t.Fatalf("watch ended with %v after %d sends, want the send error after 2", err, sends)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("watch did not end on the send error")
	}
}

// TestWatchOrderLoadErrorEndsIt: the owner check (load) refusing ends the
// watch with its error before anything is sent.
func TestWatchOrderLoadErrorEndsIt(t *testing.T) {
	s := evMemoryStore(t)
	o := evCreate(t, s)
	err := newWatchHub(10, time.Minute).watch(context.Background(), s,
		func(context.Context, string) (Order, error) { return Order{}, ErrNotFound }, o.ID,
		func(Order) error { t.Fatal("sent"); return nil })
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("watch ended with %v, want ErrNotFound", err)
	}
}

func TestWatchOrderRefusesAMalformedID(t *testing.T) {
	err := newWatchHub(10, time.Minute).watch(context.Background(), nil,
		func(context.Context, string) (Order, error) { t.Fatal("loaded"); return Order{}, nil }, "not-a-uuid",
		func(Order) error { t.Fatal("sent"); return nil })
	if e := errs.As(err); e.Kind != errs.InvalidArgument || e.Reason != errs.ReasonValidation || len(e.Fields) != 1 || e.Fields[0].Field != "id" {
		t.Fatalf("got %#v, want a validation error on id", err)
	}
}

// TestWatchOrderLimitsWatchersPerProcess.
func TestWatchOrderLimitsWatchersPerProcess(t *testing.T) {
	s := evMemoryStore(t)
	hub := newWatchHub(2, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	first := evCreate(t, s)
	w1 := evStartWatch(t, ctx, hub, s, first.ID)
	w1.expect(t, StatusPending)
	w2 := evStartWatch(t, ctx, hub, s, evCreate(t, s).ID)
	w2.expect(t, StatusPending)

	err := hub.watch(ctx, s, s.Order, evCreate(t, s).ID, func(Order) error { t.Fatal("sent"); return nil })
	e := errs.As(err)
	if e.Kind != errs.ResourceExhausted || e.Reason != "TOO_MANY_WATCHERS" || e.Meta["limit"] != int64(2) || !errors.Is(err, ErrTooManyWatchers) {
		t.Fatalf("third watch: %#v, want TOO_MANY_WATCHERS with limit 2", err)
	}

	// One ends (its order is final): a place frees up.
	evSetStatus(t, s, first, StatusCancelled, "INSUFFICIENT_STOCK")
	evRelayAll(t, s)
	w1.expect(t, StatusCancelled)
	if err := w1.expectEnd(t); err != nil {
		t.Fatal(err)
	}
	w3 := evStartWatch(t, ctx, hub, s, evCreate(t, s).ID)
	w3.expect(t, StatusPending)
}

// TestWatchOrderExpires: a watch ends with ErrWatchExpired at its maximum
// duration, though its caller's context is still live.
func TestWatchOrderExpires(t *testing.T) {
	kittest.CheckGoroutines(t)
	s := evMemoryStore(t)
	w := evStartWatch(t, context.Background(), newWatchHub(10, 300*time.Millisecond), s, evCreate(t, s).ID)
	w.expect(t, StatusPending)
	err := w.expectEnd(t)
	if !errors.Is(err, ErrWatchExpired) {
		t.Fatalf("watch ended with %v, want ErrWatchExpired", err)
	}
	if e := errs.As(err); e.Kind != errs.DeadlineExceeded || !e.Expected {
		t.Fatalf("ErrWatchExpired is %#v, want an Expected DeadlineExceeded", e)
	}
}

// TestWatchOrderAcrossInstances: a change made and relayed through one
// store instance reaches a watch on another (the same database), woken
// by the store's notification, not only by its poll.
func TestWatchOrderAcrossInstances(t *testing.T) {
	for _, c := range evStoreCases() {
		if c.instances == nil {
			continue
		}
		t.Run(c.name, func(t *testing.T) {
			kittest.CheckGoroutines(t)
			stores := c.instances(t, 2)
			a, b := stores[0], stores[1]
			o := evCreate(t, a)
			w := evStartWatch(t, context.Background(), newWatchHub(10, time.Minute), b, o.ID)
			w.expect(t, StatusPending)
			// Delivered by a's NOTIFY through b's listener: well within
			// the 10s safety poll of a listening store.
			evSetStatus(t, a, o, StatusConfirmed, "")
			start := time.Now()
			evRelayAll(t, a)
			w.expect(t, StatusConfirmed)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("the change took %v to reach the other instance", d)
			}
			evSetStatus(t, a, o, StatusRequiresAttention, "")
			evRelayAll(t, a)
			w.expect(t, StatusRequiresAttention)
			if err := w.expectEnd(t); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestLogHead finds the log's head from any lower bound.
func TestLogHead(t *testing.T) {
	s := evMemoryStore(t)
	ctx := context.Background()
	if h, err := logHead(ctx, s, 0); err != nil || h != 0 {
		t.Fatalf("empty log: head %d, %v", h, err)
	}
	for range 37 {
		evCreate(t, s)
	}
	evRelayAll(t, s)
	for _, from := range []int64{0, 1, 2, 18, 36, 37} {
		if h, err := logHead(ctx, s, from); err != nil || h != 37 {
			t.Fatalf("from %d: head %d, %v; want 37", from, h, err)
		}
	}
}

// TestWatchOrderWatchesOfTheSameOrder: two watches of one order both get
// every status.
func TestWatchOrderWatchesOfTheSameOrder(t *testing.T) {
	s := evMemoryStore(t)
	hub := newWatchHub(10, time.Minute)
	o := evCreate(t, s)
	w1 := evStartWatch(t, context.Background(), hub, s, o.ID)
	w2 := evStartWatch(t, context.Background(), hub, s, o.ID)
	w1.expect(t, StatusPending)
	w2.expect(t, StatusPending)
	evSetStatus(t, s, o, StatusCancelled, "PAYMENT_FAILED")
	evRelayAll(t, s)
	for _, w := range []*evWatch{w1, w2} {
		w.expect(t, StatusCancelled)
		if err := w.expectEnd(t); err != nil {
			t.Fatal(err)
		}
	}
}
