package mw

import (
	"context"

	"github.com/go-kit/kit/endpoint"
	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/tracing"
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
			sp, ctx := startSpan(ctx, tracer, name)
			defer sp.Finish()
			resp, err := next(ctx, request)
			tagOutcome(sp, err)
			return resp, err
		}
	}
}

// TagEndpoint names the endpoint on a span that ServerTracing annotates.
const TagEndpoint = "kitshop.endpoint"

// ServerTracing is Tracing for a server's endpoints. The transport has
// already opened a server span for the call (kit/tracing's HTTP middleware
// or gRPC stats handler), so ServerTracing tags that span with the
// endpoint's name and outcome instead of opening a child: a second span
// per call cost more than the rest of the chain's tracing and told a
// reader of the trace nothing new. Called with no span in ctx (an endpoint
// invoked directly), it opens one, as Tracing does.
func ServerTracing(tracer *zipkin.Tracer, name string) endpoint.Middleware {
	if tracer == nil {
		return func(next endpoint.Endpoint) endpoint.Endpoint { return next }
	}
	child := Tracing(tracer, name)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		traced := child(next)
		return func(ctx context.Context, request any) (any, error) {
			sp := zipkin.SpanFromContext(ctx)
			if sp == nil {
				return traced(ctx, request)
			}
			sp.Tag(TagEndpoint, name)
			resp, err := next(ctx, request)
			tagOutcome(sp, err)
			return resp, err
		}
	}
}

// tagOutcome tags a failure with its errs kind and reason. Only failures
// that count against the callee (errs.IsInfrastructure) set Zipkin's
// "error" tag, which paints the trace red: a NotFound, a declined card or
// a processor's expected hiccup is a correct answer, not a fault to chase.
func tagOutcome(sp zipkin.Span, err error) {
	if err == nil || !tracing.Records(sp) {
		return
	}
	e := errs.As(err)
	sp.Tag(TagErrorKind, e.Kind.String())
	sp.Tag(TagErrorReason, e.Reason)
	if errs.IsInfrastructure(err) {
		zipkin.TagError.Set(sp, e.Kind.String())
	}
}

// startSpan is tracer.StartSpanFromContext, with the span of a trace that
// is not sampled made cheaply (tracing.UnsampledChild, UnsampledRoot): it
// records nothing, so only its ids matter.
func startSpan(ctx context.Context, tracer *zipkin.Tracer, name string) (zipkin.Span, context.Context) {
	if parent := zipkin.SpanFromContext(ctx); parent != nil {
		if sp, ok := tracing.UnsampledChild(parent.Context()); ok {
			return sp, zipkin.NewContext(ctx, sp)
		}
		return tracer.StartSpanFromContext(ctx, name)
	}
	// A new trace: decided ahead of the tracer where kit/tracing can.
	sp, decided := tracing.UnsampledRoot(tracer)
	switch {
	case sp != nil:
	case decided:
		sp = tracer.StartSpan(name, tracing.SampledRoot)
	default:
		sp = tracer.StartSpan(name)
	}
	return sp, zipkin.NewContext(ctx, sp)
}
