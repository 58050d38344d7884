package mw_test

import (
	"context"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/mw"
)

func TestRateLimitRejectsWithoutWaiting(t *testing.T) {
	calls := 0
	e := mw.RateLimit(rate.NewLimiter(rate.Every(time.Hour), 2))(func(context.Context, any) (any, error) {
		calls++
		return "ok", nil
	})
	for i := 0; i < 2; i++ {
		if _, err := e(context.Background(), nil); err != nil {
			t.Fatalf("call %d within burst: %v", i, err)
		}
	}
	start := time.Now()
	_, err := e(context.Background(), nil)
	if time.Since(start) > 100*time.Millisecond {
		t.Error("over-limit call waited instead of failing fast")
	}
	if e := errs.As(err); e == nil || e.Kind != errs.ResourceExhausted || e.Reason != "RATE_LIMITED" {
		t.Fatalf("over-limit error = %v, want ResourceExhausted RATE_LIMITED", err)
	}
	if calls != 2 {
		t.Errorf("endpoint called %d times, want 2", calls)
	}
}
