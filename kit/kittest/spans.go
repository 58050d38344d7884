package kittest

import (
	"sync"
	"testing"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/openzipkin/zipkin-go/reporter"
)

// SpanRecorder is a zipkin reporter.Reporter that keeps finished spans in
// memory, in the order they finished. It is safe for concurrent use; the
// zero value is ready.
type SpanRecorder struct {
	mu    sync.Mutex
	spans []model.SpanModel
}

var _ reporter.Reporter = (*SpanRecorder)(nil)

// Send records s.
func (r *SpanRecorder) Send(s model.SpanModel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, s)
}

// Close does nothing: there is no transport to flush.
func (r *SpanRecorder) Close() error { return nil }

// Spans returns a copy of the spans recorded so far.
func (r *SpanRecorder) Spans() []model.SpanModel {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]model.SpanModel(nil), r.spans...)
}

// NewTracer returns a tracer that reports to a new SpanRecorder, with the
// settings kitshop's tracers use (128-bit trace ids, server spans not
// shared with the client). service, when not empty, names the tracer's
// local endpoint, so spans from two tracers can be told apart.
func NewTracer(t testing.TB, service string) (*zipkin.Tracer, *SpanRecorder) {
	t.Helper()
	rec := &SpanRecorder{}
	opts := []zipkin.TracerOption{zipkin.WithTraceID128Bit(true), zipkin.WithSharedSpans(false)}
	if service != "" {
		ep, err := zipkin.NewEndpoint(service, "")
		if err != nil {
			t.Fatalf("zipkin endpoint for %q: %v", service, err)
		}
		opts = append(opts, zipkin.WithLocalEndpoint(ep))
	}
	tr, err := zipkin.NewTracer(rec, opts...)
	if err != nil {
		t.Fatalf("zipkin tracer: %v", err)
	}
	return tr, rec
}
