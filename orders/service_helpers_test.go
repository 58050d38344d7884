package main

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/card"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	"github.com/kitshop/kitshop/kit/saga"
)

// fast keeps the tests' retries short: three attempts, milliseconds apart.
var fast = saga.Retry{Attempts: 3, Base: time.Millisecond, Max: 5 * time.Millisecond, Budget: 10 * time.Second}

// world is one shared database and one set of peers, over which tests
// start service instances (several, to play a crash and a restart).
type world struct {
	t        *testing.T
	store    Store
	clock    *kittest.Clock
	peers    *fakeNet
	users    *fakeUsers
	products *fakeProducts
	payments *fakePayments
	reg      *prometheus.Registry
	user     string
}

func newWorld(t *testing.T) *world { return newWorldOn(t, newMemoryStore()) }

// eachStore runs test on a world over each store (storeKinds): the
// memory store and a fresh Postgres database. It checks for goroutine
// leaks itself, after the Postgres cluster is up.
func eachStore(t *testing.T, test func(t *testing.T, w *world)) {
	for _, k := range storeKinds {
		t.Run(k.name, func(t *testing.T) {
			if k.name == "postgres" {
				pgtest.Cluster(t)
			}
			kittest.CheckGoroutines(t)
			test(t, newWorldOn(t, k.new(t)))
		})
	}
}

func newWorldOn(t *testing.T, store Store) *world {
	t.Helper()
	p := &fakeNet{}
	w := &world{t: t, store: store, clock: kittest.NewClock(time.Now().UTC().Truncate(time.Second)), peers: p,
		users: &fakeUsers{fakeNet: p, disabled: map[string]bool{}}, products: newFakeProducts(p), payments: newFakePayments(p),
		reg: prometheus.NewRegistry(), user: uuid.NewString()}
	return w
}

// service starts an instance named owner over the world; the test's end
// closes it.
func (w *world) service(owner string, tweak ...func(*Options)) *service {
	w.t.Helper()
	// No patience by default: the fake clock would keep a parked saga
	// parked; TestPeerDownParksTheCheckout sets it.
	opts := Options{Owner: owner, Now: w.clock.Now, Retry: fast, CompensateRetry: fast, Metrics: w.reg, Patience: -1}
	for _, f := range tweak {
		f(&opts)
	}
	s, err := NewService(w.store, w.users, w.products, w.payments, opts)
	if err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { _ = s.Close() })
	return s
}

func asUser(id, role string) context.Context {
	return auth.WithClaims(context.Background(), auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: id}, Role: role})
}

// ctx is the world's customer calling with a 10s deadline.
func (w *world) ctx() context.Context { return w.ctxOf(w.user, auth.RoleCustomer) }

func (w *world) admin() context.Context { return w.ctxOf(uuid.NewString(), auth.RoleAdmin) }

func (w *world) ctxOf(user, role string) context.Context {
	ctx, cancel := context.WithTimeout(asUser(user, role), 10*time.Second)
	w.t.Cleanup(cancel)
	return ctx
}

func testCard(number string) card.Card {
	return card.Card{Number: card.CardNumber(number), ExpMonth: 12, ExpYear: time.Now().Year() + 3, CVC: "123"}
}

func testAddress() Address {
	return Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}
}

// order is a request for the items (product id, quantity, ...) paid with
// the card number.
func order(number string, items ...any) PlaceOrderRequest {
	req := PlaceOrderRequest{ShippingAddress: testAddress(), Card: testCard(number)}
	for i := 0; i+1 < len(items); i += 2 {
		req.Items = append(req.Items, LineItem{ProductID: items[i].(string), Quantity: int64(items[i+1].(int))})
	}
	return req
}

func (w *world) order(id string) Order {
	w.t.Helper()
	o, err := w.store.Order(context.Background(), id)
	if err != nil {
		w.t.Fatalf("order %s: %v", id, err)
	}
	return o
}

// waitStatus waits until order id has status, and returns it.
func (w *world) waitStatus(id string, status Status) Order {
	w.t.Helper()
	var o Order
	kittest.WaitFor(w.t, 10*time.Second, "order "+id+" to be "+string(status), func() bool {
		o = w.order(id)
		return o.Status == status
	})
	return o
}

// waitSaga waits until saga id is final and returns its state.
func (w *world) waitSaga(id string) saga.State {
	w.t.Helper()
	var st saga.State
	kittest.WaitFor(w.t, 10*time.Second, "saga "+id+" to end", func() bool {
		var err error
		st, err = w.store.LoadSaga(context.Background(), id)
		return err == nil && st.Status.Final()
	})
	return st
}

// conserved checks that no unit of product id was lost or made up: what
// is on hand plus what was sold is what there was, and nothing is held.
func (w *world) conserved(ids ...string) {
	w.t.Helper()
	for _, id := range ids {
		p := w.products.get(id)
		if sold := w.products.soldOf(id); p.stock+sold != p.initial || p.reserved != 0 {
			w.t.Errorf("product %s: stock %d + sold %d != initial %d, or reserved %d != 0", p.name, p.stock, sold, p.initial, p.reserved)
		}
	}
}

// failedOrder asserts err is the domain error want (kind and reason) and
// carries the order, which it returns.
func failedOrder(t *testing.T, err error, want *errs.Error) Order {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("err = %v, want %s %s", err, want.Kind, want.Reason)
	}
	o, ok := OrderOf(err)
	if !ok {
		t.Fatalf("err %v carries no order", err)
	}
	if got := errs.As(err).MetaString("order_id"); got != o.ID {
		t.Errorf("order_id meta %q, order %s", got, o.ID)
	}
	return o
}

// crashAfter is a hook that "kills" s the first time method's effect has
// happened: it stops s's drives and answers the call with the resulting
// cancellation, so the engine cannot record the outcome. crashed is
// closed then.
func crashAfter(s *service, method string) (h hook, crashed <-chan struct{}) {
	var once atomic.Bool
	done := make(chan struct{})
	return func(ctx context.Context, m string, after bool) error {
		if !after || m != method || !once.CompareAndSwap(false, true) {
			return nil
		}
		s.runner.cancel()
		<-ctx.Done()
		close(done)
		return errs.Wrap(errs.Canceled, errs.ReasonCanceled, ctx.Err(), "crashed")
	}, done
}

// waitClosed fails the test unless ch is closed within 10s.
func waitClosed(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// chain runs hooks in order; the first error wins.
func chain(hooks ...hook) hook {
	return func(ctx context.Context, m string, after bool) error {
		for _, h := range hooks {
			if err := h(ctx, m, after); err != nil {
				return err
			}
		}
		return nil
	}
}

// failing makes method fail with err before any effect, every time.
func failing(method string, err error) hook {
	return func(_ context.Context, m string, after bool) error {
		if m == method && !after {
			return err
		}
		return nil
	}
}

// heldUntil blocks a peer call until release is closed or the call's
// context ends (the service stopped driving: a test that failed before
// releasing must end, not hang in its cleanup). The context's error then
// answers the call, as a crash would.
func heldUntil(ctx context.Context, release <-chan struct{}) error {
	select {
	case <-release:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
