package grpcx

import (
	"context"
	"errors"
	"time"

	"github.com/go-kit/log"
	"github.com/openzipkin/zipkin-go"
	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
)

// unaryOutcome logs and counts every failed unary call exactly once.
//
// The endpoint chain (kit/mw.Chain) logs and counts every call it gets,
// so doing it here too would report those failures twice. But much can
// fail before a call reaches its chain or after the chain has succeeded,
// and none of that was seen: a grpcx.Handler decode refusing the
// request, the auth, validation and deadline interceptors, a handler
// served without go-kit (health), a panic outside the chain, an encoding
// failure. This interceptor reports exactly those.
//
// It tells them apart through the call's server span: the chain's first
// middleware (mw.ServerTracing) tags that span with the endpoint's name
// on the way in and with the failure's kind on the way out, after its
// logging and metrics middleware have recorded the failure. The span
// handed down is a thin recorder of those two tags around the real one.
// A failure whose span got both was reported by the chain; any other
// failure is logged here (like mw.LogOutcome, at error level for
// infrastructure kinds) and counted under metrics.TransportGRPC with the
// full method name.
//
// Without a server span (a server built without a Tracer) nothing can be
// told apart, and every failure is reported here, so calls that did reach
// a chain may then be reported twice; kit/boot always sets a tracer.
// Panics are logged (with their stack) by the recovery interceptor and
// only counted here.
func unaryOutcome(logger log.Logger, red *metrics.RED) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		begin := time.Now()
		markIntercepted(ctx)
		var rec *chainRecorder
		if sp := zipkin.SpanFromContext(ctx); sp != nil {
			rec = &chainRecorder{Span: sp}
			ctx = zipkin.NewContext(ctx, rec)
		}
		resp, err := h(ctx, req)
		if err == nil || (rec != nil && rec.entered && rec.failed) {
			return resp, err
		}
		panicked := errors.As(err, new(*panicError))
		if panicked && rec != nil && rec.entered {
			return resp, err // the chain's metrics count a panic as Internal
		}
		took := time.Since(begin)
		method := methodName(info.FullMethod)
		if !panicked {
			mw.LogOutcome(logx.FromContext(ctx, logger), method, took, err)
		}
		if red != nil {
			red.Observe(metrics.TransportGRPC, method, metrics.Code(err), took)
		}
		return resp, err
	}
}

// chainRecorder is the call's server span, noting what the endpoint
// chain tags on it. The chain runs on the call's goroutine, before the
// handler returns, so the flags need no synchronisation.
type chainRecorder struct {
	zipkin.Span
	entered bool // the chain took the call
	failed  bool // and recorded it as a failure
}

func (r *chainRecorder) Tag(key, value string) {
	switch key {
	case mw.TagEndpoint:
		r.entered = true
	case mw.TagErrorKind:
		r.failed = true
	}
	r.Span.Tag(key, value)
}

// panicError is the cause of the Internal error a recovered panic becomes,
// so that the panic is logged once, by the recovery interceptor, with its
// stack.
type panicError struct{ value string }

func (p *panicError) Error() string { return "panic: " + p.value }
