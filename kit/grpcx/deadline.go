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

// deadline gives every unary call a deadline and reports the failure of
// work that outlived it, or whose caller cancelled, as such (see
// netx.ContextError): a caller's own deadline or cancellation is never an
// infrastructure failure of this server.
func (c *unaryChain) deadline(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	callers := true
	var cancel context.CancelFunc
	if dl, ok := ctx.Deadline(); !ok {
		ctx, cancel = context.WithTimeout(ctx, c.defaultTimeout)
		callers = false
	} else if time.Until(dl) > c.maxTimeout {
		ctx, cancel = context.WithTimeout(ctx, c.maxTimeout)
		callers = false
	}
	if cancel != nil {
		defer cancel()
	}
	resp, err := c.validate(ctx, req, info, h)
	return resp, netx.ContextError(ctx, err, callers)
}
