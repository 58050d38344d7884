package mw

import (
	"context"

	"github.com/go-kit/kit/endpoint"
	"golang.org/x/time/rate"

	"github.com/kitshop/kitshop/kit/errs"
)

// ErrRateLimited is returned when a call is shed by RateLimit.
var ErrRateLimited = errs.New(errs.ResourceExhausted, errs.ReasonRateLimited, "rate limit exceeded")

// RateLimit rejects calls beyond lim with ErrRateLimited (ResourceExhausted,
// reason RATE_LIMITED) at once rather than queueing them: waiting would
// only hold goroutines and deadlines while the overload persists, and the
// caller can back off better than we can.
func RateLimit(lim *rate.Limiter) endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			if !lim.Allow() {
				return nil, ErrRateLimited
			}
			return next(ctx, request)
		}
	}
}
