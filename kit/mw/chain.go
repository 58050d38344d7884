package mw

import (
	"math"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/openzipkin/zipkin-go"
	"golang.org/x/time/rate"

	"github.com/kitshop/kitshop/kit/metrics"
)

// Chain is the standard middleware wiring, configured once per process so
// services do not copy it per endpoint. Nil Logger, Tracer or RED leave out
// logging, tracing or metrics (useful in tests); a zero Limit means no rate
// limit.
type Chain struct {
	// Service names the process (users, orders...).
	Service string
	Logger  log.Logger
	Tracer  *zipkin.Tracer
	RED     *metrics.RED
	// Limit is the sustained calls per second allowed per method; 0 means
	// unlimited.
	Limit rate.Limit
	// Burst is the calls per method allowed at once above Limit; <= 0
	// means max(1, ceil(Limit)).
	Burst int
	// Shed, when set, bounds the calls in flight across every method
	// wrapped by this chain: the process's load shedding. Share one
	// Shedder per process.
	Shed *Shedder
	// QuietSuccesses leaves successful calls out of the log entirely
	// instead of writing them at debug level, where a filter would drop
	// them anyway after the line was built. kit/boot sets it unless the
	// log level is debug.
	QuietSuccesses bool
}

// Wrap applies the server-side chain to the endpoint for method. From the
// outside in:
//
//	(observer) -> tracing -> logging -> metrics -> shedding -> rate limit -> e
//
// Why this order:
//   - the ChainObserver a transport may have put in ctx is told about the
//     call outside everything else, so it hears of a failure only once
//     the failure has been logged and counted;
//   - tracing is outermost so its span (the transport's server span,
//     tagged with the endpoint and outcome; see ServerTracing) covers
//     everything below and the log line (which reads ctx) names the trace;
//   - logging and metrics sit outside the shedder and limiter so that
//     shed calls (OVERLOADED, RATE_LIMITED) are logged and counted like
//     any other outcome: an operator must see load being shed.
//
// There is no circuit breaker here, on purpose: a breaker on the server
// side opens for everyone on the strength of any caller's requests (five
// logins with a NUL byte, or five calls with a 1 ns deadline, shut login
// for a minute). A server protects itself by shedding load it cannot
// carry; judging a backend's health is the caller's job (kit/sd.Backend).
//
// Every call to Wrap makes its own rate limiter, so one hot method does
// not starve the others; the shedder is shared.
func (c Chain) Wrap(method string, e endpoint.Endpoint) endpoint.Endpoint {
	mws := []endpoint.Middleware{
		observed,
		ServerTracing(c.Tracer, method),
		logging(c.Logger, method, !c.QuietSuccesses),
		Metrics(c.RED, metrics.TransportEndpoint, method),
	}
	if c.Shed != nil {
		mws = append(mws, c.Shed.Middleware())
	}
	if lim := c.limiter(); lim != nil {
		mws = append(mws, RateLimit(lim))
	}
	return endpoint.Chain(mws[0], mws[1:]...)(e)
}

// WrapClient applies the client-side chain to an outgoing call. method
// should name the callee, e.g. "products.ReserveInventory". From the
// outside in:
//
//	tracing -> metrics -> e
//
// The caller's breaker and retries live in e (kit/sd.Backend), so a call's
// span and metrics cover all its attempts; there is no rate limit (that is
// the callee's decision) and no logging (the caller's own endpoint logs
// the outcome, and the callee logs the call).
func (c Chain) WrapClient(method string, e endpoint.Endpoint) endpoint.Endpoint {
	return endpoint.Chain(
		Tracing(c.Tracer, method),
		Metrics(c.RED, metrics.TransportClient, method),
	)(e)
}

func (c Chain) limiter() *rate.Limiter {
	if c.Limit <= 0 {
		return nil
	}
	burst := c.Burst
	if burst <= 0 {
		burst = 1
		if f := math.Ceil(float64(c.Limit)); f > 1 && f < math.MaxInt32 {
			burst = int(f)
		}
	}
	return rate.NewLimiter(c.Limit, burst)
}
