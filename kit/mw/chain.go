package mw

import (
	"math"

	"github.com/go-kit/kit/endpoint"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/openzipkin/zipkin-go"
	"golang.org/x/time/rate"

	"github.com/kitshop/kitshop/kit/metrics"
)

// Chain is the standard middleware wiring, configured once per process so
// services do not copy it per endpoint. Nil Logger, Tracer or RED leave out
// logging, tracing or metrics (useful in tests); a zero Limit means no rate
// limit.
type Chain struct {
	// Service names the process (users, orders...); breakers are named
	// Service/method.
	Service string
	Logger  log.Logger
	Tracer  *zipkin.Tracer
	RED     *metrics.RED
	// Limit is the sustained calls per second allowed per method; 0 means
	// unlimited.
	Limit rate.Limit
	// Burst is the calls per method allowed at once above Limit; <= 0
	// means max(1, ceil(Limit)).
	Burst   int
	Breaker BreakerSettings
	// QuietSuccesses leaves successful calls out of the log entirely
	// instead of writing them at debug level, where a filter would drop
	// them anyway after the line was built. kit/boot sets it unless the
	// log level is debug.
	QuietSuccesses bool
}

// Wrap applies the server-side chain to the endpoint for method. From the
// outside in:
//
//	tracing -> logging -> metrics -> rate limit -> breaker -> e
//
// Why this order:
//   - tracing is outermost so its span (the transport's server span,
//     tagged with the endpoint and outcome; see ServerTracing) covers
//     everything below and the log line (which reads ctx) names the trace;
//   - logging and metrics sit outside the limiter and breaker so that
//     shed calls (RATE_LIMITED, BREAKER_OPEN) are logged and counted like
//     any other outcome: an operator must see load being shed;
//   - the rate limiter sits outside the breaker so that shed calls never
//     reach it: a rejection is not a failure of the callee, and must not
//     use up the half-open breaker's single trial call.
//
// Every call to Wrap makes its own limiter and breaker, so one hot or
// failing method does not starve or trip the others.
func (c Chain) Wrap(method string, e endpoint.Endpoint) endpoint.Endpoint {
	mws := []endpoint.Middleware{
		ServerTracing(c.Tracer, method),
		logging(c.Logger, method, !c.QuietSuccesses),
		Metrics(c.RED, metrics.TransportEndpoint, method),
	}
	if lim := c.limiter(); lim != nil {
		mws = append(mws, RateLimit(lim))
	}
	mws = append(mws, Breaker(c.Service+"/"+method, c.breakerSettings()))
	return endpoint.Chain(mws[0], mws[1:]...)(e)
}

// WrapClient applies the client-side chain to an outgoing call. method
// should name the callee, e.g. "products.ReserveInventory". From the
// outside in:
//
//	tracing -> metrics -> breaker -> e
//
// The breaker is innermost so its fast BREAKER_OPEN failures are traced
// and counted; there is no rate limit (that is the callee's decision) and
// no logging (the caller's own endpoint logs the outcome, and the callee
// logs the call).
func (c Chain) WrapClient(method string, e endpoint.Endpoint) endpoint.Endpoint {
	return endpoint.Chain(
		Tracing(c.Tracer, method),
		Metrics(c.RED, metrics.TransportClient, method),
		Breaker(c.Service+"->"+method, c.breakerSettings()),
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

// breakerSettings logs transitions unless the caller installed its own hook.
func (c Chain) breakerSettings() BreakerSettings {
	s := c.Breaker
	if s.OnStateChange == nil && c.Logger != nil {
		logger := c.Logger
		s.OnStateChange = func(name, from, to string) {
			lvl := level.Warn
			if to == "closed" {
				lvl = level.Info
			}
			_ = lvl(logger).Log("msg", "circuit breaker state change", "breaker", name, "from", from, "to", to)
		}
	}
	return s
}
