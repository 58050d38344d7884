package mw

import (
	"context"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
)

// Logging writes one line per call: method, took and, on failure, the
// error's kind, reason and text, with trace_id and request_id from ctx.
//
// A call served by a kitshop transport (kit/httpx's AccessLog, kit/grpcx's
// server) writes no line here: the transport writes one line for the whole
// request, with its status and the error it answered, so a request is one
// line per process rather than two (logx.TransportLogs). The line here is
// for calls made some other way (an endpoint called in-process, a test).
//
// Requests and responses are never logged: they carry passwords, tokens and
// card numbers, and no field-by-field filter is reliable enough for that.
//
// Successes log at debug: metrics and traces already account for every
// call, and formatting a JSON line per successful call was the costliest
// step of the whole chain in BenchmarkGetUser. KITSHOP_LOG_LEVEL=debug
// shows them. Business errors (a client's mistake or a rule of the domain)
// log at info; infrastructure errors (errs.IsInfrastructure) at error,
// because only those need an operator.
func Logging(logger log.Logger, method string) endpoint.Middleware {
	return logging(logger, method, true)
}

// logging is Logging, leaving successes out when successes is false.
func logging(logger log.Logger, method string, successes bool) endpoint.Middleware {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			begin := time.Now()
			resp, err := next(ctx, request)
			if (err != nil || successes) && !logx.TransportLogs(ctx) {
				LogOutcome(logx.FromContext(ctx, logger), method, time.Since(begin), err)
			}
			return resp, err
		}
	}
}

// LogOutcome writes the line Logging writes, for callers outside an
// endpoint chain (the gRPC stream interceptor) so both read the same.
func LogOutcome(logger log.Logger, method string, took time.Duration, err error) {
	if err == nil {
		_ = level.Debug(logger).Log("method", method, "took", took)
		return
	}
	e := errs.As(err)
	lvl := level.Info
	if e.Kind.Infrastructure() {
		lvl = level.Error
	}
	_ = lvl(logger).Log("method", method, "took", took,
		"err_kind", e.Kind.String(), "err_reason", e.Reason, "err", err)
}
