package grpcx

import (
	"context"
	"errors"
	"time"

	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
)

// outcome logs and counts every failed unary call exactly once.
//
// The endpoint chain (kit/mw.Chain) logs and counts every call it gets,
// so doing it here too would report those failures twice. But much can
// fail before a call reaches its chain or after the chain has succeeded,
// and none of that was seen: a grpcx.Handler decode refusing the
// request, the auth, validation and deadline interceptors, a handler
// served without go-kit (health), a panic outside the chain, an encoding
// failure. This step reports exactly those.
//
// It tells them apart through the call's record (see earlyFailures),
// which the chain marks as its mw.ChainObserver: when it takes the call,
// and when it has logged and counted the call's failure. A failure the
// chain marked was reported by it; any other failure is logged here
// (like mw.LogOutcome, at error level for infrastructure kinds) and
// counted under metrics.TransportGRPC with the full method name. Panics
// are logged (with their stack) by the recovery step and only counted
// here.
func (c *unaryChain) outcome(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	begin := time.Now()
	rec := recordOf(ctx)
	if rec != nil {
		rec.intercepted = true
	}
	resp, err := c.deadline(ctx, req, info, h)
	chained := rec != nil && rec.entered
	if err == nil || (chained && rec.failed) {
		return resp, err
	}
	panicked := errors.As(err, new(*panicError))
	if panicked && chained {
		return resp, err // the chain's metrics count a panic as Internal
	}
	took := time.Since(begin)
	method := methodName(info.FullMethod)
	if !panicked {
		mw.LogOutcome(logx.FromContext(ctx, c.logger), method, took, err)
	}
	if c.red != nil {
		c.red.Observe(metrics.TransportGRPC, method, metrics.Code(err), took)
	}
	return resp, err
}

// panicError is the cause of the Internal error a recovered panic becomes,
// so that the panic is logged once, by the recovery interceptor, with its
// stack.
type panicError struct{ value string }

func (p *panicError) Error() string { return "panic: " + p.value }
