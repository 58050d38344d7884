package tracing

import (
	"io"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
)

// UnsampledChild is the span a tracer built by New starts as a child of
// parent when parent's trace is not sampled, made without the tracer: a
// new span id under parent's trace (kit/tracing's tracers share no spans,
// so a server span gets its own id too), the parent's id and baggage, and
// the "not sampled" decision, recording nothing. zipkin-go's own no-op
// span costs the full span's allocations (a span with its tag map, the
// ids behind pointers, then the no-op span copying them); this one is a
// single allocation, which is what makes a production sample rate cheap
// for the calls it skips. ok is false when parent is sampled, debug,
// undecided, empty or a failed extraction: then the tracer decides, as
// before.
func UnsampledChild(parent model.SpanContext) (span zipkin.Span, ok bool) {
	if parent.Err != nil || parent.Debug || parent.Sampled == nil || *parent.Sampled ||
		parent.TraceID.Empty() || parent.ID == 0 {
		return nil, false
	}
	s := &unsampledSpan{parentID: parent.ID}
	s.sc = model.SpanContext{
		TraceID:  parent.TraceID,
		ID:       newSpanID(),
		ParentID: &s.parentID,
		Sampled:  &s.sampled,
		Baggage:  parent.Baggage,
	}
	return s, true
}

// Records reports whether span records anything: false for zipkin-go's
// no-op spans and UnsampledChild's, so callers can skip building tags.
func Records(span zipkin.Span) bool {
	// A span standing for another (kit/grpcx's server span) answers
	// for it.
	if w, ok := span.(interface{ Unwrap() zipkin.Span }); ok {
		span = w.Unwrap()
	}
	if span == nil || zipkin.IsNoop(span) {
		return false
	}
	_, unsampled := span.(*unsampledSpan)
	return !unsampled
}

// newSpanID is a random non-zero span id, as zipkin-go's default
// generator makes them.
func newSpanID() model.ID {
	for {
		if id := rand.Uint64(); id != 0 {
			return model.ID(id)
		}
	}
}

// unsampledSpan carries a trace on without recording it. The pointers in
// its context point into the span itself, so one allocation holds all.
type unsampledSpan struct {
	sc       model.SpanContext
	parentID model.ID
	sampled  bool // always false
}

func (s *unsampledSpan) Context() model.SpanContext       { return s.sc }
func (*unsampledSpan) SetName(string)                     {}
func (*unsampledSpan) SetRemoteEndpoint(*model.Endpoint)  {}
func (*unsampledSpan) Annotate(time.Time, string)         {}
func (*unsampledSpan) Tag(string, string)                 {}
func (*unsampledSpan) Finish()                            {}
func (*unsampledSpan) FinishedWithDuration(time.Duration) {}
func (*unsampledSpan) Flush()                             {}

// samplers holds the sampler of each tracer New built with a rate below
// 1, so UnsampledRoot can decide ahead of the tracer. Closing the tracer
// forgets it.
var samplers sync.Map // *zipkin.Tracer -> zipkin.Sampler

// sampledYes backs SampledRoot's decision; nothing writes through it.
var sampledYes = true

// SampledRoot, among a root span's options, makes the tracer start a new,
// sampled trace without consulting its sampler: the decision
// UnsampledRoot made stands.
var SampledRoot = zipkin.Parent(model.SpanContext{Sampled: &sampledYes})

// UnsampledRoot makes the sampling decision for a new trace of tracer the
// way the tracer would (its sampler, on a new random 128-bit trace id),
// when New built tracer with a sample rate below 1. A trace not sampled
// gets its root span here, in one allocation, and ok is true. A sampled
// one gets span nil and ok true: the caller starts the root with tracer,
// adding SampledRoot to its options. For any other tracer span is nil and
// ok false: the tracer decides, as it always did.
func UnsampledRoot(tracer *zipkin.Tracer) (span zipkin.Span, ok bool) {
	v, known := samplers.Load(tracer)
	if !known {
		return nil, false
	}
	// zipkin-go's 128-bit generator draws two non-negative int63s; the
	// root's span id is the trace id's low half.
	low := rand.Uint64() >> 1
	for low == 0 {
		low = rand.Uint64() >> 1
	}
	tid := model.TraceID{High: rand.Uint64() >> 1, Low: low}
	if v.(zipkin.Sampler)(tid.Low) {
		return nil, true
	}
	s := &unsampledSpan{}
	s.sc = model.SpanContext{TraceID: tid, ID: model.ID(low), Sampled: &s.sampled}
	return s, true
}

// closer is a tracer's Closer (see New): it forgets the tracer's
// sampler and its place as the default, then closes the reporter.
type closer struct {
	tracer *zipkin.Tracer
	rep    io.Closer
}

func (c closer) Close() error {
	samplers.Delete(c.tracer)
	clearDefault(c.tracer)
	return c.rep.Close()
}
