// Package boottest builds kitshop processes inside a test or benchmark, as
// their main functions do, on loopback ports without a registry: a service
// to call, and a calling process whose Backend configuration points a
// client package at it.
package boottest

import (
	"context"
	"io"
	"net/http"
	"testing"

	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// Process builds the process name (gRPC on loopback when grpc is true) as
// config.ParseService and boot.New do for a real one: loopback ports, no
// registry, no shutdown grace (nobody discovers it), mTLS with files when
// they are set; every other setting keeps its default (and its
// environment fallback). It is closed when the test ends.
func Process(tb testing.TB, name string, grpc bool, files tlsx.Files) *boot.Process {
	tb.Helper()
	grpcAddr := ""
	if grpc {
		grpcAddr = "127.0.0.1:0"
	}
	args := []string{"-http-addr=127.0.0.1:0", "-grpc-addr=" + grpcAddr, "-etcd-endpoints=", "-deregister-grace=0"}
	if files.Enabled() {
		args = append(args, "-tls-ca="+files.CA, "-tls-cert="+files.Cert, "-tls-key="+files.Key)
	}
	cfg, err := config.ParseService(name, "", "", args)
	if err != nil {
		tb.Fatal(err)
	}
	p, err := boot.New(cfg, io.Discard)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = p.Close() })
	return p
}

// Serve runs p with routes and srv until the test ends (then shuts it down
// and reports a failed shutdown) and returns its gRPC address.
func Serve(tb testing.TB, p *boot.Process, routes http.Handler, srv *grpc.Server) string {
	tb.Helper()
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx, routes, srv) }()
	tb.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			tb.Error(err)
		}
	})
	return p.GRPCAddr()
}

// Backend is how the process caller (with files' identity) reaches
// service at addr: kit/boot's Backend configuration, with its breaker,
// retry policy, tracing and metrics, on a fixed address.
func Backend(tb testing.TB, caller, service, addr string, files tlsx.Files) sd.BackendConfig {
	tb.Helper()
	bc, err := Process(tb, caller, false, files).Backend(service)
	if err != nil {
		tb.Fatal(err)
	}
	bc.Addr = addr
	return bc
}
