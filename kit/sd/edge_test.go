package sd_test

import (
	"context"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/sd"
)

// At the edge a keyed write is sent once: the client, not the gateway,
// decides to repeat it. Reads are still retried on Unavailable.
func TestEdgeBackendSendsWritesOnceAndRetriesReadsOnlyWhenUnavailable(t *testing.T) {
	t.Parallel()
	f := startBackendFake(t)
	backend := newBackend(t, sd.BackendConfig{Addr: f.addr, Edge: true})
	keyed := sd.Unary(backend, "Check", sd.Keyed, healthpb.HealthClient.Check)
	read := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)
	waitServing(t, context.Background(), read)
	f.failWith(status.Error(codes.Unavailable, "shedding"))

	before := f.calls.Load()
	if err := check(context.Background(), keyed); errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("keyed write: %v, want Unavailable", err)
	}
	if n := f.calls.Load() - before; n != 1 {
		t.Fatalf("a keyed write reached the server %d times at the edge, want 1", n)
	}

	before = f.calls.Load()
	_ = check(context.Background(), read)
	if n := f.calls.Load() - before; n != int64(sd.Read.Attempts) {
		t.Fatalf("an unavailable read was tried %d times, want %d", n, sd.Read.Attempts)
	}
}

// The backend's response header reaches the edge caller's server
// transport stream (a kit/rest route's), and only at the edge.
func TestEdgeBackendForwardsResponseHeaders(t *testing.T) {
	t.Parallel()
	f := startBackendFake(t)
	f.header = metadata.Pairs("idempotent-replayed", "true")
	for _, edge := range []bool{true, false} {
		backend := newBackend(t, sd.BackendConfig{Addr: f.addr, Edge: edge})
		read := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)
		stream := &recordingStream{}
		ctx := grpc.NewContextWithServerTransportStream(context.Background(), stream)
		waitServing(t, ctx, read)
		got := stream.md.Get("idempotent-replayed")
		if edge && (len(got) != 1 || got[0] != "true") {
			t.Fatalf("edge: forwarded header %v, want [true]", got)
		}
		if !edge && len(got) != 0 {
			t.Fatalf("inside the platform a backend's header leaked into the caller's stream: %v", got)
		}
	}
}

type recordingStream struct{ md metadata.MD }

func (s *recordingStream) Method() string                  { return "" }
func (s *recordingStream) SetHeader(md metadata.MD) error  { s.md = metadata.Join(s.md, md); return nil }
func (s *recordingStream) SendHeader(md metadata.MD) error { return s.SetHeader(md) }
func (s *recordingStream) SetTrailer(metadata.MD) error    { return nil }

// A client of the edge learns that the service is unavailable and when to
// come back, not which breaker inside the platform refused it.
func TestEdgeBackendAnswersAnOpenBreakerAsServiceUnavailable(t *testing.T) {
	t.Parallel()
	f := startBackendFake(t)
	backend := newBackend(t, sd.BackendConfig{Addr: f.addr, Edge: true,
		Breaker: mw.BreakerSettings{ConsecutiveFailures: 1, OpenTimeout: 20 * time.Second}})
	read := sd.Unary(backend, "Check", sd.Read, healthpb.HealthClient.Check)
	waitServing(t, context.Background(), read)
	f.failWith(status.Error(codes.Unavailable, "down"))
	_ = check(context.Background(), read)
	err := check(context.Background(), read)
	e := errs.As(err)
	if e.Kind != errs.Unavailable || e.Reason != sd.ReasonServiceUnavailable {
		t.Fatalf("got %v, want Unavailable/SERVICE_UNAVAILABLE", err)
	}
	if after := e.MetaString(httpx.MetaRetryAfter); after != "20" && after != "19" {
		t.Fatalf("Retry-After %q, want the breaker's remaining open time", after)
	}
}

// waitServing waits until a call succeeds: go-kit's endpointer learns of
// even a fixed instance asynchronously, so the very first call may find
// no endpoint yet.
func waitServing(t *testing.T, ctx context.Context, call func(context.Context, *healthpb.HealthCheckRequest) (*healthpb.HealthCheckResponse, error)) {
	t.Helper()
	kittest.WaitFor(t, 5*time.Second, "the backend's instance to answer", func() bool { return check(ctx, call) == nil })
}
