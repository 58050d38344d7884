package tracing

import (
	"sync/atomic"

	"github.com/openzipkin/zipkin-go"
)

// defaultTracer is the tracer New built last and has not closed: the
// process's. A kitshop process builds one (kit/boot), and a library that
// has no wiring of its own to be handed it (kit/pg's statement spans)
// reaches it through Default, the way OpenTelemetry's global provider
// works.
var defaultTracer atomic.Pointer[zipkin.Tracer]

// Default is the process's tracer (the last New built and that is not
// closed), or nil.
func Default() *zipkin.Tracer { return defaultTracer.Load() }

func setDefault(t *zipkin.Tracer) { defaultTracer.Store(t) }

// clearDefault forgets t as the default, unless a later tracer took its
// place already.
func clearDefault(t *zipkin.Tracer) { defaultTracer.CompareAndSwap(t, nil) }
