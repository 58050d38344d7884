package grpcx

import (
	"github.com/openzipkin/zipkin-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/mem"
)

// Unexported pieces the external tests compare or probe.
var (
	NewServerTracing = newServerTracing
	IDHex            = idHex
	TraceIDHex       = traceIDHex
)

// ClientTracing is Dial's tracing of calls, as dial options.
func ClientTracing(t *zipkin.Tracer) []grpc.DialOption {
	c := newClientCalls(t)
	return []grpc.DialOption{grpc.WithChainUnaryInterceptor(c.unary), grpc.WithChainStreamInterceptor(c.stream)}
}

// SpanNameCache reports the span name of each full method name in turn,
// as one server would, and how many names it kept.
func SpanNameCache(fullMethods []string) (names []string, kept int) {
	n := &spanNames{}
	for _, m := range fullMethods {
		names = append(names, n.of(m))
	}
	return names, n.size()
}

// MaxSpanNames is how many span names a handler keeps.
const MaxSpanNames = maxSpanNames

// CheckRequest is what the server checks on every received message.
var CheckRequest = checkRequest

// ServerUnmarshal decodes data into v as the server's codec does.
func ServerUnmarshal(data []byte, v any) error {
	return newServerCodec().Unmarshal(mem.BufferSlice{mem.SliceBuffer(data)}, v)
}
