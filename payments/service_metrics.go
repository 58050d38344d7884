package main

import (
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
)

// paymentMetrics are the payments service's domain metrics:
//
//	kitshop_payments_charges_total{outcome}  charge outcomes recorded: captured, declined, failed
//	kitshop_payments_refunds_total           refunds recorded (repeats of a refund key excluded)
//
// A charge is counted when its outcome is written, once per outcome: a
// repeated Charge that finds it settled counts nothing, and a charge
// settled later (a lookup, the recovery job) counts when it is settled.
// A FAILED charge tried again may later count as captured or declined
// too: each attempt's outcome is a fact about the processor.
type paymentMetrics struct {
	charges map[Status]prometheus.Counter // by the status an outcome records
	refunds prometheus.Counter
}

// Outcome labels of kitshop_payments_charges_total.
var chargeOutcomes = map[Status]string{
	StatusCaptured: "captured",
	StatusDeclined: "declined",
	StatusFailed:   "failed",
}

// newPaymentMetrics registers the metrics with reg (nil: none), each
// outcome's series from the start, at 0. A failed registration (a
// conflicting metric: a programming error) is logged, and the service
// runs unmeasured rather than not at all.
func newPaymentMetrics(reg prometheus.Registerer, logger log.Logger) *paymentMetrics {
	charges := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_payments_charges_total",
		Help: "Charge outcomes recorded, by outcome (captured, declined, failed).",
	}, []string{"outcome"})
	refunds := prometheus.NewCounter(prometheus.CounterOpts{
		Name: "kitshop_payments_refunds_total",
		Help: "Refunds recorded (a repeated refund key is not counted again).",
	})
	if reg != nil {
		c, err := metrics.Register(reg, charges)
		var r prometheus.Counter
		if err == nil {
			r, err = metrics.Register(reg, refunds)
		}
		if err != nil {
			_ = level.Error(logger).Log("msg", "payments metrics not registered", "err", err)
		} else {
			charges, refunds = c, r
		}
	}
	m := &paymentMetrics{charges: map[Status]prometheus.Counter{}, refunds: refunds}
	for status, outcome := range chargeOutcomes {
		m.charges[status] = charges.WithLabelValues(outcome)
	}
	return m
}

// settled counts a charge outcome just recorded with status.
func (m *paymentMetrics) settled(status Status) {
	if c, ok := m.charges[status]; ok {
		c.Inc()
	}
}
