package mw

import (
	"context"

	"github.com/go-kit/kit/endpoint"
	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/errs"
)

// Span tags set by Tracing on failure.
const (
	TagErrorKind   = "kitshop.error.kind"
	TagErrorReason = "kitshop.error.reason"
)

// Tracing gives each call a span named name, child of the span in ctx (the
// transport's server span, or the caller's span for client calls), and
// passes the new span on in ctx.
//
// Failures are tagged with their errs kind and reason. Only infrastructure
// failures also set Zipkin's "error" tag, which paints the trace red: a
// NotFound or a declined card is a correct answer, not a fault to chase.
//
// A nil tracer makes Tracing a no-op.
func Tracing(tracer *zipkin.Tracer, name string) endpoint.Middleware {
	if tracer == nil {
		return func(next endpoint.Endpoint) endpoint.Endpoint { return next }
	}
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			sp, ctx := tracer.StartSpanFromContext(ctx, name)
			defer sp.Finish()
			resp, err := next(ctx, request)
			if err != nil {
				e := errs.As(err)
				sp.Tag(TagErrorKind, e.Kind.String())
				sp.Tag(TagErrorReason, e.Reason)
				if e.Kind.Infrastructure() {
					zipkin.TagError.Set(sp, e.Kind.String())
				}
			}
			return resp, err
		}
	}
}
