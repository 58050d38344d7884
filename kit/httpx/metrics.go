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
//
// Both labels are bounded whatever clients send: a method outside RFC
// 9110's (plus PATCH) is counted as "OTHER", since net/http passes any
// token a client invents and each would be a new series, and a status
// outside 100-599 as "other".
func Metrics(red *metrics.RED) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if red == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			end := red.Start(metrics.TransportHTTP, MethodLabel(r.Method))
			sw := recording(w)
			defer func() { end(statusLabel(sw.Status())) }()
			next.ServeHTTP(sw, r)
		})
	}
}

// MethodOther is the label of every HTTP method outside knownMethods.
const MethodOther = "OTHER"

var knownMethods = map[string]string{
	http.MethodGet: http.MethodGet, http.MethodHead: http.MethodHead,
	http.MethodPost: http.MethodPost, http.MethodPut: http.MethodPut,
	http.MethodPatch: http.MethodPatch, http.MethodDelete: http.MethodDelete,
	http.MethodOptions: http.MethodOptions, http.MethodConnect: http.MethodConnect,
	http.MethodTrace: http.MethodTrace,
}

// MethodLabel is method as a metric label: itself when it is a standard
// method, MethodOther otherwise. Methods are case-sensitive ("get" is not
// GET), so no case folding.
func MethodLabel(method string) string {
	if m, ok := knownMethods[method]; ok {
		return m
	}
	return MethodOther
}

// statusLabel is a status code as a label; net/http accepts any three
// digits from a handler, so codes outside the defined classes are one label.
func statusLabel(code int) string {
	if code < 100 || code > 599 {
		return "other"
	}
	return strconv.Itoa(code)
}
