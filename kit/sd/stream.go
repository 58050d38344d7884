package sd

import (
	"context"
	"fmt"
	"io"

	"github.com/go-kit/kit/endpoint"
	gokitsd "github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/lb"
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
// round-robin (passing over instances whose connection is down), runs
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
	factory := func(instance string) (endpoint.Endpoint, io.Closer, error) {
		in, err := DecodeInstance(instance)
		if err != nil {
			return nil, nil, err
		}
		if in.GRPCAddr == "" {
			return nil, nil, fmt.Errorf("sd: instance %s/%s has no grpc_addr", in.Name, in.ID)
		}
		ref, err := b.conns.acquire(in.GRPCAddr)
		if err != nil {
			return nil, nil, err
		}
		conn, client := ref.sc.conn, b.newClient(ref.sc.conn)
		var health instanceHealth
		e := func(ctx context.Context, request any) (any, error) {
			if health.down(conn) && !forced(ctx) {
				return nil, errInstanceDown
			}
			req, err := typed.Cast[Req](request)
			if err != nil {
				return nil, err
			}
			s, err := open(client, ctx, req)
			if err != nil {
				err = errs.FromGRPC(err)
				health.observe(err)
				return nil, err
			}
			return s, nil
		}
		return e, ref, nil
	}
	endpointer := gokitsd.NewEndpointer(b.inst, factory, b.cfg.Logger)
	if !b.conns.own(endpointer.Close) {
		endpointer.Close()
	}
	balancer := lb.NewRoundRobin(endpointer)
	return func(ctx context.Context, req Req) (S, error) {
		var zero S
		resp, err := b.breaker.Do(func() (any, error) { return b.openOnAny(ctx, balancer, endpointer, req) })
		if err != nil {
			if ctx.Err() != nil {
				return zero, callerGaveUp(ctx)
			}
			return zero, b.edgeError(err)
		}
		return typed.Cast[S](resp)
	}
}

// openAny opens the stream on the instance round-robin gives, or, when
// that one is down or unavailable, on each other instance in turn: the
// opening has not reached any server then, so trying elsewhere is safe
// for any method.
func (b *Backend[C]) openOnAny(ctx context.Context, balancer lb.Balancer, endpointer *gokitsd.DefaultEndpointer, req any) (any, error) {
	first, err := balancer.Endpoint()
	if err != nil {
		return nil, errs.Wrap(errs.Unavailable, ReasonNoInstances, err, "no instance of "+b.cfg.Service+" is available")
	}
	resp, err := first(ctx, req)
	if err == nil || !b.retryable(err) && err != errInstanceDown {
		return resp, err
	}
	eps, _ := endpointer.Endpoints()
	for _, e := range eps {
		if resp, err = e(ctx, req); err == nil || !b.retryable(err) && err != errInstanceDown {
			return resp, err
		}
	}
	// Every instance looks down: gRPC may have reconnected since.
	return first(context.WithValue(ctx, forceKey{}, true), req)
}
