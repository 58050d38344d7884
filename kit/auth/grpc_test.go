package auth

import (
	"context"
	"net"
	"strings"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
)

// publicService is the health service name whoAmI answers without
// asking for an identity, standing in for a public method (GetProduct).
const publicService = "public"

// whoAmI is a health service that answers according to the caller's
// claims: SERVING for an admin and the RequireAdmin error for anyone else,
// except for publicService, which is SERVING for everyone. Watch (a server
// stream) does the same, to exercise the stream interceptor.
type whoAmI struct {
	healthpb.UnimplementedHealthServer
}

func statusFor(ctx context.Context, service string) (healthpb.HealthCheckResponse_ServingStatus, error) {
	if service == publicService {
		return healthpb.HealthCheckResponse_SERVING, nil
	}
	if _, err := RequireAdmin(ctx); err != nil {
		return 0, errs.ToGRPC(err)
	}
	return healthpb.HealthCheckResponse_SERVING, nil
}

func (whoAmI) Check(ctx context.Context, req *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	st, err := statusFor(ctx, req.GetService())
	if err != nil {
		return nil, err
	}
	return &healthpb.HealthCheckResponse{Status: st}, nil
}

func (whoAmI) Watch(req *healthpb.HealthCheckRequest, ss grpc.ServerStreamingServer[healthpb.HealthCheckResponse]) error {
	st, err := statusFor(ss.Context(), req.GetService())
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

// grpcCall is one RPC to whoAmI for service, reporting the code, reason
// and message it ended with.
type grpcCall func(ctx context.Context, service string) (codes.Code, string, string)

// dialWhoAmI connects to a whoAmI server, forwarding whatever token the
// caller's context holds, as the gateway does for the user it
// authenticated; it returns a unary and a stream call.
func dialWhoAmI(t *testing.T, addr string) map[string]grpcCall {
	t.Helper()
	conn, err := grpc.NewClient(addr,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithUnaryInterceptor(UnaryClientInterceptor()),
		grpc.WithStreamInterceptor(StreamClientInterceptor()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	client := healthpb.NewHealthClient(conn)
	result := func(err error) (codes.Code, string, string) {
		return status.Code(err), errs.ReasonOf(errs.FromGRPC(err)), status.Convert(err).Message()
	}
	return map[string]grpcCall{
		"unary": func(ctx context.Context, service string) (codes.Code, string, string) {
			_, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: service})
			return result(err)
		},
		"stream": func(ctx context.Context, service string) (codes.Code, string, string) {
			stream, err := client.Watch(ctx, &healthpb.HealthCheckRequest{Service: service})
			if err == nil {
				_, err = stream.Recv()
			}
			return result(err)
		},
	}
}

func TestGRPCInterceptors(t *testing.T) {
	pub, priv := newKey(t)
	_, wrong := newKey(t)
	calls := dialWhoAmI(t, startGRPC(t, NewVerifier(StaticKeys(pub))))

	ctx := t.Context()
	admin := WithToken(ctx, sign(t, priv, claimsFor(admin1, RoleAdmin)))
	customer := WithToken(ctx, sign(t, priv, claimsFor(user1, RoleCustomer)))
	forged := WithToken(ctx, sign(t, wrong, claimsFor(admin1, RoleAdmin)))
	expired := WithToken(ctx, sign(t, priv, expiredClaimsFor(admin1, RoleAdmin)))

	for name, call := range calls {
		t.Run(name, func(t *testing.T) {
			for _, tc := range []struct {
				name    string
				ctx     context.Context
				service string
				code    codes.Code
				reason  string
				message string
			}{
				{"admin", admin, "", codes.OK, "", ""},
				{"customer", customer, "", codes.PermissionDenied, errs.ReasonForbidden, "admin role required"},
				{"anonymous", ctx, "", codes.Unauthenticated, errs.ReasonUnauth, "authentication required"},
				// A refused token fails only calls that need an identity.
				{"forged", forged, "", codes.Unauthenticated, errs.ReasonUnauth, "invalid token"},
				{"expired", expired, "", codes.Unauthenticated, errs.ReasonUnauth, "token expired"},
				{"forged on public", forged, publicService, codes.OK, "", ""},
				{"expired on public", expired, publicService, codes.OK, "", ""},
				{"anonymous on public", ctx, publicService, codes.OK, "", ""},
			} {
				code, reason, msg := call(tc.ctx, tc.service)
				if code != tc.code || reason != tc.reason || msg != tc.message {
					t.Errorf("%s: got %v %s %q, want %v %s %q", tc.name, code, reason, msg, tc.code, tc.reason, tc.message)
				}
			}
		})
	}

	// An explicitly set authorization is not replaced by the forwarded one.
	explicit := metadata.AppendToOutgoingContext(customer, "authorization", "Bearer "+sign(t, priv, claimsFor(admin2, RoleAdmin)))
	if code, _, _ := calls["unary"](explicit, ""); code != codes.OK {
		t.Fatalf("explicit authorization overridden: %v", code)
	}
}

// TestGRPCInterceptorsKeysUnavailable: with the signing keys out of reach,
// public methods still answer and protected ones are UNAVAILABLE.
func TestGRPCInterceptorsKeysUnavailable(t *testing.T) {
	_, priv := newKey(t)
	calls := dialWhoAmI(t, startGRPC(t, NewVerifier(keysDown())))
	ctx := WithToken(t.Context(), sign(t, priv, claimsFor(admin1, RoleAdmin)))
	for name, call := range calls {
		if code, _, _ := call(ctx, publicService); code != codes.OK {
			t.Errorf("%s public method with keys down: %v", name, code)
		}
		if code, reason, msg := call(ctx, ""); code != codes.Unavailable || reason != errs.ReasonUnavailable || strings.Contains(msg, "10.0.0.7") {
			t.Errorf("%s protected method with keys down: %v %s %q", name, code, reason, msg)
		}
	}
}

// TestGRPCInterceptorsRefuseMalformedClaims is
// TestMiddlewareRefusesMalformedClaims over gRPC, unary and streaming.
func TestGRPCInterceptorsRefuseMalformedClaims(t *testing.T) {
	pub, priv := newKey(t)
	calls := dialWhoAmI(t, startGRPC(t, NewVerifier(StaticKeys(pub))))
	for name, tok := range refusedTokens(t, pub, priv) {
		ctx := WithToken(t.Context(), tok)
		for kind, call := range calls {
			if code, reason, _ := call(ctx, ""); code != codes.Unauthenticated || reason != errs.ReasonUnauth {
				t.Errorf("%s (%s): got %v %s, want UNAUTHENTICATED", name, kind, code, reason)
			}
			if code, _, _ := call(ctx, publicService); code != codes.OK {
				t.Errorf("%s (%s) on a public method: %v", name, kind, code)
			}
		}
	}
}

// TestOutgoingContextKeepsExplicitAuthorization: OutgoingContext adds the
// forwarded token only when no authorization is set, however the caller
// set it (appended, or in a metadata map with a key in any case), and
// leaves other metadata alone.
func TestOutgoingContextKeepsExplicitAuthorization(t *testing.T) {
	ctx := WithToken(t.Context(), "tok")
	for name, tc := range map[string]struct {
		ctx  context.Context
		want []string
	}{
		"none":          {ctx, []string{"Bearer tok"}},
		"other only":    {metadata.AppendToOutgoingContext(ctx, "x-request-id", "r1"), []string{"Bearer tok"}},
		"appended":      {metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer mine"), []string{"Bearer mine"}},
		"map, any case": {metadata.NewOutgoingContext(ctx, metadata.MD{"Authorization": {"Bearer mine"}}), []string{"Bearer mine"}},
	} {
		got := metadata.ValueFromOutgoingContext(OutgoingContext(tc.ctx), "authorization")
		if len(got) != len(tc.want) || got[0] != tc.want[0] {
			t.Errorf("%s: authorization = %q, want %q", name, got, tc.want)
		}
	}
	if got := OutgoingContext(t.Context()); len(metadata.ValueFromOutgoingContext(got, "authorization")) != 0 {
		t.Error("no token: an authorization was added")
	}
}
