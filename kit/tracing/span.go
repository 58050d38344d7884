package tracing

import (
	"context"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
)

// StartSpan starts a span of tracer named name, child of parent: a span
// context from elsewhere, such as one persisted as a traceparent (see
// ParseTraceparent) by work that outlives its request. A parent that is
// not sampled gets a child that records nothing, cheaply (UnsampledChild),
// so a trace the edge decided not to sample stays unsampled however late
// it is continued. A parent without ids (the zero SpanContext) starts a
// new trace, sampled as the tracer's rate says.
func StartSpan(tracer *zipkin.Tracer, parent model.SpanContext, name string, opts ...zipkin.SpanOption) zipkin.Span {
	if !parent.TraceID.Empty() && parent.ID != 0 {
		if sp, ok := UnsampledChild(parent); ok {
			return sp
		}
		return tracer.StartSpan(name, append(opts, zipkin.Parent(parent))...)
	}
	// A new trace: decided ahead of the tracer where kit/tracing can.
	sp, decided := UnsampledRoot(tracer)
	switch {
	case sp != nil:
		return sp
	case decided:
		opts = append(opts, SampledRoot)
	}
	return tracer.StartSpan(name, opts...)
}

// StartChild is StartSpan under the span in ctx (a new trace when ctx has
// none), returning the span and ctx carrying it.
func StartChild(ctx context.Context, tracer *zipkin.Tracer, name string, opts ...zipkin.SpanOption) (zipkin.Span, context.Context) {
	var parent model.SpanContext
	if sp := zipkin.SpanFromContext(ctx); sp != nil {
		parent = sp.Context()
	}
	sp := StartSpan(tracer, parent, name, opts...)
	return sp, zipkin.NewContext(ctx, sp)
}

// Recording is the span in ctx when there is one and it records (a
// sampled trace), else nil: callers that would only decorate a recorded
// trace (kit/pg's statement spans) check it first and do nothing else
// for the rest.
func Recording(ctx context.Context) zipkin.Span {
	sp := zipkin.SpanFromContext(ctx)
	if sp == nil || !Records(sp) {
		return nil
	}
	return sp
}
