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

// earlyFailures is a stats handler reporting the calls that fail before
// any interceptor runs. grpc-go reads a unary request before calling
// the interceptors, and answers a request it cannot read (a message over
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
	failed      bool // and has logged and counted its failure
	// header is set once the InHeader event came (serverStats), and
	// requestIDs is then the x-request-id of the incoming metadata, read
	// from grpc-go's copy of it rather than copied again.
	header     bool
	requestIDs []string
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

func (h earlyFailures) TagRPC(ctx context.Context, info *stats.RPCTagInfo) context.Context {
	return mw.WithChainObserver(ctx, &rpcRecord{method: info.FullMethodName, begin: time.Now()})
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
	method, took := methodName(r.method), time.Since(r.begin)
	mw.LogOutcome(logx.FromContext(ctx, h.logger), method, took, end.Error)
	if h.red != nil {
		h.red.Observe(metrics.TransportGRPC, method, metrics.Code(end.Error), took)
	}
}

func (earlyFailures) TagConn(ctx context.Context, _ *stats.ConnTagInfo) context.Context { return ctx }
func (earlyFailures) HandleConn(context.Context, stats.ConnStats)                       {}
