package mw

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/sony/gobreaker/v2"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
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
	// ConsecutiveFailures is how many failures in a row open the breaker
	// (default 5).
	ConsecutiveFailures uint32
	// OpenTimeout is how long the breaker stays open before letting probe
	// calls through (half-open; default 60s).
	OpenTimeout time.Duration
	// HalfOpenProbes is how many calls a half-open breaker lets through;
	// that many successes in a row close it (default 1).
	HalfOpenProbes uint32
	// OnStateChange, when set, is told every transition (closed, open,
	// half-open), e.g. to log it: an opening breaker is an operator event.
	OnStateChange func(name string, from, to string)
	// Failure says which errors count against the callee (default
	// errs.IsInfrastructure). Others count as successes: they prove the
	// callee answered.
	Failure func(error) bool
	// Ignore says which errors count neither way (default: the caller's
	// own cancellation, and errors marked Expected of the Canceled and
	// DeadlineExceeded kinds, which is how a caller's own deadline is
	// marked): a caller that gave up says nothing about the callee.
	Ignore func(error) bool
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
	if s.HalfOpenProbes == 0 {
		s.HalfOpenProbes = 1
	}
	if s.Failure == nil {
		s.Failure = errs.IsInfrastructure
	}
	if s.Ignore == nil {
		s.Ignore = CallerGaveUp
	}
	return s
}

// CallerGaveUp reports whether err is the caller's own cancellation or
// deadline (kind Canceled, or DeadlineExceeded marked Expected): the
// default Ignore.
func CallerGaveUp(err error) bool {
	if err == nil {
		return false
	}
	e := errs.As(err)
	return e.Kind == errs.Canceled || (e.Expected && e.Kind == errs.DeadlineExceeded)
}

// Breaker is a circuit breaker (sony/gobreaker) named name, for the
// calling side of a backend: servers never open one on themselves (a
// caller could trip it for everyone with bad requests). Only failures
// (Settings.Failure) count against it; business errors are successes for
// the breaker, because they prove the callee is healthy, and are returned
// unchanged. While open, and beyond the probe calls while half-open,
// calls fail at once with Unavailable, reason BREAKER_OPEN, without
// calling next.
//
// Each call to Breaker makes a new breaker: share the returned middleware,
// not the settings, between endpoints that should trip together.
func Breaker(name string, s BreakerSettings) endpoint.Middleware {
	cb := NewCircuitBreaker(name, s)
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			resp, err := cb.Do(func() (any, error) {
				resp, err := next(ctx, request)
				if err != nil && ctx.Err() != nil {
					// The caller's own deadline or cancellation ended the
					// call, whatever the error says: never the callee's
					// fault, so the breaker does not count it.
					return resp, callerEnded{err}
				}
				return resp, err
			})
			if ce, ok := err.(callerEnded); ok {
				err = ce.err
			}
			return resp, err
		}
	}
}

// callerEnded marks an error that came after the caller's context ended.
type callerEnded struct{ err error }

func (c callerEnded) Error() string { return c.err.Error() }
func (c callerEnded) Unwrap() error { return c.err }

// isCallerEnded walks err's chain by hand: errors.As would allocate on
// every call through a breaker.
func isCallerEnded(err error) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		if _, ok := err.(callerEnded); ok {
			return true
		}
	}
	return false
}

// CircuitBreaker is the breaker Breaker wraps around endpoints, for a
// caller that runs each call through it directly: kit/sd.Backend, whose
// attempt is a different function every time, and which would otherwise
// build a middleware and an endpoint per call to wrap it.
type CircuitBreaker struct {
	cb          *gobreaker.CircuitBreaker[any]
	openTimeout time.Duration
	// openedAt is when the breaker last opened (unix nanoseconds), so a
	// refused call can say when to come back (Retry-After).
	openedAt atomic.Int64
}

// NewCircuitBreaker returns a breaker named name; see Breaker for what
// it counts and how it fails.
func NewCircuitBreaker(name string, s BreakerSettings) *CircuitBreaker {
	s = s.withDefaults()
	st := gobreaker.Settings{
		Name:         name,
		MaxRequests:  s.HalfOpenProbes,
		Timeout:      s.OpenTimeout,
		ReadyToTrip:  func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= s.ConsecutiveFailures },
		IsSuccessful: func(err error) bool { return err == nil || !s.Failure(err) },
		IsExcluded: func(err error) bool {
			return isCallerEnded(err) || s.Ignore(err)
		},
	}
	b := &CircuitBreaker{openTimeout: s.OpenTimeout}
	st.OnStateChange = func(name string, from, to gobreaker.State) {
		if to == gobreaker.StateOpen {
			b.openedAt.Store(time.Now().UnixNano())
		}
		if s.OnStateChange != nil {
			s.OnStateChange(name, from.String(), to.String())
		}
	}
	b.cb = gobreaker.NewCircuitBreaker[any](st)
	return b
}

// Do runs call unless the breaker refuses it, and counts its outcome.
func (b *CircuitBreaker) Do(call func() (any, error)) (any, error) {
	resp, err := b.cb.Execute(call)
	if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return nil, errs.Wrap(errs.Unavailable, ReasonBreakerOpen, err, "service temporarily unavailable").
			With(httpx.MetaRetryAfter, b.retryAfter())
	}
	return resp, err
}

// State is the breaker's state: "closed", "half-open" or "open".
func (b *CircuitBreaker) State() string { return b.cb.State().String() }

// retryAfter is how many whole seconds remain until an open breaker lets
// probes through (at least 1: a half-open breaker that refused a call has
// its probes out already).
func (b *CircuitBreaker) retryAfter() int64 {
	left := b.openTimeout - time.Since(time.Unix(0, b.openedAt.Load()))
	return max(1, int64((left+time.Second-1)/time.Second))
}
