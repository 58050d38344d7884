package httpx

import (
	"fmt"
	"net/http"
	"runtime/debug"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
)

// Recover turns a panicking handler into a 500 problem. The panic value
// and stack go to the log only (AccessLog's line for the request, else a
// line of Recover's own on logger): they can name internals a client
// must not see. http.ErrAbortHandler is re-raised, since it is net/http's
// own way to abort a response and is not a bug.
func Recover(logger log.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			sw := recording(w)
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if v == http.ErrAbortHandler {
					panic(v)
				}
				stack := string(debug.Stack())
				if sw.written || !logx.TransportLogs(r.Context()) {
					_ = level.Error(logx.FromContext(r.Context(), logger)).Log(
						"msg", "panic serving HTTP request",
						"method", r.Method, "path", r.URL.Path,
						"panic", fmt.Sprint(v), "stack", stack)
				} else {
					// AccessLog's line for the request carries the stack.
					logx.RecordFrom(r.Context()).NotePanic(stack)
				}
				if sw.written {
					// Too late for a problem document; aborting tells the
					// client the response is incomplete rather than letting
					// a truncated body pass as complete. AccessLog writes
					// no line then: the one above is the request's.
					panic(http.ErrAbortHandler)
				}
				WriteProblem(w, r, errs.Internalf(fmt.Errorf("panic: %v", v), "httpx: handler panicked"))
			}()
			next.ServeHTTP(sw, r)
		})
	}
}
