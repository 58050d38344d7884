package auth

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/errs"
)

// authorizationKey is the gRPC metadata key for credentials (lower case,
// as gRPC metadata keys are).
const authorizationKey = "authorization"

// UnaryServerInterceptor authenticates unary calls from the
// "authorization: Bearer <token>" metadata exactly as Middleware does for
// HTTP: claims in the context when valid, pass-through without claims when
// absent or refused. A refused token surfaces only where the method calls
// RequireUser or RequireAdmin, so public methods keep working for a
// client holding a stale token.
func (v *Verifier) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		return handler(v.authenticate(ctx), req)
	}
}

// StreamServerInterceptor is UnaryServerInterceptor for streams.
func (v *Verifier) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return handler(srv, &authedStream{ServerStream: ss, ctx: v.authenticate(ss.Context())})
	}
}

// GRPCServerOptions installs both server interceptors. They are chained
// after any interceptors given before them (grpc.ChainUnaryInterceptor
// appends); since they never fail a call themselves, an authentication
// failure is the method's error and is logged and measured like any other.
func (v *Verifier) GRPCServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(v.UnaryServerInterceptor()),
		grpc.ChainStreamInterceptor(v.StreamServerInterceptor()),
	}
}

// authenticate returns ctx with the verified claims and token, or with
// the refusal (see RequireUser) when the token does not verify.
func (v *Verifier) authenticate(ctx context.Context) context.Context {
	// ValueFromIncomingContext reads one key without copying the whole
	// metadata map, which FromIncomingContext does on every call.
	vals := metadata.ValueFromIncomingContext(ctx, authorizationKey)
	if len(vals) == 0 {
		return ctx
	}
	token, ok := BearerToken(vals[0])
	if !ok {
		return ctx
	}
	claims, err := v.Verify(ctx, token)
	if err != nil {
		return withFailure(ctx, &failure{err: errs.As(err)})
	}
	return WithToken(WithClaims(ctx, claims), token)
}

// authedStream carries the authenticated context into stream handlers.
type authedStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s *authedStream) Context() context.Context { return s.ctx }

// OutgoingContext returns ctx with the caller's bearer token (TokenFrom)
// in the outgoing gRPC metadata, so the callee sees the same user. It
// leaves ctx unchanged when it holds no token or when an authorization
// is already set.
func OutgoingContext(ctx context.Context) context.Context {
	token := TokenFrom(ctx)
	if token == "" {
		return ctx
	}
	// ValueFromOutgoingContext looks the one key up where
	// FromOutgoingContext would copy all the outgoing metadata per call.
	if len(metadata.ValueFromOutgoingContext(ctx, authorizationKey)) > 0 {
		return ctx
	}
	return metadata.AppendToOutgoingContext(ctx, authorizationKey, "Bearer "+token)
}

// UnaryClientInterceptor forwards the caller's token on every unary call
// (see OutgoingContext).
func UnaryClientInterceptor() grpc.UnaryClientInterceptor {
	return func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
		return invoker(OutgoingContext(ctx), method, req, reply, cc, opts...)
	}
}

// StreamClientInterceptor forwards the caller's token on every stream.
func StreamClientInterceptor() grpc.StreamClientInterceptor {
	return func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
		return streamer(OutgoingContext(ctx), desc, cc, method, opts...)
	}
}
