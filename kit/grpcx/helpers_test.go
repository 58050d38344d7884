package grpcx_test

import (
	"errors"
	"net"
	"testing"

	"github.com/openzipkin/zipkin-go"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
)

// fixture is a real gRPC server on 127.0.0.1 and a client connection to it.
type fixture struct {
	addr      string
	conn      *grpc.ClientConn
	logs      *kittest.LogBuffer
	red       *metrics.RED
	ready     *health.Readiness
	spans     *kittest.SpanRecorder
	clientTr  *zipkin.Tracer
	clientRec *kittest.SpanRecorder
}

func start(t *testing.T) *fixture { return startWith(t, nil) }

// startWith is start with the server config adjusted by tune (nil for
// none) and extra server options.
func startWith(t *testing.T, tune func(*grpcx.ServerConfig), opts ...grpc.ServerOption) *fixture {
	t.Helper()
	kittest.CheckGoroutines(t)
	f := &fixture{logs: &kittest.LogBuffer{}, ready: health.New()}
	var err error
	f.red, err = metrics.NewRED(prometheus.NewRegistry(), "widgets")
	if err != nil {
		t.Fatal(err)
	}
	serverTr, rec := kittest.NewTracer(t, "widgets")
	f.spans = rec
	f.clientTr, f.clientRec = kittest.NewTracer(t, "caller")
	logger := logx.New(f.logs, "widgets")

	cfg := grpcx.ServerConfig{
		Service: "widgets", Logger: logger, Tracer: serverTr, RED: f.red, Readiness: f.ready,
	}
	if tune != nil {
		tune(&cfg)
	}
	srv := grpcx.NewServer(cfg, opts...)
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
