package mw_test

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"testing"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
)

// syncBuffer is a bytes.Buffer safe for the concurrent writes and reads a
// test makes while middleware logs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) Lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(b.String()), "\n") {
		if line == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("log line is not JSON: %q: %v", line, err)
		}
		out = append(out, m)
	}
	return out
}

type recorder struct {
	mu    sync.Mutex
	spans []model.SpanModel
}

func (r *recorder) Send(s model.SpanModel) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.spans = append(r.spans, s)
}

func (r *recorder) Close() error { return nil }

func (r *recorder) Spans() []model.SpanModel {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]model.SpanModel(nil), r.spans...)
}

func newTracer(t *testing.T) (*zipkin.Tracer, *recorder) {
	t.Helper()
	rec := &recorder{}
	tr, err := zipkin.NewTracer(rec, zipkin.WithTraceID128Bit(true), zipkin.WithSharedSpans(false))
	if err != nil {
		t.Fatal(err)
	}
	return tr, rec
}
