package grpcx_test

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	healthgrpc "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
)

func TestStopEndsLongLivedStreams(t *testing.T) {
	kittest.CheckGoroutines(t)
	srv := grpcx.NewServer(grpcx.ServerConfig{Service: "s", Readiness: health.New()})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()

	conn, err := grpcx.Dial(lis.Addr().String(), grpcx.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	w, err := healthgrpc.NewHealthClient(conn).Watch(context.Background(), &healthgrpc.HealthCheckRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil { // the stream is established server-side
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	begin := time.Now()
	if grpcx.Stop(ctx, srv) {
		t.Error("Stop reported a graceful drain while a Watch stream was open")
	}
	if d := time.Since(begin); d > 2*time.Second {
		t.Errorf("Stop took %v", d)
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) { // Stop may win the race with Serve
		t.Errorf("Serve: %v", err)
	}
	if _, err := w.Recv(); errs.KindOf(err) != errs.Unavailable {
		t.Errorf("watch after stop = %v, want Unavailable", err)
	}
}

func TestStopIsGracefulWhenIdle(t *testing.T) {
	kittest.CheckGoroutines(t)
	srv := grpcx.NewServer(grpcx.ServerConfig{Service: "s"})
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(lis) }()
	if !grpcx.Stop(context.Background(), srv) {
		t.Error("idle server did not drain gracefully")
	}
	if err := <-served; err != nil && !errors.Is(err, grpc.ErrServerStopped) { // Stop may win the race with Serve
		t.Errorf("Serve: %v", err)
	}
}
