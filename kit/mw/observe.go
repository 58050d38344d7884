package mw

import (
	"context"

	"github.com/go-kit/kit/endpoint"
)

// ChainObserver is told by a server chain (Chain.Wrap) that it took a
// call, and that the call failed once the chain has logged and counted
// the failure. A transport puts one in the call's context
// (WithChainObserver) to report, itself, exactly the failures the chain
// never saw: kit/grpcx logs and counts a request refused before its
// endpoint (undecodable, bad text, no deadline left) or a panic outside
// it, and nothing twice. Both methods run on the call's goroutine.
type ChainObserver interface {
	ChainEntered()
	ChainFailed()
}

type observerKey struct{}

// WithChainObserver returns ctx carrying o for the chains that serve it.
func WithChainObserver(ctx context.Context, o ChainObserver) context.Context {
	return context.WithValue(ctx, observerKey{}, o)
}

// ChainObserverFrom returns the observer in ctx, or nil.
func ChainObserverFrom(ctx context.Context) ChainObserver {
	o, _ := ctx.Value(observerKey{}).(ChainObserver)
	return o
}

// observed tells ctx's ChainObserver, if any, about the call. It is the
// chain's outermost middleware, so a failure is reported after the
// logging and metrics middleware have recorded it.
func observed(next endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		o := ChainObserverFrom(ctx)
		if o == nil {
			return next(ctx, request)
		}
		o.ChainEntered()
		resp, err := next(ctx, request)
		if err != nil {
			o.ChainFailed()
		}
		return resp, err
	}
}
