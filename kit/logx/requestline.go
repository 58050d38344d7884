package logx

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
)

// The line a transport writes for each request it serves, the same on
// every process and both transports, so one log query finds every
// request: msg "request", then these keys.
const (
	MsgRequest = "request"

	KeyTransport = "transport"   // "http", "grpc" or "grpc-stream"
	KeyMethod    = "method"      // "GET /api/v1/products/{id}", "kitshop.users.v1.UsersService/GetUser"
	KeyPath      = "path"        // HTTP only: the path as sent, never the query
	KeyStatus    = "status"      // HTTP status (a number) or gRPC code ("NotFound")
	KeyDuration  = "duration_ms" // milliseconds, to the microsecond
	KeyErrKind   = "err_kind"    // on failure: the kit/errs kind ...
	KeyErrReason = "err_reason"  // ... its stable reason ...
	KeyErr       = "err"         // ... and its text, cause included (never sent to clients)
)

// RequestLevel is the level of a request's line: debug when it succeeded
// (metrics and traces account for every call already), info when it
// failed by the client's doing or by a rule of the domain (a 4xx, a
// declined card, a client that hung up), error when an operator should
// look: operator is true for an infrastructure failure (errs.IsInfrastructure:
// Internal, Unavailable, DeadlineExceeded, unless the callee marked it
// expected).
func RequestLevel(failed, operator bool) func(log.Logger) log.Logger {
	switch {
	case !failed:
		return level.Debug
	case operator:
		return level.Error
	}
	return level.Info
}

// LogRequest writes one request's line on logger at lvl: msg "request",
// trace_id and request_id from ctx, kv (the transport's keys above),
// duration_ms, then, when err is not nil, err_kind, err_reason and err,
// and the stack of a recovered panic when there is one. Call it only
// when the line is wanted (see DebugEnabled): it allocates.
func LogRequest(ctx context.Context, logger log.Logger, lvl func(log.Logger) log.Logger, took time.Duration, err error, stack string, kv ...any) {
	line := make([]any, 0, 2+len(kv)+2+6+2)
	line = append(line, "msg", MsgRequest)
	line = append(line, kv...)
	line = append(line, KeyDuration, Millis(took))
	if err != nil {
		e := errs.As(err)
		line = append(line, KeyErrKind, e.Kind.String(), KeyErrReason, e.Reason, KeyErr, err)
	}
	if stack != "" {
		line = append(line, KeyStack, stack)
	}
	_ = lvl(FromContext(ctx, logger)).Log(line...)
}

// Millis is d in milliseconds, rounded to the microsecond.
func Millis(d time.Duration) float64 {
	return float64(d.Microseconds()) / 1e3
}
