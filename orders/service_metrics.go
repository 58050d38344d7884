package main

import (
	"context"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/saga"
)

// The orders metrics. The saga's (sagaMetrics, registered by NewService):
//
//	kitshop_orders_sagas_total{definition,status}       sagas ended by this instance: succeeded, compensated, requires_attention
//	kitshop_orders_requiring_attention_total            orders this instance left REQUIRES_ATTENTION
//	kitshop_saga_step_duration_seconds{definition,step,outcome}
//	kitshop_saga_compensation_duration_seconds{definition,step,outcome}
//
// and the order's (withOrderMetrics, over the store):
//
//	kitshop_orders_placed_total{status,reason}          checkouts by final order status and failure reason
//	kitshop_orders_requiring_attention                  orders in REQUIRES_ATTENTION now (the database's count)
//
// Every label is bounded: definitions and steps are the code's, statuses
// a handful, and reasons the platform's reason codes.

// Step outcomes, the outcome label of the step and compensation
// durations: a step that succeeded, one that failed (a forward step the
// saga compensates; a compensation that left the order requiring
// attention), and a forward step parked to wait for its peer
// (saga.ErrParked).
const (
	outcomeOK     = "ok"
	outcomeFailed = "failed"
	outcomeParked = "parked"
)

// sagaSteps are the steps of each saga definition, and compensable those
// with a compensation: their duration series are made at start-up, so a
// dashboard shows them before the first checkout. The definitions are the
// truth; service_metrics_test.go checks these lists against them.
var (
	sagaSteps = map[string][]string{
		checkoutName: {stepValidateUser, stepReserve, stepCharge, stepCommit},
		cancelName:   {stepRefund, stepRestock},
	}
	compensableSteps = map[string][]string{
		checkoutName: {stepReserve, stepCharge},
	}
)

// sagaMetrics counts how sagas end and times their steps. Orders
// requiring attention have their own counter so that an alert can be a
// plain increase() on it; `orders check` and /debug/sagas?state=attention
// list them.
type sagaMetrics struct {
	sagas        *prometheus.CounterVec
	attention    prometheus.Counter
	steps        *prometheus.HistogramVec
	compensation *prometheus.HistogramVec
}

// stepBuckets suit a saga step: one RPC with its retries, from
// milliseconds to a parked peer's tens of seconds.
var stepBuckets = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

func newSagaMetrics(reg prometheus.Registerer) (*sagaMetrics, error) {
	m := &sagaMetrics{
		sagas: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "kitshop_orders_sagas_total",
			Help: "Sagas driven to an end by this instance, by definition and final status (succeeded, compensated, requires_attention).",
		}, []string{"definition", "status"}),
		attention: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "kitshop_orders_requiring_attention_total",
			Help: "Orders this instance left REQUIRES_ATTENTION: a compensation ran out of retries and an operator must act.",
		}),
		steps: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kitshop_saga_step_duration_seconds",
			Help:    "Time a saga's forward step took, retries included, by outcome (ok, failed, parked).",
			Buckets: stepBuckets,
		}, []string{"definition", "step", "outcome"}),
		compensation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "kitshop_saga_compensation_duration_seconds",
			Help:    "Time a saga's compensation took, retries included, by outcome (ok, failed).",
			Buckets: stepBuckets,
		}, []string{"definition", "step", "outcome"}),
	}
	if reg != nil {
		var err error
		if m.sagas, err = metrics.Register(reg, m.sagas); err != nil {
			return nil, err
		}
		if m.attention, err = metrics.Register(reg, m.attention); err != nil {
			return nil, err
		}
		if m.steps, err = metrics.Register(reg, m.steps); err != nil {
			return nil, err
		}
		if m.compensation, err = metrics.Register(reg, m.compensation); err != nil {
			return nil, err
		}
	}
	for def, steps := range sagaSteps {
		for _, step := range steps {
			m.steps.WithLabelValues(def, step, outcomeOK)
		}
	}
	for def, steps := range compensableSteps {
		for _, step := range steps {
			m.compensation.WithLabelValues(def, step, outcomeOK)
		}
	}
	return m, nil
}

func (m *sagaMetrics) finished(definition string, status saga.Status) {
	m.sagas.WithLabelValues(definition, string(status)).Inc()
	if status == saga.RequiresAttention {
		m.attention.Inc()
	}
}

// stepEnded records how long one step of a saga of definition took, from
// its first attempt to its outcome (outcomeOK, outcomeFailed, outcomeParked):
// forward when compensation is false, its compensation otherwise. It is
// for the saga wiring that observes steps (kit/saga's hooks), which calls
// it as s.metrics.stepEnded.
func (m *sagaMetrics) stepEnded(definition, step string, compensation bool, outcome string, d time.Duration) {
	h := m.steps
	if compensation {
		h = m.compensation
	}
	h.WithLabelValues(definition, step, outcome).Observe(d.Seconds())
}

// maxAttentionCount bounds the read behind kitshop_orders_requiring_attention:
// past it the gauge reads maxAttentionCount (an alert fires at 1 anyway),
// and a scrape never loads an unbounded list.
const maxAttentionCount = 1000

// orderMetricsStore is the store with the order metrics: it counts each
// checkout's final status once its save has committed, which is the one
// place that knows both that it is final and why (the order change's
// status and failure reason).
type orderMetricsStore struct {
	Store
	placed *prometheus.CounterVec
}

// withOrderMetrics wraps store so that the checkouts saved through it are
// counted in kitshop_orders_placed_total, and registers with reg
// kitshop_orders_requiring_attention, read from store at scrape time.
// orders/main.go wraps the store with it before building the service.
func withOrderMetrics(store Store, reg prometheus.Registerer, logger log.Logger) (Store, error) {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	placed, err := metrics.Register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_orders_placed_total",
		Help: "Checkouts ended, by the order's final status (CONFIRMED, CANCELLED, REQUIRES_ATTENTION) and failure reason (empty when confirmed).",
	}, []string{"status", "reason"}))
	if err != nil {
		return nil, err
	}
	placed.WithLabelValues(string(StatusConfirmed), "") // the series a dashboard's rate() starts from
	attention := metrics.NewScrapedGauge(prometheus.GaugeOpts{
		Name: "kitshop_orders_requiring_attention",
		Help: "Orders in REQUIRES_ATTENTION now (the database's count, the same on every instance; at most 1000).",
	}, 0, func(ctx context.Context) (float64, error) {
		recs, err := store.Sagas(ctx, SagasAttention, maxAttentionCount)
		return float64(len(recs)), err
	}, func(err error) {
		_ = level.Warn(logger).Log("msg", "kitshop_orders_requiring_attention left out of the scrape", "err", err)
	})
	if _, err := metrics.Register(reg, attention); err != nil {
		return nil, err
	}
	return orderMetricsStore{Store: store, placed: placed}, nil
}

func (s orderMetricsStore) SaveSaga(ctx context.Context, st *saga.State, change *OrderChange) error {
	if err := s.Store.SaveSaga(ctx, st, change); err != nil {
		return err
	}
	if st.Definition == checkoutName && st.Status.Final() && change != nil && change.Status != "" {
		s.placed.WithLabelValues(string(change.Status), change.FailureReason).Inc()
	}
	return nil
}
