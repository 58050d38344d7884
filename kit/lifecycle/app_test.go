package lifecycle

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-kit/log"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpchealth "google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/emptypb"

	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
)

// testApp is an App with a slow HTTP route, a slow gRPC method and the
// standard gRPC health service following readiness.
type testApp struct {
	app      *App
	rec      *recorder
	reg      *fakeRegistrar
	health   *grpchealth.Server
	started  chan struct{}
	release  chan struct{}
	httpURL  string
	grpcAddr string
	logs     *kittest.LogBuffer
}

func newTestApp(t *testing.T) *testApp {
	t.Helper()
	ta := &testApp{rec: &recorder{}, started: make(chan struct{}, 4), release: make(chan struct{}), logs: &kittest.LogBuffer{}}
	ready := health.New()
	ta.health = grpchealth.NewServer()
	ready.Subscribe(func(ok bool) {
		st := healthpb.HealthCheckResponse_NOT_SERVING
		if ok {
			st = healthpb.HealthCheckResponse_SERVING
		}
		ta.health.SetServingStatus("", st)
		ta.rec.add("ready=" + map[bool]string{true: "true", false: "false"}[ok])
	})

	mux := http.NewServeMux()
	mux.Handle("/slow", slowHandler(ta.started, ta.release))
	mux.HandleFunc("/fast", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("fast")) })
	httpSrv := &http.Server{Handler: mux, ReadHeaderTimeout: time.Second}
	httpSrv.RegisterOnShutdown(func() {
		// Observed at the start of the drain: readiness and gRPC health
		// must already say "not serving".
		resp, err := ta.health.Check(context.Background(), &healthpb.HealthCheckRequest{})
		if err == nil && resp.GetStatus() == healthpb.HealthCheckResponse_NOT_SERVING && !ready.Declared() {
			ta.rec.add("drain-after-unready")
		}
		ta.rec.add("http-drain")
	})
	httpL, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcL, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	grpcSrv := grpc.NewServer()
	healthpb.RegisterHealthServer(grpcSrv, ta.health)
	registerSlow(grpcSrv, ta.started, ta.release)

	ta.reg = &fakeRegistrar{rec: ta.rec, readyNow: ready.Declared}
	ta.httpURL = "http://" + httpL.Addr().String()
	ta.grpcAddr = grpcL.Addr().String()
	ta.app = &App{
		Name:         "test",
		Logger:       log.NewLogfmtLogger(ta.logs),
		Readiness:    ready,
		HTTP:         httpSrv,
		HTTPListener: httpL,
		GRPC:         grpcSrv,
		GRPCListener: grpcL,
		Registrar:    ta.reg,
		Jobs: []func(context.Context) error{func(ctx context.Context) error {
			ta.rec.add("job-started")
			<-ctx.Done()
			ta.rec.add("job-stopped")
			return ctx.Err()
		}},
		Closers: []io.Closer{
			CloserFunc(func() error { ta.rec.add("close-store"); return nil }),
			CloserFunc(func() error { ta.rec.add("close-tracer"); return nil }),
		},
		DrainTimeout: 5 * time.Second,
	}
	return ta
}

// start runs the app until the test ends; done yields Run's result once.
func (ta *testApp) start(t *testing.T) (cancel func(), done <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ch := make(chan error, 1)
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		ch <- ta.app.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-finished:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	kittest.WaitFor(t, 5*time.Second, "registration", func() bool { return ta.rec.has("register") && ta.rec.has("job-started") })
	return cancel, ch
}

func TestShutdownOrderAndInFlightWorkCompletes(t *testing.T) {
	kittest.CheckGoroutines(t)
	ta := newTestApp(t)
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	conn := dialGRPC(t, ta.grpcAddr)
	cancel, done := ta.start(t)

	if !ta.reg.readyAtRg {
		t.Fatal("registrar ran before the process was ready")
	}
	resp, err := client.Get(ta.httpURL + "/fast")
	if err != nil {
		t.Fatalf("serving before shutdown: %v", err)
	}
	resp.Body.Close()

	// One HTTP request and one gRPC call in flight.
	httpRes := make(chan string, 1)
	go func() {
		resp, err := client.Get(ta.httpURL + "/slow")
		if err != nil {
			httpRes <- "error: " + err.Error()
			return
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		httpRes <- resp.Status + " " + string(b)
	}()
	grpcRes := make(chan error, 1)
	go func() {
		grpcRes <- conn.Invoke(context.Background(), slowMethod, new(emptypb.Empty), new(emptypb.Empty))
	}()
	<-ta.started
	<-ta.started

	cancel()
	kittest.WaitFor(t, 5*time.Second, "drain to start", func() bool { return ta.rec.has("http-drain") })

	// Draining: new connections are refused, in-flight work is not cut.
	fresh := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	if resp, err := fresh.Get(ta.httpURL + "/fast"); err == nil {
		resp.Body.Close()
		t.Fatal("a new connection was accepted while draining")
	}
	select {
	case err := <-done:
		t.Fatalf("Run returned (%v) with work in flight", err)
	case <-time.After(50 * time.Millisecond):
	}

	close(ta.release)
	if got := <-httpRes; got != "200 OK done" {
		t.Fatalf("in-flight HTTP request: %s", got)
	}
	if err := <-grpcRes; err != nil {
		t.Fatalf("in-flight gRPC call: %v", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}
	assertOrder(t, ta.rec.list(), []string{
		"ready=false", "ready=true", "register",
		"registrar-stopped", "deregister", "ready=false", "drain-after-unready", "http-drain",
		"job-stopped", "close-tracer", "close-store",
	})
	for _, step := range []string{"deregistered", "readiness failed", "HTTP drained", "gRPC drained", "jobs stopped", "shutdown complete"} {
		if !strings.Contains(ta.logs.String(), step) {
			t.Errorf("step %q not logged:\n%s", step, ta.logs)
		}
	}
}

func TestDrainTimeoutForcesClose(t *testing.T) {
	kittest.CheckGoroutines(t)
	ta := newTestApp(t)
	ta.app.DrainTimeout = 200 * time.Millisecond
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	conn := dialGRPC(t, ta.grpcAddr)
	cancel, done := ta.start(t)

	httpErr := make(chan error, 1)
	go func() {
		resp, err := client.Get(ta.httpURL + "/slow")
		if err == nil {
			resp.Body.Close()
		}
		httpErr <- err
	}()
	grpcErr := make(chan error, 1)
	go func() {
		grpcErr <- conn.Invoke(context.Background(), slowMethod, new(emptypb.Empty), new(emptypb.Empty))
	}()
	<-ta.started
	<-ta.started

	begin := time.Now()
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("drain timeout did not force the shutdown")
	}
	if took := time.Since(begin); took < 200*time.Millisecond || took > 3*time.Second {
		t.Fatalf("shutdown took %v with a 200ms drain timeout", took)
	}
	if err := <-httpErr; err == nil {
		t.Fatal("the stuck HTTP request was not cut off")
	}
	if code := status.Code(<-grpcErr); code != codes.Unavailable && code != codes.Canceled {
		t.Fatalf("stuck gRPC call ended with %v", code)
	}
	logs := ta.logs.String()
	if !strings.Contains(logs, "HTTP drain timed out") || !strings.Contains(logs, "gRPC drain timed out") {
		t.Fatalf("forced close not logged:\n%s", logs)
	}
	// Resources are still released after a forced drain.
	assertOrder(t, ta.rec.list(), []string{"job-stopped", "close-tracer", "close-store"})
}

func TestJobFailureShutsDownAndIsReturned(t *testing.T) {
	kittest.CheckGoroutines(t)
	ta := newTestApp(t)
	boom := errors.New("outbox relay: boom")
	ta.app.Jobs = append(ta.app.Jobs, func(ctx context.Context) error {
		// Fail once the app is up, like a loop hitting a fatal error.
		for !ta.rec.has("register") {
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(time.Millisecond):
			}
		}
		return boom
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	err := ta.app.Run(ctx)
	if !errors.Is(err, boom) {
		t.Fatalf("Run = %v, want the job's error", err)
	}
	assertOrder(t, ta.rec.list(), []string{"deregister", "ready=false", "http-drain", "job-stopped", "close-tracer", "close-store"})
}

func TestServerFailureIsReturned(t *testing.T) {
	kittest.CheckGoroutines(t)
	ta := newTestApp(t)
	// A listener that fails on Accept stands in for a dead socket.
	_ = ta.app.HTTPListener.Close()
	err := ta.app.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "HTTP server") {
		t.Fatalf("Run = %v, want the HTTP server failure", err)
	}
	if !ta.rec.has("close-store") {
		t.Fatal("closers did not run after a server failure")
	}
}

func TestRegistrarFailureAndShutdownErrors(t *testing.T) {
	kittest.CheckGoroutines(t)
	ta := newTestApp(t)
	ta.reg.runErr = errors.New("registry rejected us")
	ta.reg.deregErr = errors.New("etcd down")
	closeErr := errors.New("flush failed")
	ta.app.Closers = append(ta.app.Closers, CloserFunc(func() error { return closeErr }))
	err := ta.app.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "registry rejected us") {
		t.Fatalf("Run = %v, want the registrar's failure first", err)
	}
	if !ta.rec.has("close-store") || !ta.rec.has("deregister") {
		t.Fatalf("shutdown incomplete: %q", ta.rec.list())
	}

	// With a clean trigger, the first shutdown error is returned.
	ta = newTestApp(t)
	ta.reg.deregErr = errors.New("etcd down")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := ta.app.Run(ctx); err == nil || !strings.Contains(err.Error(), "etcd down") {
		t.Fatalf("Run = %v, want the deregister error", err)
	}
}

func TestMinimalAppAndValidation(t *testing.T) {
	kittest.CheckGoroutines(t)
	// HTTP only, listener opened from Addr, no registrar.
	srv := &http.Server{Addr: "127.0.0.1:0", Handler: http.NotFoundHandler(), ReadHeaderTimeout: time.Second}
	ready := health.New()
	app := &App{HTTP: srv, Readiness: ready}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()
	kittest.WaitFor(t, 5*time.Second, "readiness", ready.Declared)
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v", err)
	}

	if err := (&App{GRPC: grpc.NewServer()}).Run(context.Background()); err == nil {
		t.Fatal("gRPC without a listener accepted")
	}
	if err := (&App{HTTP: &http.Server{Addr: "256.0.0.1:0"}}).Run(context.Background()); err == nil {
		t.Fatal("bad HTTP address accepted")
	}
}

func TestListenResolvesPort(t *testing.T) {
	l, err := Listen(":0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if port := l.Addr().(*net.TCPAddr).Port; port == 0 {
		t.Fatal(":0 did not resolve to a port")
	}
	if _, err := Listen(l.Addr().String()); err == nil {
		t.Fatal("second listener on the same port accepted")
	}
}

func TestSignalContext(t *testing.T) {
	ctx, stop := SignalContext(context.Background())
	defer stop()
	if err := syscall.Kill(syscall.Getpid(), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("SIGTERM did not cancel the context")
	}
}
