package grpcx

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/metrics"
)

// unaryChain is the server's own unary interceptors, run as one
// interceptor that calls each step directly: grpc-go allocates a closure
// for every chained interceptor of every call, and these steps always run
// together, in this order from the outside in:
//
//	errors -> request id -> outcome -> deadline -> validate -> recovery
//
// then the interceptors given to NewServer (allow-list, authentication)
// and the handler. errors converts what comes back to a gRPC status
// (errs.ToGRPC); request id takes the caller's x-request-id into ctx for
// the logs; the others are outcome.go's, deadline.go's and validate.go's,
// and recovery turns a panic below it into Internal.
type unaryChain struct {
	logger                     log.Logger
	debug                      bool // logger keeps debug entries: log successes
	red                        *metrics.RED
	defaultTimeout, maxTimeout time.Duration
}

func (c *unaryChain) intercept(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	resp, err := c.outcome(withIncomingRequestID(ctx), req, info, h)
	return resp, errs.ToGRPC(err)
}

func (c *unaryChain) recovered(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (resp any, err error) {
	defer recoverInto(ctx, c.logger, info.FullMethod, &err)
	return h(ctx, req)
}
