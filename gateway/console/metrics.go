package console

import (
	"context"
	"sort"

	dto "github.com/prometheus/client_model/go"
)

// The metric families the console reads from the gateway's registry.
// kit/metrics (breakers) and kit/ratelimit register them; the names are
// literals there too, and the console's tests register the real families,
// so a rename fails them.
const (
	metricBreakerState       = "kitshop_breaker_state"             // {service,backend}: 0 closed, 1 half-open, 2 open
	metricBreakerTransitions = "kitshop_breaker_transitions_total" // {service,backend,to}
	metricRateAdmitted       = "kitshop_ratelimit_admitted_total"  // {tier}
	metricRateRejected       = "kitshop_ratelimit_rejected_total"  // {tier}
)

// breakerStates are kitshop_breaker_state's values, gobreaker's names.
var breakerStates = map[float64]string{0: "closed", 1: "half-open", 2: "open"}

type metricsSection struct {
	Err      string
	Breakers []breakerRow
	Tiers    []tierRow
}

type breakerRow struct {
	Service, Backend, State string
	// Opened counts the breaker's transitions to open since the gateway
	// started.
	Opened float64
}

type tierRow struct {
	Tier               string
	Admitted, Rejected float64
}

// errGatherStuck is the section's error while a Gather that outlived its
// page has not returned.
const errGatherStuck = "metrics: an earlier read has not finished yet"

// metrics reads the breakers and rate-limit counters of this gateway
// instance. Gather runs in-process but calls every collector, some of
// which may read elsewhere (kit/metrics.ScrapedGauge), and it takes no
// context: it is bounded like any other source, a late Gather finishes
// on its own, and until it does no other starts, so a stuck collector
// costs one goroutine, not one per page view.
func (c *console) metrics(ctx context.Context) metricsSection {
	if c.cfg.Gatherer == nil {
		return metricsSection{Err: "no metrics registry configured"}
	}
	if !c.gathering.CompareAndSwap(false, true) {
		return metricsSection{Err: errGatherStuck}
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.SourceTimeout)
	defer cancel()
	type gathered struct {
		families []*dto.MetricFamily
		err      error
	}
	done := make(chan gathered, 1)
	go func() {
		defer c.gathering.Store(false)
		fams, err := c.cfg.Gatherer.Gather()
		done <- gathered{fams, err}
	}()
	var g gathered
	select {
	case g = <-done:
	case <-ctx.Done():
		return metricsSection{Err: "metrics: " + sourceError(ctx, ctx.Err())}
	}
	// Gather reports a collector's failure alongside what the others
	// gathered: show what there is, and the error.
	sec := readMetrics(g.families)
	if g.err != nil {
		sec.Err = "metrics: " + g.err.Error()
	}
	return sec
}

func readMetrics(families []*dto.MetricFamily) metricsSection {
	byName := map[string]*dto.MetricFamily{}
	for _, f := range families {
		byName[f.GetName()] = f
	}
	var sec metricsSection
	opened := map[[2]string]float64{}
	for _, m := range metricsOf(byName[metricBreakerTransitions]) {
		if label(m, "to") == "open" {
			opened[[2]string{label(m, "service"), label(m, "backend")}] += m.GetCounter().GetValue()
		}
	}
	for _, m := range metricsOf(byName[metricBreakerState]) {
		svc, backend := label(m, "service"), label(m, "backend")
		state, ok := breakerStates[m.GetGauge().GetValue()]
		if !ok {
			state = "unknown"
		}
		sec.Breakers = append(sec.Breakers, breakerRow{Service: svc, Backend: backend, State: state, Opened: opened[[2]string{svc, backend}]})
	}
	sort.Slice(sec.Breakers, func(i, j int) bool {
		a, b := sec.Breakers[i], sec.Breakers[j]
		return a.Service < b.Service || a.Service == b.Service && a.Backend < b.Backend
	})
	tiers := map[string]*tierRow{}
	tier := func(name string) *tierRow {
		if tiers[name] == nil {
			tiers[name] = &tierRow{Tier: name}
		}
		return tiers[name]
	}
	for _, m := range metricsOf(byName[metricRateAdmitted]) {
		tier(label(m, "tier")).Admitted += m.GetCounter().GetValue()
	}
	for _, m := range metricsOf(byName[metricRateRejected]) {
		tier(label(m, "tier")).Rejected += m.GetCounter().GetValue()
	}
	for _, t := range tiers {
		sec.Tiers = append(sec.Tiers, *t)
	}
	sort.Slice(sec.Tiers, func(i, j int) bool { return sec.Tiers[i].Tier < sec.Tiers[j].Tier })
	return sec
}

func metricsOf(f *dto.MetricFamily) []*dto.Metric {
	if f == nil {
		return nil
	}
	return f.GetMetric()
}

func label(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}
