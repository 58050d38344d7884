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
