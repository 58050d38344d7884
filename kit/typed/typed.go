// Package typed bridges go-kit's untyped endpoint.Endpoint and typed Go
// functions, so no service or transport type-asserts interface{} by hand.
// A mismatch is a programming error, reported as an Internal error rather
// than a panic.
package typed

import (
	"context"
	"fmt"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
)

// Endpoint adapts a typed function to an endpoint.Endpoint.
func Endpoint[Req, Resp any](f func(context.Context, Req) (Resp, error)) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		req, err := Cast[Req](request)
		if err != nil {
			return nil, err
		}
		return f(ctx, req)
	}
}

// Call invokes an endpoint with a typed request and response.
func Call[Req, Resp any](ctx context.Context, e endpoint.Endpoint, req Req) (Resp, error) {
	resp, err := e(ctx, req)
	if err != nil {
		var zero Resp
		return zero, err
	}
	return Cast[Resp](resp)
}

// Func is Call bound to one endpoint: the typed client-side view of it.
func Func[Req, Resp any](e endpoint.Endpoint) func(context.Context, Req) (Resp, error) {
	return func(ctx context.Context, req Req) (Resp, error) { return Call[Req, Resp](ctx, e, req) }
}

// Cast is a checked type assertion that reports a mismatch as an error.
func Cast[T any](v any) (T, error) {
	t, ok := v.(T)
	if !ok {
		var zero T
		return zero, errs.Internalf(fmt.Errorf("got %T, want %T", v, zero), "typed: wrong message type")
	}
	return t, nil
}

// Decoder adapts a typed conversion to go-kit's transport decode/encode
// shape, func(ctx, any) (any, error), used by both grpc and http transports.
func Decoder[In, Out any](f func(context.Context, In) (Out, error)) func(context.Context, any) (any, error) {
	return func(ctx context.Context, v any) (any, error) {
		in, err := Cast[In](v)
		if err != nil {
			return nil, err
		}
		return f(ctx, in)
	}
}

// Opt returns v as a T, and whether it is one: for optional values such as
// a context value that may be absent, where a miss is normal and Cast's
// error (built on every call) would be waste on a hot path.
func Opt[T any](v any) (T, bool) {
	t, ok := v.(T)
	return t, ok
}
