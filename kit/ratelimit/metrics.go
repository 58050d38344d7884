package ratelimit

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/metrics"
)

// The limiter's metrics. Labels are tier names and eviction reasons only,
// both fixed at start-up, never anything a client sends:
//
//	kitshop_ratelimit_admitted_total{tier}
//	kitshop_ratelimit_rejected_total{tier}
//	kitshop_ratelimit_buckets                 buckets held now
//	kitshop_ratelimit_evicted_total{reason}   reason: idle (full, free to drop) or capacity (MaxClients reached)
//	kitshop_ratelimit_share                   live gateway instances the tiers are divided by
//
// A steadily rising capacity count means MaxClients is too small for the
// distinct clients seen within a refill period: clients evicted that way
// come back to a full bucket.
type metricSet struct {
	admitted, rejected []prometheus.Counter // by tier index
	buckets            prometheus.Gauge
	evictedIdle        prometheus.Counter
	evictedCapacity    prometheus.Counter
	share              prometheus.Gauge
}

func newMetrics(reg prometheus.Registerer, tiers []Tier) (*metricSet, error) {
	admitted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_ratelimit_admitted_total",
		Help: "Requests the gateway rate limiter let through, by client tier.",
	}, []string{"tier"})
	rejected := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_ratelimit_rejected_total",
		Help: "Requests the gateway rate limiter answered 429, by client tier.",
	}, []string{"tier"})
	evicted := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "kitshop_ratelimit_evicted_total",
		Help: "Client buckets dropped: idle (full again, so nothing is lost) or capacity (MaxClients reached).",
	}, []string{"reason"})
	buckets := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kitshop_ratelimit_buckets",
		Help: "Client buckets the gateway rate limiter holds.",
	})
	share := prometheus.NewGauge(prometheus.GaugeOpts{
		Name: "kitshop_ratelimit_share",
		Help: "Live gateway instances each tier's allowance is divided by.",
	})
	if reg != nil {
		var err error
		if admitted, err = metrics.Register(reg, admitted); err != nil {
			return nil, err
		}
		if rejected, err = metrics.Register(reg, rejected); err != nil {
			return nil, err
		}
		if evicted, err = metrics.Register(reg, evicted); err != nil {
			return nil, err
		}
		if buckets, err = metrics.Register(reg, buckets); err != nil {
			return nil, err
		}
		if share, err = metrics.Register(reg, share); err != nil {
			return nil, err
		}
	}
	m := &metricSet{
		buckets:         buckets,
		evictedIdle:     evicted.WithLabelValues("idle"),
		evictedCapacity: evicted.WithLabelValues("capacity"),
		share:           share,
	}
	// Resolving each tier's series once keeps the label lookup off the
	// request path.
	for _, t := range tiers {
		m.admitted = append(m.admitted, admitted.WithLabelValues(t.Name))
		m.rejected = append(m.rejected, rejected.WithLabelValues(t.Name))
	}
	return m, nil
}

// record counts one Allow.
func (m *metricSet) record(tier int, ok, added bool, idleEvicted, capEvicted int) {
	if ok {
		m.admitted[tier].Inc()
	} else {
		m.rejected[tier].Inc()
	}
	if added || idleEvicted != 0 || capEvicted != 0 {
		delta := -idleEvicted - capEvicted
		if added {
			delta++
		}
		m.buckets.Add(float64(delta))
		m.evicted(idleEvicted, capEvicted)
	}
}

// swept records idle buckets dropped outside Allow (see Limiter.Len).
func (m *metricSet) swept(idle int) {
	if idle > 0 {
		m.buckets.Sub(float64(idle))
		m.evictedIdle.Add(float64(idle))
	}
}

// evicted counts evictions; the bucket gauge is the caller's.
func (m *metricSet) evicted(idle, capacity int) {
	if idle > 0 {
		m.evictedIdle.Add(float64(idle))
	}
	if capacity > 0 {
		m.evictedCapacity.Add(float64(capacity))
	}
}
