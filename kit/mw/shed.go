package mw

import (
	"context"
	"sync/atomic"

	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/errs"
)

// ReasonOverloaded is the reason of the Unavailable error a Shedder
// answers with: the process is at its limit of calls in flight.
const ReasonOverloaded = "OVERLOADED"

// DefaultMaxInFlight is the default Shedder limit: enough for a service
// whose calls are milliseconds long to serve tens of thousands a second,
// low enough that a flood queues nowhere and memory stays bounded.
const DefaultMaxInFlight = 1024

// Shedder bounds the calls a process works on at once. A call over the
// limit is refused at once with Unavailable/OVERLOADED (503 with
// Retry-After, gRPC UNAVAILABLE), which a caller retries on another
// instance, instead of waiting in a queue that would only make every
// call late. Unlike a breaker it refuses no call because of what other
// calls did: only the load right now counts.
type Shedder struct {
	max      int64
	inFlight atomic.Int64
}

// NewShedder returns a Shedder admitting max calls at once (<= 0 means
// DefaultMaxInFlight).
func NewShedder(max int) *Shedder {
	if max <= 0 {
		max = DefaultMaxInFlight
	}
	return &Shedder{max: int64(max)}
}

// InFlight is the number of calls admitted and not yet finished.
func (s *Shedder) InFlight() int64 { return s.inFlight.Load() }

// Admit takes a slot for one call, or reports that none is free; call
// release exactly once when the call is done. It is the Shedder for
// callers that are not endpoints (an HTTP edge).
func (s *Shedder) Admit() (release func(), ok bool) {
	if s.inFlight.Add(1) > s.max {
		s.inFlight.Add(-1)
		return nil, false
	}
	return s.release, true
}

func (s *Shedder) release() { s.inFlight.Add(-1) }

// ErrOverloaded is what a Shedder answers a call over its limit with.
func ErrOverloaded() error {
	return errs.New(errs.Unavailable, ReasonOverloaded, "server is overloaded, retry shortly")
}

// Middleware admits a call if a slot is free.
func (s *Shedder) Middleware() endpoint.Middleware {
	return func(next endpoint.Endpoint) endpoint.Endpoint {
		return func(ctx context.Context, request any) (any, error) {
			release, ok := s.Admit()
			if !ok {
				return nil, ErrOverloaded()
			}
			defer release()
			return next(ctx, request)
		}
	}
}
