// Package metrics records kitshop's RED metrics (rate, errors, duration) per
// method in Prometheus, with the same names and labels in every process so
// one dashboard serves all services:
//
//	kitshop_requests_total{service,transport,method,code}
//	kitshop_request_duration_seconds{service,transport,method}
//	kitshop_requests_in_flight{service,transport,method}
//
// code is the errs kind of the outcome ("OK", "NotFound", "Unavailable"...),
// a small closed set, so label cardinality stays bounded. method is the
// operation, bounded to MaxMethods values per transport whatever callers
// pass (see MethodOther); transport is one of the Transport constants.
package metrics

import (
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
)

// Transport label values used across kitshop.
const (
	TransportEndpoint   = "endpoint"    // a service's go-kit endpoint chain, whichever transport called it
	TransportClient     = "client"      // an outgoing call through a client endpoint chain
	TransportHTTP       = "http"        // an HTTP handler
	TransportGRPC       = "grpc"        // a unary gRPC call that failed outside its endpoint chain (kit/grpcx); the chain counts the rest under TransportEndpoint
	TransportGRPCStream = "grpc-stream" // a streaming gRPC method, measured over the stream's life
)

// CodeOK is the code label of a success.
const CodeOK = "OK"

// Buckets suit RPCs from sub-millisecond cache hits to multi-second sagas.
var Buckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}

// RED holds one service's request metrics. It is safe for concurrent use.
//
// It talks to client_golang's vectors directly rather than through go-kit's
// metrics/prometheus wrappers: those build a label map per observation,
// which showed in the allocation profile of every request.
type RED struct {
	service string
	// The vectors, also for tests and for callers that need
	// prometheus-native access (testutil, exemplars).
	RequestsVec *prometheus.CounterVec
	DurationVec *prometheus.HistogramVec
	InFlightVec *prometheus.GaugeVec

	methods *methodBound
	// retries counts retries the budget refused (retry.go): registered
	// with the RED because the client side that makes retries (kit/sd)
	// is handed the process's RED and nothing else.
	retries *prometheus.CounterVec
	// attempts and attemptDur are the per-attempt, per-version metrics
	// (attempts.go), registered here for the same reason as retries.
	attempts   *prometheus.CounterVec
	attemptDur *prometheus.HistogramVec
}

// NewRED registers the RED metrics with reg and returns a recorder whose
// observations carry service. Calling it again with the same registry
// reuses the collectors already registered instead of panicking, so two
// components of one process may each ask for a recorder.
func NewRED(reg prometheus.Registerer, service string) (*RED, error) {
	requests, err := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_requests_total",
		Help: "Requests handled, by outcome code (errs kind or OK).",
	}, []string{"service", "transport", "method", "code"}))
	if err != nil {
		return nil, err
	}
	duration, err := Register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "kitshop_request_duration_seconds",
		Help:    "Request latency in seconds, failures included.",
		Buckets: Buckets,
	}, []string{"service", "transport", "method"}))
	if err != nil {
		return nil, err
	}
	inFlight, err := Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kitshop_requests_in_flight",
		Help: "Requests currently being handled.",
	}, []string{"service", "transport", "method"}))
	if err != nil {
		return nil, err
	}
	retries, err := Register(reg, newRetryBudgetVec())
	if err != nil {
		return nil, err
	}
	attemptsVec, durVec := newAttemptVecs()
	if attemptsVec, err = Register(reg, attemptsVec); err != nil {
		return nil, err
	}
	if durVec, err = Register(reg, durVec); err != nil {
		return nil, err
	}
	return &RED{
		service:     service,
		RequestsVec: requests,
		DurationVec: duration,
		InFlightVec: inFlight,
		methods:     &methodBound{},
		retries:     retries,
		attempts:    attemptsVec,
		attemptDur:  durVec,
	}, nil
}

// Register registers c with reg, or returns the equal collector
// registered before, so that two components of one process (or two tests
// on one registry) share the series instead of failing.
func Register[C prometheus.Collector](reg prometheus.Registerer, c C) (C, error) {
	err := reg.Register(c)
	if err == nil {
		return c, nil
	}
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		return typed.Cast[C](are.ExistingCollector)
	}
	var zero C
	return zero, errs.Internalf(err, "metrics: register")
}

// Observe records one finished request: its outcome code and duration.
// At most MaxMethods method labels are recorded per transport; later ones
// are recorded as MethodOther.
func (r *RED) Observe(transport, method, code string, d time.Duration) {
	r.series(transport, method).observe(code, d)
}

// InFlight counts a request as in flight and returns the function that
// stops counting it. Call that exactly once, typically deferred.
func (r *RED) InFlight(transport, method string) (done func()) {
	g := r.series(transport, method).inFlight()
	g.Inc()
	return g.Dec
}

// Start is InFlight and Observe together: it marks a request in flight and
// returns the function that ends it with the outcome's code.
func (r *RED) Start(transport, method string) (end func(code string)) {
	s := r.series(transport, method)
	begin := s.start()
	return func(code string) { s.end(begin, code) }
}

// Method returns the recorder of one transport and method, for a caller
// that records every call of it (an endpoint's middleware): it finds the
// method's series once, on its first call, where Start looks them up on
// every call, and its Start and End allocate nothing.
func (r *RED) Method(transport, method string) *Method {
	return &Method{red: r, transport: transport, method: method}
}

// Method records the calls of one transport and method; see RED.Method.
type Method struct {
	red               *RED
	transport, method string
	once              sync.Once
	s                 *series
}

// Start marks a call in flight and returns when it began, for End.
func (m *Method) Start() time.Time {
	m.once.Do(func() { m.s = m.red.series(m.transport, m.method) })
	return m.s.start()
}

// End ends the call Start began with its outcome's code.
func (m *Method) End(begin time.Time, code string) { m.s.end(begin, code) }

// series returns the series of method under transport, bounded (see
// MaxMethods).
func (r *RED) series(transport, method string) *series {
	if r.methods == nil {
		return newSeries(r, transport, method) // a RED not built by NewRED; nothing to bound with or keep
	}
	return r.methods.series(r, transport, method)
}

// Code is the code label for an outcome: CodeOK for nil, else the errs kind.
func Code(err error) string {
	if err == nil {
		return CodeOK
	}
	return errs.KindOf(err).String()
}

// NewRegistry returns a registry with the Go runtime and process collectors,
// the usual base for a process's /metrics. Each process (and each test)
// uses its own registry instead of the global one, so nothing is shared by
// accident and registering twice cannot collide.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	return reg
}
