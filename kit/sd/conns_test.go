package sd_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"google.golang.org/grpc/connectivity"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

// do makes one call of a typed method, bounded.
func do[Req, Resp any](f func(context.Context, Req) (Resp, error), req Req) error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := f(ctx, req)
	return err
}

// inRotation reports whether two calls in a row reach a and b once each:
// the method's round robin holds both instances.
func inRotation(do func() error, a, b *backendFake) bool {
	a0, b0 := a.calls.Load(), b.calls.Load()
	if do() != nil || do() != nil {
		return false
	}
	return a.calls.Load()-a0 == 1 && b.calls.Load()-b0 == 1
}

// twoInstances starts etcd with two fake users instances, a and b,
// registered in it.
func twoInstances(t *testing.T) (srv *etcdtest.Server, a, b *backendFake) {
	t.Helper()
	srv = etcdtest.Start(t)
	a, b = startBackendFake(t), startBackendFake(t)
	register(t, srv, "a", a.addr)
	register(t, srv, "b", b.addr)
	return srv, a, b
}

// Every method of a Backend balances over the instances discovery
// publishes, all of them through one connection per instance; the
// connection of an instance that leaves is closed, and Close closes the
// rest.
func TestBackendSharesOneConnectionPerInstanceAcrossMethods(t *testing.T) {
	t.Parallel()
	srv, a, b := twoInstances(t)
	d := &dialer{}
	backend := recordingBackend(t, newClient(t, srv), d)
	checkHealth := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)
	listHealth := sd.Unary(backend, "List", sd.Read, healthpb.HealthClient.List)
	checkOnce := func() error { return do(checkHealth, &healthpb.HealthCheckRequest{}) }
	listOnce := func() error { return do(listHealth, &healthpb.HealthListRequest{}) }
	kittest.WaitFor(t, 5*time.Second, "both instances in both methods' rotation", func() bool {
		return inRotation(checkOnce, a, b) && inRotation(listOnce, a, b)
	})

	a.calls.Store(0)
	b.calls.Store(0)
	for range 10 {
		if err := checkOnce(); err != nil {
			t.Fatalf("check: %v", err)
		}
	}
	if a.calls.Load() != 5 || b.calls.Load() != 5 {
		t.Fatalf("round robin sent %d/%d checks to a/b, want 5/5", a.calls.Load(), b.calls.Load())
	}
	// Two methods, two instances: one connection per instance.
	connA, connB := d.dialed(a.addr), d.dialed(b.addr)
	if len(connA) != 1 || len(connB) != 1 {
		t.Fatalf("dialled a %d times, b %d times; want once each", len(connA), len(connB))
	}

	// a leaves: both methods drop it, and its connection is closed.
	deleteKey(t, srv.Client(t), sd.Key("users", "a"))
	kittest.WaitFor(t, 5*time.Second, "a's connection to close", func() bool {
		return connA[0].GetState() == connectivity.Shutdown
	})
	before := a.calls.Load()
	for range 4 {
		if err := checkOnce(); err != nil {
			t.Fatalf("check: %v", err)
		}
		if err := listOnce(); err != nil {
			t.Fatalf("list: %v", err)
		}
	}
	if a.calls.Load() != before {
		t.Fatal("calls still reach a removed instance")
	}
	if len(d.dialed(b.addr)) != 1 {
		t.Fatalf("b dialled %d times, want once", len(d.dialed(b.addr)))
	}

	if err := backend.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := connB[0].GetState(); st != connectivity.Shutdown {
		t.Fatalf("after Close b's connection is %v", st)
	}
	if err := checkOnce(); err == nil {
		t.Fatal("call succeeded after Backend.Close")
	}
}

// A business answer (NotFound) is final even under a retrying policy:
// another instance would say the same, and the call must not cost twice.
func TestBackendBusinessErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	srv, a, b := twoInstances(t)
	backend := recordingBackend(t, newClient(t, srv), &dialer{})
	checkHealth := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)
	kittest.WaitFor(t, 5*time.Second, "both instances in rotation", func() bool {
		return inRotation(func() error { return do(checkHealth, &healthpb.HealthCheckRequest{}) }, a, b)
	})

	before := a.calls.Load() + b.calls.Load()
	// The health server's own NotFound for a service it does not know.
	err := do(checkHealth, &healthpb.HealthCheckRequest{Service: "no-such-service"})
	if errs.KindOf(err) != errs.NotFound {
		t.Fatalf("got %v, want NotFound", err)
	}
	if n := a.calls.Load() + b.calls.Load() - before; n != 1 {
		t.Fatalf("a NotFound answer caused %d calls, want 1", n)
	}
}

func TestConnsShareAndReleaseByReference(t *testing.T) {
	t.Parallel()
	d := &dialer{}
	conns := sd.NewConns(d.dial)
	addr := kittest.FreeAddr(t) // connections are lazy; nothing needs to listen

	c1, r1, err := conns.Acquire(addr)
	if err != nil {
		t.Fatal(err)
	}
	c2, r2, err := conns.Acquire(addr)
	if err != nil {
		t.Fatal(err)
	}
	if c1 != c2 || len(d.dialed(addr)) != 1 {
		t.Fatal("two users of one address got different connections")
	}
	_ = r1.Close()
	_ = r1.Close() // a second release of the same reference is a no-op
	if c1.GetState() == connectivity.Shutdown {
		t.Fatal("connection closed while still referenced")
	}
	_ = r2.Close()
	if c1.GetState() != connectivity.Shutdown {
		t.Fatal("connection not closed after its last release")
	}
	if conns.Len() != 0 {
		t.Fatalf("pool holds %d connections, want 0", conns.Len())
	}

	c3, _, err := conns.Acquire(addr)
	if err != nil || c3 == c1 {
		t.Fatalf("re-acquire after release: conn reused=%v err=%v", c3 == c1, err)
	}
	if err := conns.Close(); err != nil {
		t.Fatal(err)
	}
	if c3.GetState() != connectivity.Shutdown {
		t.Fatal("Close left a connection open")
	}
	if _, _, err := conns.Acquire(addr); !errors.Is(err, sd.ErrConnsClosed) {
		t.Fatalf("Acquire after Close: %v", err)
	}
}
