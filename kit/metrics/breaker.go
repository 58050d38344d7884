package metrics

import "github.com/prometheus/client_golang/prometheus"

// Breakers exports the state of a process's circuit breakers, one per
// backend it calls:
//
//	kitshop_breaker_state{service,backend}   0 closed, 1 half-open, 2 open
//	kitshop_breaker_transitions_total{service,backend,to}
//
// Both labels are bounded: backends are the few services a process calls.
type Breakers struct {
	service     string
	state       *prometheus.GaugeVec
	transitions *prometheus.CounterVec
}

// NewBreakers registers the breaker metrics with reg (reusing them when
// they are registered already, as NewRED does).
func NewBreakers(reg prometheus.Registerer, service string) (*Breakers, error) {
	state, err := Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "kitshop_breaker_state",
		Help: "State of the caller's circuit breaker per backend: 0 closed, 1 half-open, 2 open.",
	}, []string{"service", "backend"}))
	if err != nil {
		return nil, err
	}
	transitions, err := Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_breaker_transitions_total",
		Help: "Circuit breaker state changes per backend, by the state entered.",
	}, []string{"service", "backend", "to"}))
	if err != nil {
		return nil, err
	}
	return &Breakers{service: service, state: state, transitions: transitions}, nil
}

// breakerStates are gobreaker's state names, the to label.
var breakerStates = []string{"closed", "half-open", "open"}

// Track starts exporting backend's breaker as closed, the state every
// breaker starts in, and its transitions into each state at 0, so that a
// dashboard (and an increase() in an alert) sees them before the first
// transition.
func (b *Breakers) Track(backend string) {
	b.state.WithLabelValues(b.service, backend).Set(0)
	for _, to := range breakerStates {
		b.transitions.WithLabelValues(b.service, backend, to)
	}
}

// Changed records a transition of backend's breaker to state ("closed",
// "half-open" or "open", gobreaker's names).
func (b *Breakers) Changed(backend, state string) {
	v := map[string]float64{"closed": 0, "half-open": 1, "open": 2}[state]
	b.state.WithLabelValues(b.service, backend).Set(v)
	b.transitions.WithLabelValues(b.service, backend, state).Inc()
}
