// Package lifecycle runs a kitshop process: its HTTP and gRPC servers, its
// registration in the registry and its background jobs, and stops them in
// the order that loses no request during a rolling restart:
//
//  1. deregister, so discovery stops sending new work;
//  2. fail readiness (the gRPC health service follows), so load balancers
//     that probe rather than watch stop too;
//  3. drain in-flight HTTP requests and gRPC calls, forcing them closed
//     after DrainTimeout;
//  4. stop background jobs, which in-flight work may still have needed;
//  5. close stores, tracers and other resources, last opened first.
package lifecycle

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"syscall"
)

// Registrar announces the instance in the service registry.
type Registrar interface {
	// Run registers the instance and keeps the registration alive until
	// ctx is done. It should retry on its own while the registry is
	// unreachable (the process keeps serving meanwhile); an error it
	// returns before ctx is done is treated as a fatal failure.
	Run(ctx context.Context) error
	// Deregister removes the registration now, within ctx's deadline.
	Deregister(ctx context.Context) error
}

// ServingFollower is a Registrar that can leave the registry while the
// process is not ready to serve and come back when it is (sd.Registrar
// does, keeping its lease meanwhile). App calls SetServing with every
// change of its Readiness's serving verdict, from before Run starts; it
// must not block.
type ServingFollower interface {
	SetServing(serving bool)
}

// CloserFunc adapts a function to io.Closer, for App.Closers.
type CloserFunc func() error

// Close calls f.
func (f CloserFunc) Close() error { return f() }

var _ io.Closer = CloserFunc(nil)

// Listen opens a TCP listener on addr. Listening before anything is
// registered turns ":0" into the real port that gets registered, and makes
// "address already in use" a start-up error rather than a late one.
func Listen(addr string) (net.Listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("lifecycle: listen on %q: %w", addr, err)
	}
	return l, nil
}

// SignalContext returns a context that is cancelled on SIGINT or SIGTERM,
// for App.Run. After the first signal it stops catching them, so a second
// Ctrl-C kills a process whose shutdown hangs. Tests cancel a plain context
// instead.
func SignalContext(parent context.Context) (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(parent, os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		stop()
	}()
	return ctx, stop
}
