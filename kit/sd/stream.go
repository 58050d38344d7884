package sd

import (
	"context"

	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
)

// ServerStream returns the typed opener of one server-streaming method,
// e.g.
//
//	watch := sd.ServerStream(b, "WatchOrder", ordersv1.OrdersServiceClient.WatchOrder)
//
// Only the opening is the Backend's business: it picks an instance
// round-robin within the version the service's rollout gives the caller's
// route key, as Unary does (passing over instances whose connection is
// down), runs
// the opening through the backend's breaker (an open breaker fails it at
// once with Unavailable) and, when the instance is unavailable, tries the
// next one. Once open, the stream is the caller's: it lives as long as
// ctx, is never retried (a watch resumed elsewhere must start over, and
// only its caller knows how), and its failures count against no breaker
// (a stream ending says nothing about whether the backend is healthy).
//
// A stream on an instance that leaves discovery ends with Unavailable
// when its connection is closed; callers reopen it.
func ServerStream[C, Req, S any](b *Backend[C], method string, open func(C, context.Context, Req, ...grpc.CallOption) (S, error)) func(context.Context, Req) (S, error) {
	return streamOpener(b, method, func(c C, ctx context.Context, req Req) (S, error) { return open(c, ctx, req) })
}

// BidiStream is ServerStream for a bidirectional (or client-streaming)
// method, whose opening carries no request:
//
//	watch := sd.BidiStream(b, "WatchStock", productsv1.ProductsServiceClient.WatchStock)
func BidiStream[C, S any](b *Backend[C], method string, open func(C, context.Context, ...grpc.CallOption) (S, error)) func(context.Context) (S, error) {
	opener := streamOpener(b, method, func(c C, ctx context.Context, _ struct{}) (S, error) { return open(c, ctx) })
	return func(ctx context.Context) (S, error) { return opener(ctx, struct{}{}) }
}

// streamOpener builds the method's endpointer over the backend's instances
// and connections, as Unary does, with endpoints that open a stream and
// return it.
func streamOpener[C, Req, S any](b *Backend[C], _ string, open func(C, context.Context, Req) (S, error)) func(context.Context, Req) (S, error) {
	factory := instanceFactory(b, false, func(ctx context.Context, client C, req Req) (any, error) {
		s, err := open(client, ctx, req)
		if err != nil {
			return nil, errs.FromGRPC(err)
		}
		return s, nil
	})
	// The versioned endpointer applies the instances discovery already
	// knows before returning, so a stream opened at once finds them.
	endpointer := newVersionedEndpointer(b.inst, factory, b.cfg.Logger)
	if !b.conns.own(endpointer.Close) {
		endpointer.Close()
	}
	return func(ctx context.Context, req Req) (S, error) {
		var zero S
		resp, err := b.breaker.Do(func() (any, error) { return b.openOnAny(ctx, endpointer, req) })
		if err != nil {
			if ctx.Err() != nil {
				return zero, callerGaveUp(ctx)
			}
			return zero, b.edgeError(err)
		}
		return typed.Cast[S](resp)
	}
}

// openOnAny opens the stream on the instance the rollout and round-robin
// give, or, when that one is down or unavailable, on each other instance
// in the rollout's order of preference: the opening has not reached any
// server then, so trying elsewhere is safe for any method.
func (b *Backend[C]) openOnAny(ctx context.Context, endpointer *versionedEndpointer, req any) (any, error) {
	sp := b.rollout.Current()
	key := b.routeKey(ctx)
	if key != "" && RouteKey(ctx) != key {
		ctx = WithRouteKey(ctx, key)
	}
	first := endpointer.pick(sp, key, false)
	if first == nil {
		return nil, errs.Wrap(errs.Unavailable, ReasonNoInstances, errNoEndpoints, "no instance of "+b.cfg.Service+" is available")
	}
	resp, err := first.e(ctx, req)
	if err == nil || !b.retryable(err) && err != errInstanceDown {
		return resp, err
	}
	for _, t := range endpointer.candidates(sp, first) {
		if t == first {
			continue
		}
		if resp, err = t.e(ctx, req); err == nil || !b.retryable(err) && err != errInstanceDown {
			return resp, err
		}
	}
	// Every instance looks down: gRPC may have reconnected since.
	return first.e(context.WithValue(ctx, forceKey{}, true), req)
}
