package sd_test

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/sd"
)

// backendFake is a real gRPC server (grpc health) whose answers the test
// sets: nil for a normal answer, a status error, or a delay.
type backendFake struct {
	addr  string
	srv   *grpc.Server
	calls atomic.Int64
	fail  atomic.Pointer[error]
	delay atomic.Int64
	// header, when set before the first call, is sent with every answer.
	header metadata.MD
}

func startBackendFake(t *testing.T) *backendFake {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &backendFake{addr: lis.Addr().String()}
	f.srv = grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		f.calls.Add(1)
		if d := time.Duration(f.delay.Load()); d > 0 {
			select {
			case <-time.After(d):
			case <-ctx.Done():
				return nil, status.FromContextError(ctx.Err()).Err()
			}
		}
		if f.header != nil {
			_ = grpc.SetHeader(ctx, f.header)
		}
		if p := f.fail.Load(); p != nil {
			return nil, *p
		}
		return h(ctx, req)
	}))
	hs := health.NewServer()
	healthpb.RegisterHealthServer(f.srv, hs)
	go func() { _ = f.srv.Serve(lis) }()
	t.Cleanup(f.srv.Stop)
	return f
}

func (f *backendFake) failWith(err error) { f.fail.Store(&err) }
func (f *backendFake) heal()              { f.fail.Store(nil); f.delay.Store(0) }

func plainDial(target string) (*grpc.ClientConn, error) {
	return grpc.NewClient(target, grpc.WithTransportCredentials(insecure.NewCredentials()))
}

func newBackend(t *testing.T, cfg sd.BackendConfig) *sd.Backend[healthpb.HealthClient] {
	t.Helper()
	cfg.Service, cfg.Dial = "users", plainDial
	b, err := sd.NewBackend(cfg, healthpb.NewHealthClient)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

func check(ctx context.Context, f func(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error)) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := f(ctx, &healthpb.HealthCheckRequest{})
	return err
}

func TestBackendSpreadsReadsAndSurvivesAKilledInstance(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	a, b := startBackendFake(t), startBackendFake(t)
	register(t, srv, "a", a.addr)
	register(t, srv, "b", b.addr)
	backend := newBackend(t, sd.BackendConfig{Etcd: newClient(t, srv)})
	get := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)

	kittest.WaitFor(t, 5*time.Second, "both instances in rotation", func() bool {
		_ = check(context.Background(), get)
		return a.calls.Load() > 0 && b.calls.Load() > 0
	})
	a.calls.Store(0)
	b.calls.Store(0)
	for range 20 {
		if err := check(context.Background(), get); err != nil {
			t.Fatalf("read: %v", err)
		}
	}
	if a.calls.Load() != 10 || b.calls.Load() != 10 {
		t.Fatalf("round robin: %d/%d calls, want 10/10", a.calls.Load(), b.calls.Load())
	}

	// a dies without deregistering (kill -9: its key stays until the
	// lease expires). No read may fail meanwhile.
	a.srv.Stop()
	for i := range 200 {
		if err := check(context.Background(), get); err != nil {
			t.Fatalf("read %d after a died: %v", i, err)
		}
	}
	if b.calls.Load() < 200 {
		t.Fatalf("b served %d reads, want all 200", b.calls.Load())
	}
}

func TestBackendBreakerOpensOnUnavailableFailsFastAndRecovers(t *testing.T) {
	t.Parallel()
	f := startBackendFake(t)
	var transitions atomic.Int32
	backend := newBackend(t, sd.BackendConfig{Addr: f.addr, Breaker: mw.BreakerSettings{
		ConsecutiveFailures: 3, OpenTimeout: 100 * time.Millisecond, HalfOpenProbes: 2,
		OnStateChange: func(string, string, string) { transitions.Add(1) },
	}})
	get := sd.Unary(backend, "Check", sd.Once, healthpb.HealthClient.Check)

	f.failWith(status.Error(codes.Unavailable, "db down"))
	for range 3 {
		if err := check(context.Background(), get); errs.KindOf(err) != errs.Unavailable {
			t.Fatalf("got %v, want the backend's Unavailable", err)
		}
	}
	before := f.calls.Load()
	start := time.Now()
	err := check(context.Background(), get)
	if took := time.Since(start); took > time.Millisecond {
		t.Errorf("open breaker took %v to answer, want < 1ms", took)
	}
	if errs.ReasonOf(err) != mw.ReasonBreakerOpen {
		t.Fatalf("got %v, want BREAKER_OPEN", err)
	}
	if f.calls.Load() != before {
		t.Fatal("an open breaker let a call reach the backend")
	}

	f.heal()
	kittest.WaitFor(t, 2*time.Second, "breaker to close after probes", func() bool {
		return check(context.Background(), get) == nil && check(context.Background(), get) == nil &&
			check(context.Background(), get) == nil
	})
	if transitions.Load() < 3 { // closed->open->half-open->closed
		t.Errorf("%d transitions reported, want >= 3", transitions.Load())
	}
}

func TestBackendBreakerIgnoresCallerDeadlinesBusinessErrorsAndBadInput(t *testing.T) {
	t.Parallel()
	f := startBackendFake(t)
	backend := newBackend(t, sd.BackendConfig{Addr: f.addr, Breaker: mw.BreakerSettings{ConsecutiveFailures: 2, OpenTimeout: time.Hour}})
	get := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)

	for _, st := range []error{
		status.Error(codes.NotFound, "no such user"),
		status.Error(codes.InvalidArgument, "NUL byte in email"),
		status.Error(codes.FailedPrecondition, "card declined"),
		status.Error(codes.Internal, "a bug one request can trigger"),
	} {
		f.failWith(st)
		for range 5 {
			_ = check(context.Background(), get)
		}
	}
	// The caller's own (tiny) deadline, 10 times over.
	f.heal()
	f.delay.Store(int64(200 * time.Millisecond))
	before := f.calls.Load()
	for range 10 {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Millisecond)
		_, err := get(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if errs.KindOf(err) != errs.DeadlineExceeded {
			t.Fatalf("got %v, want the caller's DeadlineExceeded", err)
		}
	}
	if n := f.calls.Load() - before; n > 10 {
		t.Errorf("the caller's own deadline was retried: %d calls for 10", n)
	}
	f.heal()
	if err := check(context.Background(), get); err != nil {
		t.Fatalf("breaker opened on errors that are not the backend's failures: %v", err)
	}
}

func TestBackendUnkeyedWriteIsSentOnceEvenWhenItTimesOut(t *testing.T) {
	t.Parallel()
	f := startBackendFake(t)
	backend := newBackend(t, sd.BackendConfig{Addr: f.addr})
	fast := func(p sd.Policy) sd.Policy { p.AttemptTimeout = 30 * time.Millisecond; return p }
	once := sd.Unary(backend, "Check", fast(sd.Once), healthpb.HealthClient.Check)
	keyed := sd.Unary(backend, "Check", fast(sd.Keyed), healthpb.HealthClient.Check)
	_ = check(context.Background(), once) // connect first
	f.delay.Store(int64(time.Second))

	before := f.calls.Load()
	err := check(context.Background(), once)
	if e := errs.As(err); e == nil || e.Kind != errs.DeadlineExceeded || e.Reason != sd.ReasonAttemptTimeout {
		t.Fatalf("got %v, want DeadlineExceeded/ATTEMPT_TIMEOUT", err)
	}
	kittest.WaitFor(t, time.Second, "the call to arrive", func() bool { return f.calls.Load() > before })
	time.Sleep(100 * time.Millisecond) // would-be retries have had their chance
	if n := f.calls.Load() - before; n != 1 {
		t.Fatalf("an unkeyed write reached the server %d times, want exactly 1", n)
	}

	before = f.calls.Load()
	_ = check(context.Background(), keyed)
	kittest.WaitFor(t, time.Second, "keyed retries", func() bool { return f.calls.Load()-before == 3 })
}

func TestBudgetCapsRetriesAtTenPercent(t *testing.T) {
	now := time.Unix(0, 0)
	b := sd.NewBudget(sd.BudgetSettings{Now: func() time.Time { return now }})
	retries := 0
	for range 10_000 {
		b.Deposit()
		if b.Withdraw() { // every call fails and wants a retry
			retries++
		}
		now = now.Add(time.Millisecond) // 10 s in all
	}
	// 10% of 10,000, the 10-token start and 1/s over 10 s.
	if retries > 1000+10+10 || retries < 1000 {
		t.Fatalf("%d retries for 10,000 calls, want about 10%%", retries)
	}
}

func TestBackendWithoutInstancesFailsFast(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	backend := newBackend(t, sd.BackendConfig{Etcd: newClient(t, srv)})
	get := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)
	err := check(context.Background(), get)
	if errs.ReasonOf(err) != sd.ReasonNoInstances {
		t.Fatalf("got %v, want NO_INSTANCES", err)
	}
}

// After an instance fails to answer, the calls right after it go to the
// other instance while gRPC reconnects in the background: with two
// attempts per call and eight concurrent callers, round-robin alone would
// send some calls' both attempts to the dead instance.
func TestBackendPassesOverAnInstanceThatJustFailed(t *testing.T) {
	t.Parallel()
	srv, a, b := twoInstances(t)
	backend := newBackend(t, sd.BackendConfig{Etcd: newClient(t, srv)})
	twice := sd.Policy{Attempts: 2, AttemptTimeout: 2 * time.Second}
	get := sd.Unary(backend, "Check", twice, healthpb.HealthClient.Check)
	kittest.WaitFor(t, 5*time.Second, "both instances in rotation", func() bool {
		_ = check(context.Background(), get)
		return a.calls.Load() > 0 && b.calls.Load() > 0
	})
	a.srv.Stop() // killed: its key stays until its lease expires
	var failures atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 50 {
				if err := check(context.Background(), get); err != nil {
					if failures.Add(1) == 1 {
						t.Logf("first failure: %v", err)
					}
				}
			}
		}()
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		t.Fatalf("%d of 400 reads failed after one instance died", n)
	}
}
