package grpcx

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
)

// outcome writes every unary call's line (logCall) and counts every
// failed call exactly once.
//
// The line: the endpoint chain (kit/mw.Chain) writes none for a call
// served here, since the call's logx.Record is claimed, so this one is
// the call's only line, whatever failed and where: a grpcx.Handler
// decode refusing the request, the auth, validation and deadline
// interceptors, the endpoint, a handler served without go-kit (health),
// a panic (with the stack the recovery step noted). A success
// is logged at debug, and only when the logger keeps debug entries
// (c.debug), so that a success costs no allocation for logging.
//
// The count: the chain counts every call it gets, so counting here too
// would count those failures twice. But much can fail before a call
// reaches its chain or after the chain has succeeded, and none of that
// was counted. This step tells them apart through the call's record
// (see earlyFailures), which the chain marks as its mw.ChainObserver:
// when it takes the call, and when it has counted the call's failure. A
// failure the chain marked was counted by it; any other failure is
// counted here under metrics.TransportGRPC with the full method name.
func (c *unaryChain) outcome(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	begin := time.Now()
	rec := recordOf(ctx)
	if rec != nil {
		rec.intercepted = true
		begin = rec.begin // from the call's arrival, its reading included
	}
	resp, err := c.deadline(ctx, req, info, h)
	var noted logx.Noted
	if rec != nil {
		noted = rec.log.Finish()
	}
	if err == nil && !c.debug {
		return resp, nil
	}
	took := time.Since(begin)
	logCall(ctx, c.logger, TransportGRPC, info.FullMethod, took, err, noted.Stack)
	chained := rec != nil && rec.entered
	if err == nil || (chained && (rec.failed || errors.As(err, new(*panicError)))) {
		return resp, err // the chain's metrics count a panic inside it as Internal
	}
	if c.red != nil {
		c.red.Observe(metrics.TransportGRPC, methodName(info.FullMethod), metrics.Code(err), took)
	}
	return resp, err
}

// panicError is the cause of the Internal error a recovered panic becomes,
// so that the panic's stack is logged once, by the recovery interceptor,
// and the chain's count of it is not repeated here.
type panicError struct{ value string }

func (p *panicError) Error() string { return "panic: " + p.value }
