package grpcx

import (
	"context"

	"google.golang.org/grpc"
)

// Stop drains srv: it stops accepting connections and waits for running
// RPCs (GracefulStop) until ctx ends, then cancels whatever is left (Stop).
// The fallback matters: a client holding a health Watch or another
// long-lived stream would otherwise keep GracefulStop waiting forever.
// It reports whether the drain finished in time.
func Stop(ctx context.Context, srv *grpc.Server) (graceful bool) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	select {
	case <-done:
		return true
	case <-ctx.Done():
		srv.Stop() // also makes the GracefulStop above return
		<-done
		return false
	}
}
