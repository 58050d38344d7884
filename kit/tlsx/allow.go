package tlsx

import (
	"context"
	"slices"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"

	"github.com/kitshop/kitshop/kit/errs"
)

// ReasonCallerNotAllowed is the reason of the PermissionDenied error an
// internal method answers a caller that is not on its allow-list.
const ReasonCallerNotAllowed = "CALLER_NOT_ALLOWED"

// AllowList maps the full gRPC name of each internal method
// ("/kitshop.payments.v1.PaymentsService/Charge") to the services that
// may call it. Methods not listed are public: they authenticate end users
// with JWTs instead.
type AllowList map[string][]string

// PeerService is the kitshop service named by the verified client
// certificate of the gRPC call in ctx, if there is one.
func PeerService(ctx context.Context) (string, bool) {
	p, ok := peer.FromContext(ctx)
	if !ok || p.AuthInfo == nil {
		return "", false
	}
	info, ok := p.AuthInfo.(credentials.TLSInfo)
	if !ok || len(info.State.VerifiedChains) == 0 || len(info.State.VerifiedChains[0]) == 0 {
		return "", false
	}
	return ServiceOf(info.State.VerifiedChains[0][0])
}

// check lets the call through when method is public, or when the caller's
// certificate names a service the list allows; anyone else (no
// certificate, another service's) gets PermissionDenied.
func (a AllowList) check(ctx context.Context, method string) error {
	allowed, internal := a[method]
	if !internal {
		return nil
	}
	svc, ok := PeerService(ctx)
	if ok && slices.Contains(allowed, svc) {
		return nil
	}
	caller := svc
	if !ok {
		caller = "an unauthenticated caller"
	}
	return errs.Newf(errs.PermissionDenied, ReasonCallerNotAllowed, "%s may not call this internal method", caller)
}

// ServerOption enforces a on every unary and streaming call. With enforce
// false (no TLS configured: a developer's `go run`) it does nothing; the
// process then binds its gRPC port to loopback and says so in its log.
func (a AllowList) ServerOption(enforce bool) grpc.ServerOption {
	if !enforce {
		return grpc.EmptyServerOption{}
	}
	return grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := a.check(ctx, info.FullMethod); err != nil {
			return nil, errs.ToGRPC(err)
		}
		return h(ctx, req)
	})
}

// StreamServerOption is ServerOption for streaming methods.
func (a AllowList) StreamServerOption(enforce bool) grpc.ServerOption {
	if !enforce {
		return grpc.EmptyServerOption{}
	}
	return grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if err := a.check(ss.Context(), info.FullMethod); err != nil {
			return errs.ToGRPC(err)
		}
		return h(srv, ss)
	})
}
