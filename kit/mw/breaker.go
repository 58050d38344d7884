package mw

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/sony/gobreaker"

	"github.com/kitshop/kitshop/kit/errs"
)

// ReasonBreakerOpen is the reason of the Unavailable error returned while a
// breaker rejects calls.
const ReasonBreakerOpen = "BREAKER_OPEN"

// Environment variables read by BreakerSettingsFromEnv (see API.md).
const (
	EnvBreakerFailures    = "KITSHOP_BREAKER_FAILURES"
	EnvBreakerOpenTimeout = "KITSHOP_BREAKER_OPEN_TIMEOUT"
)

// Breaker defaults, as documented in API.md.
const (
	DefaultBreakerFailures    = 5
	DefaultBreakerOpenTimeout = 60 * time.Second
)

// BreakerSettings configures Breaker. The zero value means the defaults.
type BreakerSettings struct {
	// ConsecutiveFailures is how many infrastructure failures in a row open
	// the breaker (default 5).
	ConsecutiveFailures uint32
	// OpenTimeout is how long the breaker stays open before letting one
	// trial call through (half-open; default 60s).
	OpenTimeout time.Duration
	// OnStateChange, when set, is told every transition (closed, open,
	// half-open), e.g. to log it: an opening breaker is an operator event.
	OnStateChange func(name string, from, to string)
}

// BreakerSettingsFromEnv reads KITSHOP_BREAKER_FAILURES (a positive
// integer) and KITSHOP_BREAKER_OPEN_TIMEOUT (a Go duration such as "30s");
// unset variables keep the defaults.
func BreakerSettingsFromEnv() (BreakerSettings, error) {
	var s BreakerSettings
	if v := strings.TrimSpace(os.Getenv(EnvBreakerFailures)); v != "" {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil || n == 0 {
			return BreakerSettings{}, fmt.Errorf("mw: %s=%q: want a positive integer", EnvBreakerFailures, v)
		}
		s.ConsecutiveFailures = uint32(n)
	}
	if v := strings.TrimSpace(os.Getenv(EnvBreakerOpenTimeout)); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d <= 0 {
			return BreakerSettings{}, fmt.Errorf("mw: %s=%q: want a positive duration such as 30s", EnvBreakerOpenTimeout, v)
		}
		s.OpenTimeout = d
	}
	return s, nil
}

func (s BreakerSettings) withDefaults() BreakerSettings {
	if s.ConsecutiveFailures == 0 {
		s.ConsecutiveFailures = DefaultBreakerFailures
	}
	if s.OpenTimeout <= 0 {
		s.OpenTimeout = DefaultBreakerOpenTimeout
	}
	return s
}

// Breaker is a circuit breaker (sony/gobreaker) named name. Only
// infrastructure failures (errs.IsInfrastructure: Internal, Unavailable,
// DeadlineExceeded) count against it; business errors are successes for
// the breaker, because they prove the callee is healthy, and are returned
// unchanged. While open, and beyond the single trial call while half-open,
// calls fail at once with Unavailable, reason BREAKER_OPEN.
//
// Each call to Breaker makes a new breaker: share the returned middleware,
// not the settings, between endpoints that should trip together.
func Breaker(name string, s BreakerSettings) endpoint.Middleware {
	s = s.withDefaults()
	st := gobreaker.Settings{
		Name:        name,
		MaxRequests: 1,
		Timeout:     s.OpenTimeout,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.ConsecutiveFailures },
	}
	if s.OnStateChange != nil {
		st.OnStateChange = func(name string, from, to gobreaker.State) {
			s.OnStateChange(name, from.String(), to.String())
		}
	}
	// The two-step form lets us report the outcome ourselves after
	// classifying the error; Execute would count every error as a failure.
	cb := gobreaker.NewTwoStepCircuitBreaker(st)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (resp any, err error) {
			done, berr := cb.Allow()
			if berr != nil {
				return nil, errs.Wrap(errs.Unavailable, ReasonBreakerOpen, berr,
					"service temporarily unavailable")
			}
			reported := false
			defer func() {
				// A panic must still end the trial call, or a half-open
				// breaker would wait for its outcome forever.
				if !reported {
					done(false)
				}
			}()
			resp, err = next(ctx, request)
			reported = true
			done(!errs.IsInfrastructure(err))
			return resp, err
		}
	}
}
