package metrics

import (
	"context"
	"net/http"
)

// TransportRoute is the transport label of a REST route (kit/rest): the
// method label is "<HTTP method> <path template>", such as
// "GET /api/v1/products/{id}", and the code the errs kind of the answer.
// Templates, not paths, so that ids never become labels.
const TransportRoute = "route"

// RouteMethod is the method label of a route: its HTTP method and path
// template.
func RouteMethod(httpMethod, template string) string { return httpMethod + " " + template }

type redKey struct{}

// NewContext returns ctx carrying red, for the handlers below a process's
// HTTP stack that record series of their own (kit/rest's routes).
func NewContext(ctx context.Context, red *RED) context.Context {
	return context.WithValue(ctx, redKey{}, red)
}

// FromContext is the RED NewContext stored in ctx, or nil.
func FromContext(ctx context.Context) *RED {
	red, _ := ctx.Value(redKey{}).(*RED)
	return red
}

// WithRED is HTTP middleware handing red to every handler below it
// through the request's context (NewContext). kit/boot installs it around
// every process's routes, so a kit/rest route records its calls under
// TransportRoute without its mounting code knowing about metrics. A nil
// red changes nothing.
func WithRED(red *RED) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		if red == nil {
			return next
		}
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			next.ServeHTTP(w, r.WithContext(NewContext(r.Context(), red)))
		})
	}
}
