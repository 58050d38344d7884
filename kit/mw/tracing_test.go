package mw_test

import (
	"context"
	"testing"

	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
)

func TestTracingSpanPerCallWithErrorTags(t *testing.T) {
	tracer, rec := kittest.NewTracer(t, "")
	parent, ctx := tracer.StartSpanFromContext(context.Background(), "server")

	outcomes := map[string]error{
		"ok":       nil,
		"business": errs.New(errs.NotFound, "ORDER_NOT_FOUND", "no order"),
		"infra":    errs.New(errs.Unavailable, "DB_DOWN", "down"),
	}
	for name, o := range outcomes {
		e := mw.Tracing(tracer, name)(func(ctx context.Context, _ any) (any, error) {
			if sp := zipkin.SpanFromContext(ctx); sp == nil || sp == parent {
				t.Error("the endpoint did not get the call's own span in ctx")
			}
			return nil, o
		})
		_, _ = e(ctx, nil)
	}
	parent.Finish()

	byName := map[string]map[string]string{}
	for _, s := range rec.Spans() {
		if s.Name != "server" {
			if s.ParentID == nil || *s.ParentID != parent.Context().ID || s.TraceID != parent.Context().TraceID {
				t.Errorf("span %s is not a child of the ctx span", s.Name)
			}
		}
		byName[s.Name] = s.Tags
	}
	if len(byName["ok"]) != 0 {
		t.Errorf("ok span has tags %v", byName["ok"])
	}
	if b := byName["business"]; b[mw.TagErrorKind] != "NotFound" || b[mw.TagErrorReason] != "ORDER_NOT_FOUND" || b["error"] != "" {
		t.Errorf("business span tags = %v, want kind/reason but no error tag", b)
	}
	if i := byName["infra"]; i[mw.TagErrorKind] != "Unavailable" || i["error"] != "Unavailable" {
		t.Errorf("infra span tags = %v, want error tag", i)
	}
}

func TestTracingNilTracerIsNoop(t *testing.T) {
	called := false
	e := mw.Tracing(nil, "x")(func(context.Context, any) (any, error) { called = true; return 1, nil })
	if v, err := e(context.Background(), nil); err != nil || v != 1 || !called {
		t.Error("nil tracer changed the call")
	}
}

func TestServerTracingTagsTheTransportSpan(t *testing.T) {
	tracer, rec := kittest.NewTracer(t, "")
	server, ctx := tracer.StartSpanFromContext(context.Background(), "grpc-server")
	e := mw.ServerTracing(tracer, "GetUser")(func(ctx context.Context, _ any) (any, error) {
		if zipkin.SpanFromContext(ctx) != server {
			t.Error("ServerTracing replaced the transport's span")
		}
		return nil, errs.New(errs.Unavailable, "DB_DOWN", "down")
	})
	_, _ = e(ctx, nil)
	server.Finish()
	spans := rec.Spans()
	if len(spans) != 1 {
		t.Fatalf("want only the transport's span, got %d spans", len(spans))
	}
	tags := spans[0].Tags
	if tags[mw.TagEndpoint] != "GetUser" || tags[mw.TagErrorReason] != "DB_DOWN" || tags["error"] != "Unavailable" {
		t.Fatalf("transport span tags = %v", tags)
	}

	// With no span in ctx it opens its own.
	_, _ = mw.ServerTracing(tracer, "Direct")(func(context.Context, any) (any, error) { return nil, nil })(context.Background(), nil)
	if got := rec.Spans(); len(got) != 2 || got[1].Name != "direct" && got[1].Name != "Direct" {
		t.Fatalf("direct call spans = %v", got)
	}
}

func TestExpectedFailuresDoNotPaintTheTraceRed(t *testing.T) {
	tracer, rec := kittest.NewTracer(t, "")
	e := mw.Tracing(tracer, "Charge")(func(context.Context, any) (any, error) {
		return nil, errs.New(errs.Unavailable, "PROCESSING_ERROR", "retry").AsExpected()
	})
	_, _ = e(context.Background(), nil)
	if tags := rec.Spans()[0].Tags; tags["error"] != "" || tags[mw.TagErrorReason] != "PROCESSING_ERROR" {
		t.Fatalf("tags = %v", tags)
	}
}
