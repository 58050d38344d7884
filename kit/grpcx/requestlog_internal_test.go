package grpcx

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/stats"

	"github.com/kitshop/kitshop/kit/logx"
)

// TestSuccessAtInfoAllocatesNothingForLogging: the outcome step, which
// writes every call's line, adds no allocation to a successful call when
// the logger drops debug entries. At debug it does (the line is built),
// which shows that the measure can fail.
func TestSuccessAtInfoAllocatesNothingForLogging(t *testing.T) {
	info := &grpc.UnaryServerInfo{FullMethod: "/kitshop.test.v1.Widgets/Get"}
	handler := func(_ context.Context, req any) (any, error) { return req, nil }
	ctx := newServerStats(nil, earlyFailures{}, nil).TagRPC(context.Background(), &stats.RPCTagInfo{FullMethodName: info.FullMethod})

	allocs := func(c *unaryChain, logged bool) float64 {
		f := func() {
			if logged {
				_, _ = c.outcome(ctx, "req", info, handler)
			} else {
				_, _ = c.deadline(ctx, "req", info, handler) // outcome's work without it
			}
		}
		// The fewest of a few measures: under -race, sync.Pool drops
		// items at random, adding an allocation now and then.
		fewest := testing.AllocsPerRun(100, f)
		for range 4 {
			fewest = min(fewest, testing.AllocsPerRun(100, f))
		}
		return fewest
	}
	newChain := func(logger interface{ Log(...any) error }) *unaryChain {
		return &unaryChain{logger: logger, debug: logx.DebugEnabled(logger), defaultTimeout: DefaultTimeout, maxTimeout: MaxTimeout}
	}
	atInfo, err := logx.NewWithLevel(io.Discard, "widgets", "info")
	if err != nil {
		t.Fatal(err)
	}
	base := allocs(newChain(atInfo), false)
	if got := allocs(newChain(atInfo), true); got != base {
		t.Errorf("a success at info costs %v allocations with the outcome step, %v without", got, base)
	}
	if got := allocs(newChain(logx.New(io.Discard, "widgets")), true); got <= base {
		t.Errorf("a success at debug costs %v allocations, no more than without logging (%v): the test measures nothing", got, base)
	}
}
