package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultScrapeTimeout bounds a ScrapedGauge's read when it names none:
// well inside Prometheus's default scrape timeout (10s), so that one slow
// source cannot fail the whole scrape.
const DefaultScrapeTimeout = 2 * time.Second

// ScrapedGauge is a gauge read from its source when Prometheus scrapes:
// for a quantity that lives in a database shared by every instance (orders
// requiring attention, reservations held), which no single instance could
// keep counting in memory. No background job, and the value is as fresh
// as the scrape.
//
// Every instance reading the same database exports the same value, so
// aggregate such a gauge with max(), not sum().
type ScrapedGauge struct {
	desc    *prometheus.Desc
	read    func(context.Context) (float64, error)
	timeout time.Duration
	onError func(error)
}

// NewScrapedGauge returns the gauge opts names, read by read within
// timeout (DefaultScrapeTimeout when zero). When read fails the gauge is
// left out of that scrape (the rest of /metrics is still served, and a
// missing series is what absent() alerts on) and onError, if set, is
// told why.
func NewScrapedGauge(opts prometheus.GaugeOpts, timeout time.Duration, read func(context.Context) (float64, error), onError func(error)) *ScrapedGauge {
	if timeout <= 0 {
		timeout = DefaultScrapeTimeout
	}
	name := prometheus.BuildFQName(opts.Namespace, opts.Subsystem, opts.Name)
	return &ScrapedGauge{
		desc: prometheus.NewDesc(name, opts.Help, nil, opts.ConstLabels),
		read: read, timeout: timeout, onError: onError,
	}
}

// Describe implements prometheus.Collector.
func (g *ScrapedGauge) Describe(ch chan<- *prometheus.Desc) { ch <- g.desc }

// Collect implements prometheus.Collector.
func (g *ScrapedGauge) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), g.timeout)
	defer cancel()
	v, err := g.read(ctx)
	if err != nil {
		if g.onError != nil {
			g.onError(err)
		}
		return
	}
	ch <- prometheus.MustNewConstMetric(g.desc, prometheus.GaugeValue, v)
}
