package metrics

import "github.com/prometheus/client_golang/prometheus"

// newRetryBudgetVec is
//
//	kitshop_retry_budget_exhausted_total{service,backend}
//
// retries a caller did not make because its retry budget for the backend
// was empty (kit/sd.Budget): the sign that a backend is failing for long
// enough that retrying would only multiply its load. backend is one of
// the few services a process calls, so the labels stay bounded.
func newRetryBudgetVec() *prometheus.CounterVec {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_retry_budget_exhausted_total",
		Help: "Retries not made because the caller's retry budget for the backend was empty.",
	}, []string{"service", "backend"})
}

// RetryBudgetExhausted is the counter of backend's refused retries. Ask
// for it when the backend is set up: the series then exists (at 0) from
// the start, so a dashboard or an increase() sees it before the first
// refusal. A RED not built by NewRED gives a counter nobody exports.
func (r *RED) RetryBudgetExhausted(backend string) prometheus.Counter {
	if r == nil || r.retries == nil {
		return prometheus.NewCounter(prometheus.CounterOpts{Name: "kitshop_retry_budget_exhausted_total", Help: "unexported"})
	}
	return r.retries.WithLabelValues(r.service, backend)
}
