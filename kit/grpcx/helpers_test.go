package grpcx_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"net"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
)

// syncBuffer collects log output written by server goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

// find returns the first log line whose key equals value.
func (b *syncBuffer) find(t *testing.T, key, value string) map[string]any {
	t.Helper()
	for _, l := range b.Lines(t) {
		if l[key] == value {
			return l
		}
	}
	return nil
}

type recorder struct {
	mu    sync.Mutex
	spans []model.SpanModel
}

func (r *recorder) Send(s model.SpanModel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, s)
}

func (r *recorder) Close() error { return nil }

func (r *recorder) Spans() []model.SpanModel {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]model.SpanModel(nil), r.spans...)
}

func newTracer(t *testing.T, service string) (*zipkin.Tracer, *recorder) {
	t.Helper()
	rec := &recorder{}
	ep, _ := zipkin.NewEndpoint(service, "")
	tr, err := zipkin.NewTracer(rec, zipkin.WithTraceID128Bit(true), zipkin.WithSharedSpans(false), zipkin.WithLocalEndpoint(ep))
	if err != nil {
		t.Fatal(err)
	}
	return tr, rec
}

// fixture is a real gRPC server on 127.0.0.1 and a client connection to it.
type fixture struct {
	addr      string
	conn      *grpc.ClientConn
	logs      *syncBuffer
	red       *metrics.RED
	ready     *health.Readiness
	spans     *recorder
	clientTr  *zipkin.Tracer
	clientRec *recorder
}

func start(t *testing.T) *fixture {
	t.Helper()
	checkGoroutines(t)
	f := &fixture{logs: &syncBuffer{}, ready: health.New()}
	var err error
	f.red, err = metrics.NewRED(prometheus.NewRegistry(), "widgets")
	if err != nil {
		t.Fatal(err)
	}
	serverTr, rec := newTracer(t, "widgets")
	f.spans = rec
	f.clientTr, f.clientRec = newTracer(t, "caller")
	logger := logx.New(f.logs, "widgets")

	srv := grpcx.NewServer(grpcx.ServerConfig{
		Service: "widgets", Logger: logger, Tracer: serverTr, RED: f.red, Readiness: f.ready,
	})
	chain := mw.Chain{Service: "widgets", Logger: logger, Tracer: serverTr, RED: f.red}
	testpb.RegisterTestServiceServer(srv, newTestService(chain))

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen on loopback: %v", err)
	}
	f.addr = lis.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) { // Stop may win the race with Serve
			t.Errorf("Serve: %v", err)
		}
	})

	f.conn, err = grpcx.Dial(f.addr, grpcx.ClientConfig{Tracer: f.clientTr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.conn.Close() })
	return f
}

// checkGoroutines fails the test if it ends with more goroutines than it
// started with, once servers have had a moment to wind down. Registered
// first, its cleanup runs last.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}

// eventually polls cond until it holds or a few seconds pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
