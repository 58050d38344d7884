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

// withIncomingRequestID puts the call's logx.Record, with the caller's
// request id (or a new one: incomingRequestID), in ctx. The record is
// the stats handler's, allocated with the call, when there is one.
func withIncomingRequestID(ctx context.Context) context.Context {
	r := recordOf(ctx)
	if r == nil { // a server without serverStats: the id alone, if any
		if v := metadata.ValueFromIncomingContext(ctx, RequestIDMetadata); len(v) > 0 && validRequestID(v[0]) {
			return logx.WithRequestID(ctx, v[0])
		}
		return ctx
	}
	if !r.header {
		r.header, r.log.ID = true, incomingRequestID(metadata.ValueFromIncomingContext(ctx, RequestIDMetadata))
	}
	return logx.WithRecord(ctx, &r.log)
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
// and stack go to the log only (on the call's line, see logCall): the
// client sees "internal error", so no internals leak, and the server
// keeps serving.
func recoverInto(ctx context.Context, logger log.Logger, method string, err *error) {
	r := recover()
	if r == nil {
		return
	}
	stack := string(debug.Stack())
	if logx.TransportLogs(ctx) {
		logx.RecordFrom(ctx).NotePanic(stack) // the call's line carries it
	} else {
		_ = level.Error(logx.FromContext(ctx, logger)).Log(
			"msg", "panic in gRPC handler", "method", method,
			"panic", fmt.Sprint(r), "stack", stack)
	}
	*err = errs.Internalf(&panicError{value: fmt.Sprint(r)}, "grpc %s", method)
}

// streamLogging writes each stream's line (logCall) once it ends.
func streamLogging(logger log.Logger) grpc.StreamServerInterceptor {
	debug := logx.DebugEnabled(logger)
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		markIntercepted(ss.Context())
		begin := time.Now()
		err := h(srv, ss)
		var noted logx.Noted
		if r := recordOf(ss.Context()); r != nil {
			begin = r.begin
			noted = r.log.Finish()
		}
		if err != nil || debug {
			logCall(ss.Context(), logger, TransportGRPCStream, info.FullMethod, time.Since(begin), err, noted.Stack)
		}
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
