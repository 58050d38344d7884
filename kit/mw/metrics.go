package mw

import (
	"context"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/metrics"
)

// Metrics records RED metrics for method under the transport label
// (metrics.TransportEndpoint for a service's own endpoints,
// metrics.TransportClient for outgoing calls). The code label is the errs
// kind of the outcome, or "OK". A panic counts as Internal and still
// leaves the in-flight gauge balanced. A nil red makes Metrics a no-op.
func Metrics(red *metrics.RED, transport, method string) endpoint.Middleware {
	if red == nil {
		return func(next endpoint.Endpoint) endpoint.Endpoint { return next }
	}
	m := red.Method(transport, method)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			begin := m.Start()
			code := errs.Internal.String() // what a panic reports
			defer func() { m.End(begin, code) }()
			resp, err := next(ctx, request)
			code = metrics.Code(err)
			return resp, err
		}
	}
}
