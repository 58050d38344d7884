package httpx

import (
	"net/http"
	"strconv"

	"github.com/kitshop/kitshop/kit/metrics"
)

// Metrics records every request in red under transport "http", by HTTP
// method and status code. The endpoint chain counts calls by operation;
// this also counts what never reaches an endpoint (401 from the auth
// middleware, 404, 405, 413, 415), which an operator must see too. A nil
// red records nothing.
func Metrics(red *metrics.RED) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if red == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			end := red.Start(metrics.TransportHTTP, r.Method)
			sw := &statusWriter{ResponseWriter: w}
			defer func() { end(strconv.Itoa(sw.Status())) }()
			next.ServeHTTP(sw, r)
		})
	}
}
