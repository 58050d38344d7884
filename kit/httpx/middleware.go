package httpx

import (
	"fmt"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
)

// Recover turns a panicking handler into a 500 problem. The panic value
// and stack go to logger only: they can name internals a client must not
// see. http.ErrAbortHandler is re-raised, since it is net/http's own way
// to abort a response and is not a bug.
func Recover(logger log.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				_ = level.Error(logx.FromContext(r.Context(), logger)).Log(
					"msg", "panic serving HTTP request",
					"method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				if sw.written {
					// Too late for a problem document; aborting tells the
					// client the response is incomplete rather than letting
					// a truncated body pass as complete.
					panic(http.ErrAbortHandler)
				}
				WriteProblem(w, r, errs.Internalf(fmt.Errorf("panic: %v", v), "httpx: handler panicked"))
			}()
			next.ServeHTTP(sw, r)
		})
	}
}

// AccessLog logs one line per request after it completes: method, path
// (never the query, which may carry tokens), status, bytes, duration and,
// through logx.FromContext, the request and trace ids. Put it inside
// RequestID and tracing so those ids are in the context.
func AccessLog(logger log.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			defer func() {
				status := sw.Status()
				lg := logx.FromContext(r.Context(), logger)
				if status >= 500 {
					lg = level.Error(lg)
				} else {
					lg = level.Info(lg)
				}
				_ = lg.Log("msg", "http request",
					"method", r.Method, "path", r.URL.Path, "status", status,
					"bytes", sw.bytes, "duration", time.Since(start).String(),
					"remote", r.RemoteAddr)
			}()
			next.ServeHTTP(sw, r)
		})
	}
}
