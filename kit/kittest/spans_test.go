package kittest

import (
	"sync"
	"testing"

	"github.com/openzipkin/zipkin-go"
)

func TestNewTracerRecordsSpans(t *testing.T) {
	tr, rec := NewTracer(t, "widgets")
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() { tr.StartSpan("op").Finish() })
	}
	wg.Wait()
	root := tr.StartSpan("root")
	tr.StartSpan("child", zipkin.Parent(root.Context())).Finish()
	root.Finish()

	spans := rec.Spans()
	if len(spans) != 6 {
		t.Fatalf("%d spans recorded, want 6", len(spans))
	}
	last := spans[5]
	if last.Name != "root" || last.LocalEndpoint == nil || last.LocalEndpoint.ServiceName != "widgets" {
		t.Fatalf("last span %+v, want root from widgets", last)
	}
	if last.TraceID.High == 0 {
		t.Errorf("trace id %v is not 128-bit", last.TraceID)
	}
	if child := spans[4]; child.ParentID == nil || *child.ParentID != last.ID || child.TraceID != last.TraceID {
		t.Errorf("child %+v is not a child of root %+v", child, last)
	}
	spans[0].Name = "mutated"
	if rec.Spans()[0].Name == "mutated" {
		t.Error("Spans returned the recorder's own slice")
	}
	if err := rec.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
}

func TestNewTracerWithoutService(t *testing.T) {
	tr, rec := NewTracer(t, "")
	tr.StartSpan("op").Finish()
	if spans := rec.Spans(); len(spans) != 1 || spans[0].LocalEndpoint != nil {
		t.Fatalf("spans %+v, want one without a local endpoint", spans)
	}
}
