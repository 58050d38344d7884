package grpcx

import (
	"context"
	"fmt"
	"runtime/debug"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
)

// RequestIDMetadata is the metadata key carrying the request id between
// processes, so the id a client sent the gateway shows up in every
// service's logs.
const RequestIDMetadata = "x-request-id"

// maxRequestID bounds an id taken from a peer: it goes into every log line.
const maxRequestID = 128

func streamErrors() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return errs.ToGRPC(h(srv, ss))
	}
}

func streamRequestID() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &ctxStream{ServerStream: ss, ctx: withIncomingRequestID(ss.Context())})
	}
}

func withIncomingRequestID(ctx context.Context) context.Context {
	// One key, without copying the whole metadata map, or any of it when
	// the stats handler has seen grpc-go's copy.
	var v []string
	if r := recordOf(ctx); r != nil && r.header {
		v = r.requestIDs
	} else {
		v = metadata.ValueFromIncomingContext(ctx, RequestIDMetadata)
	}
	if len(v) > 0 && validRequestID(v[0]) {
		return logx.WithRequestID(ctx, v[0])
	}
	return ctx
}

// validRequestID keeps log lines clean of whatever a peer might send.
func validRequestID(id string) bool {
	if id == "" || len(id) > maxRequestID {
		return false
	}
	return !strings.ContainsFunc(id, func(r rune) bool { return r < 0x21 || r > 0x7e })
}

// ctxStream is a ServerStream whose context the interceptors have enriched.
type ctxStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *ctxStream) Context() context.Context { return s.ctx }

func streamRecovery(logger log.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) (err error) {
		defer recoverInto(ss.Context(), logger, info.FullMethod, &err)
		return h(srv, ss)
	}
}

// recoverInto turns a handler panic into an Internal error. The panic value
// and stack go to the log only: the client sees "internal error", so no
// internals leak, and the server keeps serving.
func recoverInto(ctx context.Context, logger log.Logger, method string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	_ = level.Error(logx.FromContext(ctx, logger)).Log(
		"msg", "panic in gRPC handler", "method", method,
		"panic", fmt.Sprint(r), "stack", string(debug.Stack()))
	*err = errs.Internalf(&panicError{value: fmt.Sprint(r)}, "grpc %s", method)
}

func streamLogging(logger log.Logger) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		markIntercepted(ss.Context())
		begin := time.Now()
		err := h(srv, ss)
		mw.LogOutcome(logx.FromContext(ss.Context(), logger), methodName(info.FullMethod), time.Since(begin), err)
		return err
	}
}

func streamMetrics(red *metrics.RED) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if red == nil {
			return h(srv, ss)
		}
		end := red.Start(metrics.TransportGRPCStream, methodName(info.FullMethod))
		err := h(srv, ss) // recovery sits inside, so a panic arrives here as an error
		end(metrics.Code(err))
		return err
	}
}

// methodName is "/pkg.Service/Method" without the leading slash: unique
// across the services one server hosts, and readable as a label.
func methodName(fullMethod string) string {
	return strings.TrimPrefix(fullMethod, "/")
}
