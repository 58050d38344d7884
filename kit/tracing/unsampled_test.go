package tracing

import (
	"testing"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
)

// UnsampledChild must make the span context the tracer itself would make
// for a child of an unsampled parent (apart from the random span id), and
// leave every other parent to the tracer.
func TestUnsampledChildMatchesTracer(t *testing.T) {
	tracer, closer, err := New(Config{Service: "test", SampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	no, yes := false, true
	parentID := model.ID(7)
	parent := model.SpanContext{
		TraceID:  model.TraceID{High: 1, Low: 2},
		ID:       42,
		ParentID: &parentID,
		Sampled:  &no,
	}
	want := tracer.StartSpan("x", zipkin.Parent(parent)).Context()
	span, ok := UnsampledChild(parent)
	if !ok {
		t.Fatal("UnsampledChild refused an unsampled parent")
	}
	got := span.Context()
	if got.TraceID != want.TraceID || got.ID == 0 || got.ID == parent.ID ||
		got.ParentID == nil || *got.ParentID != *want.ParentID ||
		got.Sampled == nil || *got.Sampled != *want.Sampled || got.Debug != want.Debug {
		t.Fatalf("UnsampledChild = %+v, tracer makes %+v", got, want)
	}
	if Records(span) {
		t.Error("Records(unsampled child) = true")
	}
	if !Records(tracer.StartSpan("y")) {
		t.Error("Records(sampled span) = false")
	}

	for name, p := range map[string]model.SpanContext{
		"sampled":   {TraceID: parent.TraceID, ID: 42, Sampled: &yes},
		"undecided": {TraceID: parent.TraceID, ID: 42},
		"debug":     {TraceID: parent.TraceID, ID: 42, Sampled: &no, Debug: true},
		"empty":     {Sampled: &no},
		"failed":    {TraceID: parent.TraceID, ID: 42, Sampled: &no, Err: errTest},
	} {
		if _, ok := UnsampledChild(p); ok {
			t.Errorf("%s parent: UnsampledChild took it, want the tracer to decide", name)
		}
	}
}

var errTest = testErr("extraction failed")

type testErr string

func (e testErr) Error() string { return string(e) }

// UnsampledRoot decides new traces at the tracer's rate: unsampled roots
// look like the tracer's (no parent, the span id the trace id's low half,
// not sampled), and a root it samples, started with SampledRoot, is a
// sampled root. Tracers sampling everything, and closed ones, are left to
// the tracer.
func TestUnsampledRootDecidesAtTheRate(t *testing.T) {
	tracer, closer, err := New(Config{Service: "test", SampleRate: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	const n = 4000
	sampled := 0
	for range n {
		span, ok := UnsampledRoot(tracer)
		if !ok {
			t.Fatal("UnsampledRoot does not know a tracer New built at rate 0.5")
		}
		if span == nil {
			sampled++
			continue
		}
		sc := span.Context()
		if sc.TraceID.Low == 0 || sc.ID != model.ID(sc.TraceID.Low) || sc.ParentID != nil ||
			sc.Sampled == nil || *sc.Sampled || sc.Debug || Records(span) {
			t.Fatalf("unsampled root = %+v", sc)
		}
	}
	if sampled < n*4/10 || sampled > n*6/10 {
		t.Errorf("sampled %d of %d new traces at rate 0.5", sampled, n)
	}
	root := tracer.StartSpan("root", SampledRoot).Context()
	if root.TraceID.Empty() || root.ParentID != nil || root.Sampled == nil || !*root.Sampled {
		t.Errorf("root started with SampledRoot = %+v, want a sampled root", root)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := UnsampledRoot(tracer); ok {
		t.Error("UnsampledRoot still decides for a closed tracer")
	}

	never, closeNever, err := New(Config{Service: "test", SampleRate: NeverSample})
	if err != nil {
		t.Fatal(err)
	}
	defer closeNever.Close()
	if span, ok := UnsampledRoot(never); !ok || span == nil {
		t.Errorf("NeverSample: UnsampledRoot = %v, %v, want an unsampled root", span, ok)
	}
	always, closeAlways, err := New(Config{Service: "test", SampleRate: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer closeAlways.Close()
	if _, ok := UnsampledRoot(always); ok {
		t.Error("rate 1: UnsampledRoot decided instead of the tracer")
	}
}
