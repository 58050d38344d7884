package tracing

import (
	"net/http"

	"github.com/openzipkin/zipkin-go"
	zipkinhttp "github.com/openzipkin/zipkin-go/middleware/http"
	"github.com/openzipkin/zipkin-go/propagation/b3"
)

// HTTPServer wraps next in a server span. The caller's trace is continued
// from B3 headers (single "b3" or X-B3-*) when present, otherwise from a W3C
// traceparent header; with neither, a new trace starts. Every response
// carries a traceparent header naming the server span, so a client can quote
// it in a bug report and find the trace.
//
// opts are zipkin-go server options (SpanName, ServerTags, ...).
func HTTPServer(tracer *zipkin.Tracer, next http.Handler, opts ...zipkinhttp.ServerOption) http.Handler {
	// The header is set before next runs: once next writes, headers are gone.
	stamped := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if tp := Traceparent(r.Context()); tp != "" {
			w.Header().Set(TraceparentHeader, tp)
		}
		next.ServeHTTP(w, r)
	})
	traced := zipkinhttp.NewServerMiddleware(tracer, opts...)(stamped)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		traced.ServeHTTP(w, w3cAsB3(r))
	})
}

// w3cAsB3 lets zipkin-go's B3 extraction continue a W3C trace: when the
// request has no B3 headers but a valid traceparent, it returns a shallow
// copy of r with the equivalent single "b3" header. The caller's request and
// header map are not modified.
func w3cAsB3(r *http.Request) *http.Request {
	if r.Header.Get(b3.Context) != "" || r.Header.Get(b3.TraceID) != "" {
		return r
	}
	sc, ok := ParseTraceparent(r.Header.Get(TraceparentHeader))
	if !ok {
		return r
	}
	c := r.Clone(r.Context())
	c.Header.Set(b3.Context, b3.BuildSingleHeader(sc))
	return c
}

// HTTPClient returns an http.Client whose requests get a client span and
// carry B3 headers for the span in the request's context. With a nil tracer
// it is a plain client, so optional tracing needs no branches at call sites.
func HTTPClient(tracer *zipkin.Tracer) *http.Client {
	// NewTransport fails only for a nil tracer, handled here.
	rt, err := zipkinhttp.NewTransport(tracer)
	if err != nil {
		return &http.Client{}
	}
	return &http.Client{Transport: rt}
}
