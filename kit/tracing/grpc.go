package tracing

import (
	"github.com/openzipkin/zipkin-go"
	zipkingrpc "github.com/openzipkin/zipkin-go/middleware/grpc"
	"google.golang.org/grpc/stats"
)

// GRPCServerHandler is a grpc.StatsHandler that gives every RPC, unary or
// streaming, a server span continuing the B3 trace found in the incoming
// metadata. The span covers the whole RPC (for a stream, until it ends) and
// is tagged with the status code on failure.
func GRPCServerHandler(tracer *zipkin.Tracer) stats.Handler {
	return zipkingrpc.NewServerHandler(tracer)
}

// GRPCClientHandler is a grpc.StatsHandler that gives every outgoing RPC a
// client span, child of the span in the call's context, and injects B3
// metadata so the server continues the trace.
func GRPCClientHandler(tracer *zipkin.Tracer) stats.Handler {
	return zipkingrpc.NewClientHandler(tracer)
}
