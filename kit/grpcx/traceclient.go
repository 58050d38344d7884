package grpcx

import (
	"context"
	"io"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
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
	// remotes holds each connection's remote-endpoint span option (the
	// callee: its service and address), made once per connection.
	remotes sync.Map // *grpc.ClientConn -> zipkin.SpanOption
}

func newClientCalls(t *zipkin.Tracer) *clientCalls {
	return &clientCalls{tracer: t, names: &spanNames{}}
}

func (c *clientCalls) unary(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	// Nothing below the innermost interceptor reads the span from ctx.
	ctx, span := c.begin(ctx, cc, method, false)
	err := invoker(ctx, method, req, reply, cc, opts...)
	if span != nil {
		endSpan(span, err)
	}
	return err
}

func (c *clientCalls) stream(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	// The stream's Context() carries the span, as zipkin-go's does.
	ctx, span := c.begin(ctx, cc, method, true)
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
func (c *clientCalls) begin(ctx context.Context, cc *grpc.ClientConn, method string, withSpan bool) (context.Context, zipkin.Span) {
	var kv [10]string
	n := 0
	if id := logx.RequestID(ctx); id != "" && len(metadata.ValueFromOutgoingContext(ctx, RequestIDMetadata)) == 0 {
		kv[0], kv[1] = RequestIDMetadata, id
		n = 2
	}
	var span zipkin.Span
	if c.tracer != nil {
		// What StartSpanFromContext does, with the options in an array
		// on the stack rather than a slice it grows on the heap.
		parent := zipkin.SpanFromContext(ctx)
		if parent != nil {
			// An unsampled trace records nothing: its span only needs
			// ids, without the tracer, the peer or the span name.
			span, _ = tracing.UnsampledChild(parent.Context())
		}
		if span == nil {
			opts := [3]zipkin.SpanOption{kindClient, c.remote(cc, method)}
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

// remote is the remote endpoint of calls on cc: the callee, named by the
// service of the method's package ("/kitshop.products.v1.ProductsService/X"
// is products) at the connection's target address. zipkin-go's handler
// names the peer in ctx instead, which is the caller of the server span
// the call is made under (orders' call to products would name the
// gateway), or nobody. A connection dials one service's instance, so the
// option is made once per connection.
func (c *clientCalls) remote(cc *grpc.ClientConn, method string) zipkin.SpanOption {
	if cc == nil {
		return noRemote
	}
	if o, ok := c.remotes.Load(cc); ok {
		if opt, ok := o.(zipkin.SpanOption); ok {
			return opt
		}
	}
	ep, err := zipkin.NewEndpoint(serviceOfMethod(method), cc.Target())
	if err != nil {
		// A target that is no host:port (a resolver URL) still names
		// the service.
		ep = &model.Endpoint{ServiceName: serviceOfMethod(method)}
	}
	opt := zipkin.RemoteEndpoint(ep)
	c.remotes.Store(cc, opt)
	return opt
}

// serviceOfMethod is the kitshop service a full method belongs to, from
// its proto package (kitshop.<service>.v1), or "" for another package.
func serviceOfMethod(method string) string {
	pkg, _, _ := strings.Cut(strings.TrimPrefix(method, "/"), "/")
	rest, ok := strings.CutPrefix(pkg, "kitshop.")
	if !ok {
		return ""
	}
	svc, _, _ := strings.Cut(rest, ".")
	return svc
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
