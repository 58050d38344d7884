package resttest

import (
	"context"
	"net"
	"net/http"
	"slices"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
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
