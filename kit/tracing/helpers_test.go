package tracing_test

import (
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openzipkin/zipkin-go/model"
)

// recorder is a reporter.Reporter that keeps spans in memory.
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

// checkGoroutines fails the test if it ends with more goroutines than it
// started with, once servers have had a moment to wind down.
func checkGoroutines(t *testing.T) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(5 * time.Second)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(),
					strings.TrimSpace(string(buf[:n])))
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
