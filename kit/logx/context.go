package logx

import (
	"context"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/tracing"
)

// WithRequestID returns ctx carrying a new Record with the request id
// (the X-Request-ID an HTTP edge echoed or generated, or the x-request-id
// gRPC metadata). An empty id leaves ctx unchanged.
func WithRequestID(ctx context.Context, id string) context.Context {
	if id == "" {
		return ctx
	}
	return WithRecord(ctx, &Record{ID: id})
}

// RequestID is the request id carried by ctx, or "".
func RequestID(ctx context.Context) string {
	if r := RecordFrom(ctx); r != nil {
		return r.ID
	}
	return ""
}

// FromContext returns logger annotated with the trace_id of the zipkin span
// in ctx and the request_id of ctx, each only when present, so that a log
// line can be joined with its trace and with the client's request.
func FromContext(ctx context.Context, logger log.Logger) log.Logger {
	kv := make([]any, 0, 4)
	if id := tracing.TraceID(ctx); id != "" {
		kv = append(kv, KeyTraceID, id)
	}
	if id := RequestID(ctx); id != "" {
		kv = append(kv, KeyRequestID, id)
	}
	if len(kv) == 0 {
		return logger
	}
	return log.With(logger, kv...)
}
