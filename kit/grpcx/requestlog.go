package grpcx

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
)

// Transports of the server's request lines (logx.KeyTransport).
const (
	TransportGRPC       = "grpc"
	TransportGRPCStream = "grpc-stream"
)

// logCall writes the one line of a call the server served
// (logx.LogRequest): transport, method (the full method without its
// leading slash, "kitshop.users.v1.UsersService/GetUser", as in the
// metrics), status (the gRPC code the caller gets: "OK", "NotFound"),
// duration_ms, trace_id, request_id and, on failure, the error with its
// cause, and the stack of a panic the recovery step noted. Debug when it succeeded, error for an infrastructure failure
// (errs.IsInfrastructure), info for any other.
//
// Every call gets exactly one: unary calls from the outcome step, streams
// from the stream interceptor, calls refused before any interceptor from
// the stats handler (earlyFailures). The endpoint chain writes none
// (logx.TransportLogs), since the call's logx.Record is claimed.
func logCall(ctx context.Context, logger log.Logger, transport, fullMethod string, took time.Duration, err error, stack string) {
	code := status.Code(errs.ToGRPC(err)) // the code the caller sees; errors only reach here when logged
	logx.LogRequest(ctx, logger, logx.RequestLevel(err != nil, errs.IsInfrastructure(err)), took, err, stack,
		logx.KeyTransport, transport, logx.KeyMethod, methodName(fullMethod), logx.KeyStatus, code.String())
}

// incomingRequestID is the caller's x-request-id when it is acceptable,
// else a new UUID: every call has an id, as every HTTP request has
// (httpx.RequestID), so that a call from grpcurl or a background job is
// followed through the calls it makes too.
func incomingRequestID(v []string) string {
	if len(v) > 0 && validRequestID(v[0]) {
		return v[0]
	}
	return uuid.NewString()
}
