package grpcx

import (
	"context"
	"time"

	"github.com/openzipkin/zipkin-go"
	"google.golang.org/grpc/stats"

	"github.com/kitshop/kitshop/kit/mw"
)

// serverStats is the one stats handler NewServer installs: the Zipkin
// server span (serverTracing, when there is a tracer) and the report of
// early failures (earlyFailures). One handler rather than two spares
// grpc-go's fan-out of every event to each, and one allocation holds
// both per-call states.
type serverStats struct {
	tracing *serverTracing // nil: no tracer
	early   earlyFailures
}

func newServerStats(t *zipkin.Tracer, early earlyFailures) stats.Handler {
	h := &serverStats{early: early}
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

func (h *serverStats) TagConn(ctx context.Context, info *stats.ConnTagInfo) context.Context {
	if h.tracing != nil {
		return h.tracing.TagConn(ctx, info)
	}
	return ctx
}

func (*serverStats) HandleConn(context.Context, stats.ConnStats) {}

// TagRPC does what serverTracing's and earlyFailures' TagRPC do, in that
// order.
func (h *serverStats) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	st := &callStats{record: rpcRecord{method: info.FullMethodName, begin: time.Now()}}
	if h.tracing != nil {
		ctx = zipkin.NewContext(ctx, &st.span)
	}
	return mw.WithChainObserver(ctx, &st.record)
}

// HandleRPC passes the events on as the two handlers took them: tracing
// first.
func (h *serverStats) HandleRPC(ctx context.Context, s stats.RPCStats) {
	if in, ok := s.(*stats.InHeader); ok {
		if r := recordOf(ctx); r != nil {
			r.header, r.requestIDs = true, in.Header[RequestIDMetadata]
		}
	}
	if h.tracing != nil {
		h.tracing.HandleRPC(ctx, s)
	}
	h.early.HandleRPC(ctx, s)
}
