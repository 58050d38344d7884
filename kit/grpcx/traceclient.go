package grpcx

import (
	"context"
	"io"
	"sync/atomic"

	"github.com/openzipkin/zipkin-go"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/tracing"
)

// clientCalls is the innermost pair of interceptors Dial installs. Every
// call carries the request id from ctx as x-request-id (unless the caller
// put one in the outgoing metadata itself), so the id a client sent the
// gateway shows up in every service's logs. With a tracer, every call
// also gets a Zipkin client span whose B3 headers go out with it: the
// span and headers zipkin-go's client stats handler makes (see
// serverTracing), without a stats handler, for which grpc-go copies the
// outgoing metadata and allocates an event six times per call. Being the
// innermost interceptor, it sees the call as a stats handler does: after
// every other interceptor, with their errors not yet converted.
//
// The span covers the call: it ends when a unary call returns, and when
// a stream ends as grpc-go ends it (its last message received or an
// error, a failed send, or the end of its context). Unlike the stats
// handler, which grpc-go calls per attempt, it makes one span when
// grpc-go transparently retries a call that never reached the server.
type clientCalls struct {
	tracer *zipkin.Tracer // nil: the request id only
	names  *spanNames
}

func newClientCalls(t *zipkin.Tracer) *clientCalls {
	return &clientCalls{tracer: t, names: &spanNames{}}
}

func (c *clientCalls) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	// Nothing below the innermost interceptor reads the span from ctx.
	ctx, span := c.begin(ctx, method, false)
	err := invoker(ctx, method, req, reply, cc, opts...)
	if span != nil {
		endSpan(span, err)
	}
	return err
}

func (c *clientCalls) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	// The stream's Context() carries the span, as zipkin-go's does.
	ctx, span := c.begin(ctx, method, true)
	cs, err := streamer(ctx, desc, cc, method, opts...)
	switch {
	case span == nil:
		return cs, err
	case err != nil:
		endSpan(span, err)
		return nil, err
	}
	return newTracedStream(ctx, cs, desc, span), nil
}

// begin starts the call's span, if tracing, and adds the request id and
// the span's B3 headers to the outgoing metadata in one append. The span
// goes into the returned ctx only when withSpan is set.
func (c *clientCalls) begin(ctx context.Context, method string, withSpan bool) (context.Context, zipkin.Span) {
	var kv [10]string
	n := 0
	if id := logx.RequestID(ctx); id != "" && len(metadata.ValueFromOutgoingContext(ctx, RequestIDMetadata)) == 0 {
		kv[0], kv[1] = RequestIDMetadata, id
		n = 2
	}
	var span zipkin.Span
	if c.tracer != nil {
		// zipkin-go names the peer in ctx as the remote end: none on a
		// plain client call, the server's caller on a call made while
		// serving one.
		// What StartSpanFromContext does, with the options in an array
		// on the stack rather than a slice it grows on the heap.
		parent := zipkin.SpanFromContext(ctx)
		if parent != nil {
			// An unsampled trace records nothing: its span only needs
			// ids, without the tracer, the peer or the span name.
			span, _ = tracing.UnsampledChild(parent.Context())
		}
		if span == nil {
			opts := [3]zipkin.SpanOption{kindClient, noRemote}
			if ep := peerEndpoint(ctx); ep != nil {
				opts[1] = zipkin.RemoteEndpoint(ep)
			}
			nopts := 2
			if parent != nil {
				opts[2], nopts = zipkin.Parent(parent.Context()), 3
			}
			span = c.tracer.StartSpan(c.names.of(method), opts[:nopts]...)
		}
		if withSpan {
			ctx = zipkin.NewContext(ctx, span)
		}
		sc := span.Context()
		if sc.Baggage != nil {
			if n > 0 {
				ctx = metadata.AppendToOutgoingContext(ctx, kv[:n]...)
			}
			return injectWithBaggage(ctx, sc), span
		}
		// InjectGRPC appends each value after any the caller set, which
		// is what AppendToOutgoingContext does, without copying.
		n += b3Pairs(sc, kv[n:])
	}
	if n > 0 {
		ctx = metadata.AppendToOutgoingContext(ctx, kv[:n]...)
	}
	return ctx, span
}

// tracedStream ends its span when grpc-go ends the stream.
type tracedStream struct {
	grpc.ClientStream
	desc  *grpc.StreamDesc
	span  zipkin.Span
	ended atomic.Bool
	stop  func() bool // stops the context watch
}

func newTracedStream(ctx context.Context, cs grpc.ClientStream, desc *grpc.StreamDesc, span zipkin.Span) *tracedStream {
	s := &tracedStream{ClientStream: cs, desc: desc, span: span}
	s.stop = context.AfterFunc(ctx, func() { s.end(status.FromContextError(ctx.Err()).Err()) })
	return s
}

func (s *tracedStream) end(err error) {
	if !s.ended.CompareAndSwap(false, true) {
		return
	}
	s.stop()
	if err == io.EOF {
		err = nil
	}
	endSpan(s.span, err)
}

// RecvMsg: an error, or the one answer of a call that is not
// server-streaming, ends the stream.
func (s *tracedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil || !s.desc.ServerStreams {
		s.end(err)
	}
	return err
}

// SendMsg: an error of the send itself ends the stream; io.EOF means the
// stream ended and RecvMsg will tell how.
func (s *tracedStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err != nil && err != io.EOF {
		s.end(err)
	}
	return err
}
