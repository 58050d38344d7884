package httpx

import (
	"net/http"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/openzipkin/zipkin-go"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
)

// TransportHTTP is the transport key of AccessLog's lines.
const TransportHTTP = "http"

// AccessLog writes one line per request once it has been answered
// (logx.LogRequest, msg "request"), with:
//   - method: the HTTP method and the route template the router matched
//     ("GET /api/v1/products/{id}", noted by NewRouter's routes), or the
//     method alone when no route matched (a 404);
//   - path (never the query string), status, bytes, duration_ms, remote;
//   - trace_id and request_id from the context;
//   - on failure, the error the request was answered with (err_kind,
//     err_reason, err, noted by NewProblem; the cause is in err but never
//     in the response). Bodies and headers are never logged.
//
// Its level: error for a 5xx an operator must look at (an infrastructure
// error, or a 5xx other than 503 with no error noted), info for any other
// failure (4xx, 499 for a client that hung up, a 503 the callee marked
// expected, /health/ready's 503 while not ready), debug for a success. When logger drops debug entries (logx.DebugEnabled) a
// success allocates nothing here: keep the process's logger as built.
//
// AccessLog claims the request's logx.Record (the one RequestID made), so
// the endpoint chain below writes no line of its own; an AccessLog inside
// another one stays quiet. Put it inside RequestID and tracing, so their
// ids are in the context, and outside Recover, so a panic's 500 is
// logged, with the panic's stack that Recover noted; directly inside
// Metrics, both share one response recorder.
func AccessLog(logger log.Logger) func(http.Handler) http.Handler {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	debug := logx.DebugEnabled(logger)
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rec := logx.RecordFrom(r.Context())
			if rec == nil { // no RequestID outside: a record of our own
				rec = &logx.Record{}
				r = r.WithContext(logx.WithRecord(r.Context(), rec))
			}
			if !rec.Claim() {
				next.ServeHTTP(w, r) // an outer AccessLog writes the line
				return
			}
			begin := time.Now()
			sw := recording(w)
			// No defer: a request whose handler panics past Recover
			// (http.ErrAbortHandler, the response already begun) has
			// been logged by Recover, with the stack, and net/http
			// aborts the connection.
			next.ServeHTTP(sw, r)
			status := sw.Status()
			noted := rec.Finish()
			nameSpan(r, noted.Route)
			if status < 400 && !debug {
				return
			}
			logRequest(logger, r, noted, status, sw.bytes, time.Since(begin))
		})
	}
}

// nameSpan names the request's server span after the route it matched
// ("get /api/v1/products/{id}"), which only the router learns: the
// tracing middleware outside can name it after the method alone. Route
// templates are few, so span names stay bounded; a request that matched
// no route keeps the method.
func nameSpan(r *http.Request, route string) {
	if route == "" {
		return
	}
	span := zipkin.SpanFromContext(r.Context())
	if span == nil {
		return
	}
	// An unrecorded span's name goes nowhere: spare it the string.
	if sc := span.Context(); sc.Sampled == nil || !*sc.Sampled {
		return
	}
	span.SetName(strings.ToLower(r.Method) + " " + route)
}

// logRequest writes AccessLog's line.
func logRequest(logger log.Logger, r *http.Request, noted logx.Noted, status int, bytes int64, took time.Duration) {
	failed := status >= 400
	err := noted.Err
	if !failed {
		err = nil // a problem noted and then overwritten by a success is no failure
	}
	// With an error noted, its kind decides; without one, a 5xx is the
	// server's fault, except a 503 written on purpose (a readiness probe
	// answering "not ready", as every instance does while it starts).
	operator := status >= 500 && status != http.StatusServiceUnavailable
	if err != nil {
		operator = status >= 500 && errs.IsInfrastructure(err)
	}
	method := r.Method
	if noted.Route != "" {
		method += " " + noted.Route
	}
	logx.LogRequest(r.Context(), logger, logx.RequestLevel(failed, operator), took, err, noted.Stack,
		logx.KeyTransport, TransportHTTP, logx.KeyMethod, method, logx.KeyPath, r.URL.Path,
		logx.KeyStatus, status, "bytes", bytes, "remote", r.RemoteAddr)
}
