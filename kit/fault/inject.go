package fault

import (
	"context"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// ReasonInjected is the reason of an injected failure. It is Unavailable
// and raised before the handler ran, so a caller may retry it anywhere,
// as it would a refused connection.
const ReasonInjected = "FAULT_INJECTED"

// Injector applies a Config to calls. A nil *Injector injects nothing, so
// callers need not check whether faults are on.
type Injector struct {
	cfg Config
	// chance returns a number in [0, 1); replaced in tests.
	chance func() float64
}

// New returns the injector of c, or nil when c injects nothing.
func New(c Config) *Injector {
	if !c.Enabled() {
		return nil
	}
	return &Injector{cfg: c, chance: rand.Float64}
}

// Before is what runs ahead of a handler: the added latency (returning
// the caller's own error if its context ends first), then a failure for
// ErrorRate of the calls. nil means: run the handler.
func (i *Injector) Before(ctx context.Context) error {
	if i == nil {
		return nil
	}
	if i.cfg.Latency > 0 {
		t := time.NewTimer(i.cfg.Latency)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return errs.As(ctx.Err())
		}
	}
	if i.cfg.ErrorRate > 0 && i.chance() < i.cfg.ErrorRate {
		return errs.New(errs.Unavailable, ReasonInjected, "fault injected (test setting "+EnvErrorRate+")").
			With(httpx.MetaRetryAfter, 1)
	}
	return nil
}

// exempt are gRPC services faults never touch: health checks and
// reflection are how the platform and operators see the process, and a
// fault there would take the instance out of rotation instead of
// simulating a bad release.
var exempt = []string{"/grpc.health.v1.", "/grpc.reflection."}

func exemptMethod(fullMethod string) bool {
	for _, p := range exempt {
		if strings.HasPrefix(fullMethod, p) {
			return true
		}
	}
	return false
}

// UnaryServerInterceptor injects faults into unary calls.
func (i *Injector) UnaryServerInterceptor() grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if i != nil && !exemptMethod(info.FullMethod) {
			if err := i.Before(ctx); err != nil {
				return nil, errs.ToGRPC(err)
			}
		}
		return handler(ctx, req)
	}
}

// StreamServerInterceptor injects faults when a stream opens.
func (i *Injector) StreamServerInterceptor() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if i != nil && !exemptMethod(info.FullMethod) {
			if err := i.Before(ss.Context()); err != nil {
				return errs.ToGRPC(err)
			}
		}
		return handler(srv, ss)
	}
}

// HTTP injects faults into the API routes next serves, answering an
// injected failure as 503 problem+json with Retry-After. Mount it around
// the API only, never around /health or /metrics.
func (i *Injector) HTTP(next http.Handler) http.Handler {
	if i == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := i.Before(r.Context()); err != nil {
			httpx.WriteProblem(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}
