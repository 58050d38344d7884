package resttest

import (
	"context"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
)

func TestDoSendsJSONAndHeaderPairs(t *testing.T) {
	var got http.Header
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		w.WriteHeader(http.StatusTeapot)
	})
	if w := Do(t, h, "POST", "/x", `{}`, "X-K", "a", "X-K", "b"); w.Code != http.StatusTeapot {
		t.Fatalf("status %d", w.Code)
	}
	if got.Get("Content-Type") != "application/json" || !slices.Equal(got.Values("X-K"), []string{"a", "b"}) {
		t.Fatalf("headers %v", got)
	}
	Do(t, h, "GET", "/x", "")
	if ct := got.Get("Content-Type"); ct != "" {
		t.Fatalf("a request without a body was sent with Content-Type %q", ct)
	}
}

func TestServeGRPCServesUntilTheTestEnds(t *testing.T) {
	var (
		target string
		conn   *grpc.ClientConn
	)
	t.Run("serve", func(t *testing.T) {
		conn = ServeGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, health.NewServer()) })
		target = conn.Target()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
		if err != nil || resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			t.Fatalf("check: %v %v", resp, err)
		}
	})
	if st := conn.GetState(); st != connectivity.Shutdown {
		t.Errorf("connection is %v after the test, want closed", st)
	}
	if c, err := net.DialTimeout("tcp", target, time.Second); err == nil {
		_ = c.Close()
		t.Errorf("%s still accepts connections after the test", target)
	}
}

// failingHealth answers every check with a domain error, as a test's fake
// API would.
type failingHealth struct {
	healthpb.UnimplementedHealthServer
	err error
}

func (f failingHealth) Check(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error) {
	return nil, f.err
}

// A domain error crosses the hop with its kind and reason, as behind
// kitshop's server interceptors; a status error passes unchanged.
func TestServeGRPCTurnsErrorsIntoStatuses(t *testing.T) {
	f := &failingHealth{err: errs.New(errs.FailedPrecondition, "OUT_OF_MUGS", "no mugs")}
	conn := ServeGRPC(t, func(s *grpc.Server) { healthpb.RegisterHealthServer(s, f) })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if e := errs.As(errs.FromGRPC(err)); e.Kind != errs.FailedPrecondition || e.Reason != "OUT_OF_MUGS" {
		t.Fatalf("domain error came back as %v (%v %s)", err, e.Kind, e.Reason)
	}
	f.err = status.Error(codes.ResourceExhausted, "slow down")
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
	if st, _ := status.FromError(err); st.Code() != codes.ResourceExhausted || st.Message() != "slow down" {
		t.Fatalf("status error came back as %v", err)
	}
}

func TestAsCallerPutsTheClaimsInTheContext(t *testing.T) {
	var got auth.Claims
	h := AsCaller(auth.Claims{Role: auth.RoleAdmin}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, _ = auth.RequireAdmin(r.Context())
	}))
	Do(t, h, "GET", "/", "")
	if !got.IsAdmin() {
		t.Fatalf("claims %+v, want an admin's", got)
	}
}
