package grpcx

import (
	"context"
	"time"

	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/netx"
)

// Unary deadlines. A call without a deadline gets DefaultTimeout: an
// unbounded call on a frozen database holds its goroutine, its pool
// connection and its caller for ever. A deadline further away than
// MaxTimeout is shortened to it: no kitshop method needs longer, and a
// caller asking for a day is a bug or an abuse.
const (
	DefaultTimeout = 30 * time.Second
	MaxTimeout     = 2 * time.Minute
)

// unaryDeadline gives every unary call a deadline and reports the failure
// of work that outlived it, or whose caller cancelled, as such (see
// netx.ContextError): a caller's own deadline or cancellation is never
// an infrastructure failure of this server.
func unaryDeadline(def, max time.Duration) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		callers := true
		var cancel context.CancelFunc
		if dl, ok := ctx.Deadline(); !ok {
			ctx, cancel = context.WithTimeout(ctx, def)
			callers = false
		} else if time.Until(dl) > max {
			ctx, cancel = context.WithTimeout(ctx, max)
			callers = false
		}
		if cancel != nil {
			defer cancel()
		}
		resp, err := h(ctx, req)
		return resp, netx.ContextError(ctx, err, callers)
	}
}
