package main

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/saga"
)

// sagaMetrics counts how sagas end. Orders requiring attention have their
// own counter so that an alert can be a plain increase() on it; `orders
// check` and /debug/sagas?state=attention list them.
type sagaMetrics struct {
	sagas     *prometheus.CounterVec
	attention prometheus.Counter
}

func newSagaMetrics(reg prometheus.Registerer) (*sagaMetrics, error) {
	m := &sagaMetrics{
		sagas: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kitshop_orders_sagas_total",
			Help: "Sagas driven to an end by this instance, by definition and outcome (succeeded, compensated, requires_attention).",
		}, []string{"definition", "outcome"}),
		attention: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kitshop_orders_requiring_attention_total",
			Help: "Orders this instance left REQUIRES_ATTENTION: a compensation ran out of retries and an operator must act.",
		}),
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.sagas, err = metrics.Register(reg, m.sagas); err != nil {
		return nil, err
	}
	if m.attention, err = metrics.Register(reg, m.attention); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *sagaMetrics) finished(definition string, status saga.Status) {
	m.sagas.WithLabelValues(definition, string(status)).Inc()
	if status == saga.RequiresAttention {
		m.attention.Inc()
	}
}
