package grpcx

import (
	"context"

	"github.com/openzipkin/zipkin-go"
	"google.golang.org/grpc/stats"

	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/netx"
)

// serverStats is the one stats handler NewServer installs: the Zipkin
// server span (serverTracing, when there is a tracer), the report of
// early failures (earlyFailures) and, with a limited listener, the count
// of each connection's calls in flight. One handler rather than several
// spares grpc-go's fan-out of every event to each, and one allocation
// holds every per-call state.
type serverStats struct {
	tracing *serverTracing // nil: no tracer
	early   earlyFailures
	// conns is the limited listener the server serves, nil if none.
	// gRPC calls do not tell their net.Conn apart, so without the count a
	// connection whose only call is slow does no I/O and looked idle:
	// at the limit it was evicted after netx's QuietAfter, call and all.
	conns *netx.LimitListener
}

// connCallsKey holds the connection's *netx.ConnCalls in the context
// TagConn returns, which every call's context descends from.
type connCallsKey struct{}

func newServerStats(t *zipkin.Tracer, early earlyFailures, conns *netx.LimitListener) stats.Handler {
	h := &serverStats{early: early, conns: conns}
	if t != nil {
		h.tracing = &serverTracing{tracer: t, names: &spanNames{}}
	}
	return h
}

// callStats is one call's state: the span and the record.
type callStats struct {
	span   pendingSpan
	record rpcRecord
}

// TagConn looks the connection up in the limited listener once, so that
// each call finds its counter in its context.
func (h *serverStats) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	if h.conns != nil {
		if calls := h.conns.Calls(info.LocalAddr, info.RemoteAddr); calls != nil {
			ctx = context.WithValue(ctx, connCallsKey{}, calls)
		}
	}
	if h.tracing != nil {
		return h.tracing.TagConn(ctx, info)
	}
	return ctx
}

func (*serverStats) HandleConn(context.Context, stats.ConnStats) {}

// TagRPC does what serverTracing's and earlyFailures' TagRPC do, in that
// order.
func (h *serverStats) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	st := &callStats{}
	newRPCRecord(&st.record, info.FullMethodName)
	if h.conns != nil {
		st.record.conn, _ = ctx.Value(connCallsKey{}).(*netx.ConnCalls)
	}
	if h.tracing != nil {
		ctx = zipkin.NewContext(ctx, &st.span)
	}
	return mw.WithChainObserver(ctx, &st.record)
}

// HandleRPC counts the call on its connection from Begin to End (grpc-go
// sends both or neither), and passes the events on as the two handlers
// took them: tracing first.
func (h *serverStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	switch s := s.(type) {
	case *stats.InHeader:
		if r := recordOf(ctx); r != nil {
			r.header, r.log.ID = true, incomingRequestID(s.Header[RequestIDMetadata])
		}
	case *stats.Begin:
		if h.conns != nil {
			if r := recordOf(ctx); r != nil {
				r.conn.Begin()
			}
		}
	case *stats.End:
		if h.conns != nil {
			if r := recordOf(ctx); r != nil {
				r.conn.End()
			}
		}
	}
	if h.tracing != nil {
		h.tracing.HandleRPC(ctx, s)
	}
	h.early.HandleRPC(ctx, s)
}
