package grpcx

import (
	"context"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"
	"github.com/openzipkin/zipkin-go/propagation/b3"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/stats"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/tracing"
)

// serverTracing is the Zipkin stats handler NewServer installs, and
// clientCalls (traceclient.go) the interceptors Dial installs in place of
// a client stats handler. Together they make the spans, and send and read
// the B3 headers, that zipkin-go's middleware/grpc handlers
// (tracing.GRPCServerHandler and GRPCClientHandler) make, span for span
// and header for header (TestTracingMatchesZipkinMiddleware compares
// them), without that middleware's cost per call, which was the largest
// part of kitshop's overhead over bare grpc-go in BenchmarkGetUser:
//   - the server's remote endpoint is worked out once per connection, not
//     per call (zipkin-go parses the peer address and looks the host up
//     on every RPC);
//   - B3 headers are read from the copy of the incoming metadata grpc-go
//     makes for stats handlers anyway (see pendingSpan) instead of from
//     another copy, and appended to the outgoing metadata instead of into
//     two successive copies of it;
//   - span names are computed once per method;
//   - of the six or so events per RPC, only the header and the end are
//     looked at.
//
// They belong with kit/tracing; they live here because kit/grpcx is what
// wires them.
type serverTracing struct {
	tracer *zipkin.Tracer
	names  *spanNames
}

func newServerTracing(t *zipkin.Tracer) stats.Handler {
	return serverTracing{tracer: t, names: &spanNames{}}
}

type connEndpointKey struct{}

// connEndpoint is the peer of one server connection as a Zipkin remote
// endpoint option (the endpoint nil when the address says nothing zipkin
// can use).
type connEndpoint struct{ remote zipkin.SpanOption }

// Span options that never change, made once: each zipkin.Kind or
// zipkin.RemoteEndpoint call allocates a closure.
var (
	kindServer = zipkin.Kind(model.Server)
	kindClient = zipkin.Kind(model.Client)
	noRemote   = zipkin.RemoteEndpoint(nil)
)

func (h serverTracing) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	return context.WithValue(ctx, connEndpointKey{}, connEndpoint{remote: zipkin.RemoteEndpoint(endpointOf(info.RemoteAddr))})
}

func (serverTracing) HandleConn(context.Context, stats.ConnStats) {}

// TagRPC puts a pendingSpan in ctx; the InHeader event grpc-go delivers
// next starts it.
func (h serverTracing) TagRPC(ctx context.Context, _ *stats.RPCTagInfo) context.Context {
	return zipkin.NewContext(ctx, &pendingSpan{})
}

func (h serverTracing) HandleRPC(ctx context.Context, s stats.RPCStats) {
	switch s := s.(type) {
	case *stats.InHeader:
		h.start(ctx, s)
	case *stats.End:
		finishSpan(ctx, s)
	}
}

// pendingSpan is the server span of one RPC. grpc-go copies the incoming
// metadata for the stats handlers, calls TagRPC, then at once, on the
// same goroutine and before any interceptor or handler can see the
// context, hands the copy over with the InHeader event. Starting the span
// there reads the B3 headers from that copy instead of copying them out
// of the context one by one (4 allocations per call); the span starts
// the same few instructions later. It forwards every Span method to the
// span InHeader started.
type pendingSpan struct{ zipkin.Span }

// Unwrap is the started span, for tracing.Records and endSpan.
func (p *pendingSpan) Unwrap() zipkin.Span { return p.Span }

func (h serverTracing) start(ctx context.Context, in *stats.InHeader) {
	p, ok := zipkin.SpanFromContext(ctx).(*pendingSpan)
	if !ok || p.Span != nil {
		return
	}
	md := in.Header
	parent := h.tracer.Extract(func() (*model.SpanContext, error) {
		return b3.ParseHeaders(lastValue(md, b3.TraceID), lastValue(md, b3.SpanID),
			lastValue(md, b3.ParentSpanID), lastValue(md, b3.Sampled), lastValue(md, b3.Flags))
	})
	if span, ok := tracing.UnsampledChild(parent); ok {
		p.Span = span
		return
	}
	conn, ok := ctx.Value(connEndpointKey{}).(connEndpoint)
	if !ok {
		conn = connEndpoint{remote: zipkin.RemoteEndpoint(endpointOf(in.RemoteAddr))}
	}
	p.Span = h.tracer.StartSpan(h.names.of(in.FullMethod), kindServer, zipkin.Parent(parent), conn.remote)
}

// b3Pairs writes the headers b3.InjectGRPC sets for sc as key, value
// pairs into kv (which has room for 8 strings), in the same order, and
// returns how many strings it wrote.
func b3Pairs(sc model.SpanContext, kv []string) int {
	n := 0
	add := func(k, v string) { kv[n], kv[n+1] = k, v; n += 2 }
	if (model.SpanContext{}) == sc {
		return 0
	}
	if sc.Debug {
		add(b3.Flags, "1")
	} else if sc.Sampled != nil {
		if *sc.Sampled {
			add(b3.Sampled, "1")
		} else {
			add(b3.Sampled, "0")
		}
	}
	if !sc.TraceID.Empty() && sc.ID > 0 {
		// The ids are spelled into one buffer and sliced from one
		// string: one allocation instead of three.
		var b [64]byte
		buf := appendTraceIDHex(b[:0], sc.TraceID)
		traceEnd := len(buf)
		buf = appendHex16(buf, uint64(sc.ID))
		spanEnd := len(buf)
		if sc.ParentID != nil {
			buf = appendHex16(buf, uint64(*sc.ParentID))
		}
		ids := string(buf)
		add(b3.TraceID, ids[:traceEnd])
		add(b3.SpanID, ids[traceEnd:spanEnd])
		if sc.ParentID != nil {
			add(b3.ParentSpanID, ids[spanEnd:])
		}
	}
	return n
}

// idHex and traceIDHex spell ids as model.ID.String and
// model.TraceID.String do ("%016x", the high half only when set), without
// going through fmt.
func idHex(id model.ID) string {
	var b [16]byte
	return string(appendHex16(b[:0], uint64(id)))
}

func traceIDHex(t model.TraceID) string {
	var b [32]byte
	return string(appendTraceIDHex(b[:0], t))
}

func appendTraceIDHex(b []byte, t model.TraceID) []byte {
	if t.High != 0 {
		b = appendHex16(b, t.High)
	}
	return appendHex16(b, t.Low)
}

func appendHex16(b []byte, v uint64) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[v>>uint(shift)&0xf])
	}
	return b
}

// injectWithBaggage is zipkin-go's own injection, for the rare span that
// carries baggage fields (which replace, rather than add to, metadata).
func injectWithBaggage(ctx context.Context, sc model.SpanContext) context.Context {
	md, ok := metadata.FromOutgoingContext(ctx)
	if !ok {
		md = metadata.New(nil)
	}
	_ = b3.InjectGRPC(&md)(sc)
	sc.Baggage.Iterate(func(key string, values []string) { md.Set(key, values...) })
	return metadata.NewOutgoingContext(ctx, md)
}

// finishSpan ends the server span of the RPC s ends.
func finishSpan(ctx context.Context, end *stats.End) {
	if p, ok := zipkin.SpanFromContext(ctx).(*pendingSpan); ok && p.Span != nil {
		endSpan(p.Span, end.Error)
	}
}

// endSpan ends an RPC's span with zipkin-go's tags: a failed call is
// tagged with its upper-case status code (or the error's text, for an
// error that is no status) and marked as an error.
func endSpan(span zipkin.Span, err error) {
	if !tracing.Records(span) {
		return
	}
	if st, ok := status.FromError(err); !ok {
		zipkin.TagError.Set(span, err.Error())
	} else if st.Code() != codes.OK {
		c := strings.ToUpper(st.Code().String())
		span.Tag("grpc.status_code", c)
		zipkin.TagError.Set(span, c)
	}
	span.Finish()
}

// lastValue is the last value of key in md (keys in lower case, as
// grpc-go's copy has them), as b3.GetGRPCHeader reads it, or "".
func lastValue(md metadata.MD, key string) string {
	v := md[key]
	if len(v) == 0 {
		return ""
	}
	return v[len(v)-1]
}

func peerEndpoint(ctx context.Context) *model.Endpoint {
	p, ok := peer.FromContext(ctx)
	if !ok {
		return nil
	}
	return endpointOf(p.Addr)
}

// endpointOf is zipkin-go's remote endpoint for a peer address: nil when
// there is none or zipkin cannot parse it.
func endpointOf(addr net.Addr) *model.Endpoint {
	if addr == nil {
		return nil
	}
	ep, _ := zipkin.NewEndpoint("", addr.String())
	return ep
}

// spanNames caches zipkin-go's span name of a full method name
// ("/pkg.Service/Method" -> "pkg.Service.Method"). The cache is copied on
// write and read without a lock or an interface conversion. It stops
// growing at maxSpanNames: a server sees whatever method names clients
// invent.
type spanNames struct {
	cache atomic.Pointer[map[string]string]
	mu    sync.Mutex
}

const maxSpanNames = 512

func (n *spanNames) of(fullMethod string) string {
	if m := n.cache.Load(); m != nil {
		if name, ok := (*m)[fullMethod]; ok {
			return name
		}
	}
	name := strings.ReplaceAll(strings.TrimPrefix(fullMethod, "/"), "/", ".")
	n.mu.Lock()
	defer n.mu.Unlock()
	old := n.cache.Load()
	if old != nil && len(*old) >= maxSpanNames {
		return name
	}
	next := map[string]string{fullMethod: name}
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	n.cache.Store(&next)
	return name
}

// size is how many span names n keeps.
func (n *spanNames) size() int {
	if m := n.cache.Load(); m != nil {
		return len(*m)
	}
	return 0
}
