package sd_test

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/kit/sd/lb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/typed"
)

// fakeInstance is a real gRPC server whose only service is grpc health,
// counting the calls it receives.
type fakeInstance struct {
	addr  string
	calls atomic.Int64
}

func startFake(t *testing.T) *fakeInstance {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeInstance{addr: lis.Addr().String()}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		f.calls.Add(1)
		return h(ctx, req)
	}))
	hs := health.NewServer()
	hs.SetServingStatus("kitshop", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	go func() { _ = srv.Serve(lis) }()
	t.Cleanup(srv.Stop)
	return f
}

// checkMethod is Health.Check; the request is the service name to check,
// and an unknown name is the server's NotFound: a business answer.
func checkMethod(conn *grpc.ClientConn) endpoint.Endpoint {
	client := healthpb.NewHealthClient(conn)
	return typed.Endpoint(func(ctx context.Context, service string) (*healthpb.HealthCheckResponse, error) {
		return client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	})
}

func listMethod(conn *grpc.ClientConn) endpoint.Endpoint {
	client := healthpb.NewHealthClient(conn)
	return func(ctx context.Context, _ any) (any, error) {
		return client.List(ctx, &healthpb.HealthListRequest{})
	}
}

// dialer records every connection the pool opens.
type dialer struct {
	mu    sync.Mutex
	conns map[string][]*grpc.ClientConn
}

func (d *dialer) dial(addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conns == nil {
		d.conns = map[string][]*grpc.ClientConn{}
	}
	d.conns[addr] = append(d.conns[addr], conn)
	return conn, nil
}

func (d *dialer) dialed(addr string) []*grpc.ClientConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*grpc.ClientConn(nil), d.conns[addr]...)
}

func register(t *testing.T, srv *etcdtest.Server, id, grpcAddr string) {
	t.Helper()
	putInstance(t, srv.Client(t), sd.Instance{ID: id, Name: "users", GRPCAddr: grpcAddr})
}

func call(t *testing.T, e endpoint.Endpoint, req any) (any, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return e(ctx, req)
}

func TestEndpointRoundRobinOverSharedConns(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	a, b := startFake(t), startFake(t)
	register(t, srv, "a", a.addr)
	register(t, srv, "b", b.addr)

	d := &dialer{}
	conns := sd.NewConns(d.dial)
	t.Cleanup(func() { _ = conns.Close() })
	inst := newInstancer(t, srv, "users")
	check := sd.Endpoint(inst, conns, checkMethod, sd.EndpointOptions{})
	list := sd.Endpoint(inst, conns, listMethod, sd.EndpointOptions{})
	kittest.WaitFor(t, 5*time.Second, "both instances dialled", func() bool { return conns.Len() == 2 })

	for range 10 {
		resp, err := call(t, check, "kitshop")
		if err != nil {
			t.Fatalf("check: %v", err)
		}
		if r, err := typed.Cast[*healthpb.HealthCheckResponse](resp); err != nil || r.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("check response %v (%v), want SERVING", resp, err)
		}
	}
	if a.calls.Load() != 5 || b.calls.Load() != 5 {
		t.Fatalf("round robin sent %d/%d calls to a/b, want 5/5", a.calls.Load(), b.calls.Load())
	}
	for range 2 {
		if _, err := call(t, list, nil); err != nil {
			t.Fatalf("list: %v", err)
		}
	}
	if a.calls.Load() != 6 || b.calls.Load() != 6 {
		t.Fatalf("after list, %d/%d calls to a/b, want 6/6", a.calls.Load(), b.calls.Load())
	}
	// Two methods, two instances: one connection per instance.
	connA := d.dialed(a.addr)
	if len(connA) != 1 || len(d.dialed(b.addr)) != 1 {
		t.Fatalf("dialled a %d times, b %d times; want once each", len(connA), len(d.dialed(b.addr)))
	}

	// a leaves: both endpoints drop it, and its connection is closed.
	deleteKey(t, srv.Client(t), sd.Key("users", "a"))
	kittest.WaitFor(t, 5*time.Second, "a's connection to close", func() bool {
		return connA[0].GetState() == connectivity.Shutdown
	})
	if conns.Len() != 1 {
		t.Fatalf("pool holds %d connections, want 1", conns.Len())
	}
	before := a.calls.Load()
	for range 4 {
		if _, err := call(t, check, "kitshop"); err != nil {
			t.Fatalf("check: %v", err)
		}
		if _, err := call(t, list, nil); err != nil {
			t.Fatalf("list: %v", err)
		}
	}
	if a.calls.Load() != before {
		t.Fatal("calls still reach a removed instance")
	}

	if err := conns.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if st := d.dialed(b.addr)[0].GetState(); st != connectivity.Shutdown {
		t.Fatalf("after Close b's connection is %v", st)
	}
	if _, err := call(t, check, "kitshop"); err == nil {
		t.Fatal("call succeeded after Conns.Close")
	}
}

func TestEndpointBusinessErrorIsNotRetried(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	a, b := startFake(t), startFake(t)
	register(t, srv, "a", a.addr)
	register(t, srv, "b", b.addr)
	conns := sd.NewConns((&dialer{}).dial)
	t.Cleanup(func() { _ = conns.Close() })
	check := sd.Endpoint(newInstancer(t, srv, "users"), conns, checkMethod, sd.EndpointOptions{})
	kittest.WaitFor(t, 5*time.Second, "both instances dialled", func() bool { return conns.Len() == 2 })

	_, err := call(t, check, "no-such-service")
	if errs.KindOf(err) != errs.NotFound {
		t.Fatalf("got %v, want NotFound", err)
	}
	var re lb.RetryError
	if errors.As(err, &re) {
		t.Fatal("error is still wrapped in lb.RetryError")
	}
	if n := a.calls.Load() + b.calls.Load(); n != 1 {
		t.Fatalf("a NotFound answer caused %d calls, want 1", n)
	}
}

func TestEndpointRetriesInfrastructureFailures(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	good := startFake(t)
	dead := kittest.FreeAddr(t)
	register(t, srv, "dead", dead)
	register(t, srv, "good", good.addr)
	conns := sd.NewConns((&dialer{}).dial)
	t.Cleanup(func() { _ = conns.Close() })
	inst := newInstancer(t, srv, "users")

	var attempts atomic.Int64
	counting := func(conn *grpc.ClientConn) endpoint.Endpoint {
		next := checkMethod(conn)
		return func(ctx context.Context, req any) (any, error) {
			attempts.Add(1)
			return next(ctx, req)
		}
	}
	check := sd.Endpoint(inst, conns, counting, sd.EndpointOptions{RetryMax: 3})
	kittest.WaitFor(t, 5*time.Second, "both instances dialled", func() bool { return conns.Len() == 2 })

	// Round robin hits the dead instance every other call; the retry
	// moves on to the good one, so no call fails.
	for range 6 {
		if _, err := call(t, check, "kitshop"); err != nil {
			t.Fatalf("call failed despite a healthy instance: %v", err)
		}
	}
	// Retries share the balancer's counter, so how many calls start on
	// the dead instance depends on ordering; each needs exactly one retry.
	if got := attempts.Load(); got <= 6 || got > 12 {
		t.Fatalf("%d attempts for 6 calls, want some retries and at most one per call", got)
	}

	// Only the dead instance left: every attempt is used, and the last
	// real error comes back, classified.
	deleteKey(t, srv.Client(t), sd.Key("users", "good"))
	kittest.WaitFor(t, 5*time.Second, "good instance to leave", func() bool { return conns.Len() == 1 })
	attempts.Store(0)
	_, err := call(t, check, "kitshop")
	if errs.KindOf(err) != errs.Unavailable || errs.ReasonOf(err) == sd.ReasonNoInstances {
		t.Fatalf("got %v (reason %s), want the instance's Unavailable", err, errs.ReasonOf(err))
	}
	if got := attempts.Load(); got != 3 {
		t.Fatalf("%d attempts, want RetryMax = 3", got)
	}
}

func TestEndpointNoInstances(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	conns := sd.NewConns((&dialer{}).dial)
	t.Cleanup(func() { _ = conns.Close() })
	check := sd.Endpoint(newInstancer(t, srv, "users"), conns, checkMethod, sd.EndpointOptions{})

	start := time.Now()
	_, err := call(t, check, "kitshop")
	if errs.KindOf(err) != errs.Unavailable || errs.ReasonOf(err) != sd.ReasonNoInstances {
		t.Fatalf("got %v, want Unavailable NO_INSTANCES", err)
	}
	if !errs.IsInfrastructure(err) {
		t.Fatal("NO_INSTANCES must count as an infrastructure failure")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("no-instance failure took %v; it should be immediate", d)
	}
}

func TestEndpointTimeoutBoundsTheCall(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	register(t, srv, "slow", startFake(t).addr)
	conns := sd.NewConns((&dialer{}).dial)
	t.Cleanup(func() { _ = conns.Close() })
	hang := func(*grpc.ClientConn) endpoint.Endpoint {
		return func(ctx context.Context, _ any) (any, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}
	}
	e := sd.Endpoint(newInstancer(t, srv, "users"), conns, hang, sd.EndpointOptions{Timeout: 200 * time.Millisecond})
	kittest.WaitFor(t, 5*time.Second, "instance dialled", func() bool { return conns.Len() == 1 })

	start := time.Now()
	_, err := call(t, e, nil)
	if errs.KindOf(err) != errs.DeadlineExceeded {
		t.Fatalf("got %v, want DeadlineExceeded", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("call took %v with a 200ms timeout", d)
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
