package grpcx

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"google.golang.org/grpc/stats"

	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/netx"
)

// earlyFailures is a stats handler reporting (logging and counting) the
// calls that fail before any interceptor runs. grpc-go reads a unary
// request before calling the interceptors, and answers a request it cannot read (a message over
// the size limit, a corrupt compressed payload; one that does not
// unmarshal reaches the interceptors through serverCodec) itself, so
// neither the outcome step nor an endpoint chain ever sees it. Calls
// that reach the interceptors are marked in their record and reported
// there instead, so every failure is reported once.
type earlyFailures struct {
	logger log.Logger
	red    *metrics.RED
}

// rpcRecord is one call's, shared by the stats handler, the interceptors
// and, as its mw.ChainObserver, the endpoint chain. All of them run on
// the call's goroutine, so the flags need no synchronisation.
type rpcRecord struct {
	method      string
	begin       time.Time
	intercepted bool // an interceptor took the call; it reports the outcome
	entered     bool // the endpoint chain took the call
	failed      bool // and has counted its failure
	// log is the call's logx.Record, claimed from the start: one of the
	// server's steps writes the call's line (see logCall). header is set
	// once the InHeader event came (serverStats) and gave log its ID
	// from grpc-go's copy of the metadata rather than another copy.
	log    logx.Record
	header bool
	// conn counts the calls in flight on the call's connection (see
	// serverStats), nil when nothing counts them.
	conn *netx.ConnCalls
}

func (r *rpcRecord) ChainEntered() { r.entered = true }
func (r *rpcRecord) ChainFailed()  { r.failed = true }

// recordOf is ctx's call record, or nil.
func recordOf(ctx context.Context) *rpcRecord {
	r, _ := mw.ChainObserverFrom(ctx).(*rpcRecord)
	return r
}

// markIntercepted notes that an interceptor reports ctx's call.
func markIntercepted(ctx context.Context) {
	if r := recordOf(ctx); r != nil {
		r.intercepted = true
	}
}

// newRPCRecord is the record TagRPC puts in a call's context.
func newRPCRecord(r *rpcRecord, fullMethod string) {
	r.method, r.begin = fullMethod, time.Now()
	r.log.Claim()
}

func (h earlyFailures) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	r := &rpcRecord{}
	newRPCRecord(r, info.FullMethodName)
	return mw.WithChainObserver(ctx, r)
}

func (h earlyFailures) HandleRPC(ctx context.Context, s stats.RPCStats) {
	end, ok := s.(*stats.End)
	if !ok || end.Error == nil {
		return
	}
	r := recordOf(ctx)
	if r == nil || r.intercepted {
		return
	}
	took := time.Since(r.begin)
	r.log.Finish()
	logCall(logx.WithRecord(ctx, &r.log), h.logger, TransportGRPC, r.method, took, end.Error, "")
	if h.red != nil {
		h.red.Observe(metrics.TransportGRPC, methodName(r.method), metrics.Code(end.Error), took)
	}
}

func (earlyFailures) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (earlyFailures) HandleConn(context.Context, stats.ConnStats)                       {}
