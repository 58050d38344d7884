package auth

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
)

// whoAmI is a health service that answers according to the caller's
// claims: SERVING for an admin, NOT_SERVING for anyone else, and the
// RequireAdmin error when that fails. Watch (a server stream) does the
// same, to exercise the stream interceptor.
type whoAmI struct {
	healthpb.UnimplementedHealthServer
}

func statusFor(ctx context.Context) (healthpb.HealthCheckResponse_ServingStatus, error) {
	if _, err := RequireAdmin(ctx); err != nil {
		return 0, errs.ToGRPC(err)
	}
	return healthpb.HealthCheckResponse_SERVING, nil
}

func (whoAmI) Check(ctx context.Context, _ *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st, err := statusFor(ctx)
	if err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

func (whoAmI) Watch(_ *healthpb.HealthCheckRequest, ss grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	st, err := statusFor(ss.Context())
	if err != nil {
		return err
	}
	return ss.Send(&healthpb.HealthCheckResponse{Status: st})
}

func startGRPC(t *testing.T, v *Verifier) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := grpc.NewServer(v.GRPCServerOptions()...)
	healthpb.RegisterHealthServer(s, whoAmI{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Serve(l)
	}()
	t.Cleanup(func() {
		s.Stop()
		<-done
	})
	return l.Addr().String()
}

func TestGRPCInterceptors(t *testing.T) {
	pub, priv := newKey(t)
	_, wrong := newKey(t)
	addr := startGRPC(t, NewVerifier(StaticKeys(pub)))

	// The client forwards whatever token its caller's context holds, as
	// the gateway does for the user it authenticated.
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(UnaryClientInterceptor()),
		grpc.WithStreamInterceptor(StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := healthpb.NewHealthClient(conn)

	check := func(ctx context.Context) (codes.Code, string) {
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		return status.Code(err), errs.ReasonOf(errs.FromGRPC(err))
	}
	watch := func(ctx context.Context) (codes.Code, string) {
		stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{})
		if err == nil {
			_, err = stream.Recv()
		}
		return status.Code(err), errs.ReasonOf(errs.FromGRPC(err))
	}
	ctx := t.Context()
	admin := WithToken(ctx, sign(t, priv, claimsFor("a1", RoleAdmin)))
	customer := WithToken(ctx, sign(t, priv, claimsFor("u1", RoleCustomer)))
	forged := WithToken(ctx, sign(t, wrong, claimsFor("a1", RoleAdmin)))

	for name, call := range map[string]func(context.Context) (codes.Code, string){"unary": check, "stream": watch} {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				ctx    context.Context
				code   codes.Code
				reason string
			}{
				{admin, codes.OK, ""},
				{customer, codes.PermissionDenied, errs.ReasonForbidden},
				{ctx, codes.Unauthenticated, errs.ReasonUnauth},    // no token: the handler's RequireAdmin
				{forged, codes.Unauthenticated, errs.ReasonUnauth}, // refused by the interceptor
			} {
				code, reason := call(tc.ctx)
				if code != tc.code || reason != tc.reason {
					t.Errorf("got %v %s, want %v %s", code, reason, tc.code, tc.reason)
				}
			}
		})
	}

	// An explicitly set authorization is not replaced by the forwarded one.
	explicit := metadata.AppendToOutgoingContext(customer, "authorization", "Bearer "+sign(t, priv, claimsFor("a2", RoleAdmin)))
	if code, _ := check(explicit); code != codes.OK {
		t.Fatalf("explicit authorization overridden: %v", code)
	}
}
