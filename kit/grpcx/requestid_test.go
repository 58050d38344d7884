package grpcx_test

import (
	"context"
	"net"
	"reflect"
	"testing"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
)

// TestDialForwardsTheRequestIDOnce: the request id in ctx goes out as
// x-request-id, unless the caller put one in the outgoing metadata
// itself, whatever its spelling; then that one goes out alone.
func TestDialForwardsTheRequestIDOnce(t *testing.T) {
	svc := &b3Echo{}
	tracer, _ := kittest.NewTracer(t, "server")
	srv := grpc.NewServer(grpc.StatsHandler(grpcx.NewServerTracing(tracer)))
	testpb.RegisterTestServiceServer(srv, svc)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()
	conn, err := grpcx.Dial(lis.Addr().String(), grpcx.ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := testpb.NewTestServiceClient(conn)

	withID := logx.WithRequestID(context.Background(), "from-ctx")
	for _, c := range []struct {
		name string
		ctx  context.Context
		want []string
	}{
		{"from the context", withID, []string{"from-ctx"}},
		{"set by the caller", metadata.AppendToOutgoingContext(withID, "X-Request-ID", "explicit"), []string{"explicit"}},
		{"set in outgoing metadata", metadata.NewOutgoingContext(withID, metadata.Pairs(grpcx.RequestIDMetadata, "md")), []string{"md"}},
		{"none", context.Background(), nil},
	} {
		if _, err := client.UnaryCall(c.ctx, &testpb.SimpleRequest{}); err != nil {
			t.Fatal(err)
		}
		if got := svc.headers()[grpcx.RequestIDMetadata]; !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: server saw x-request-id %q, want %q", c.name, got, c.want)
		}
	}
}
