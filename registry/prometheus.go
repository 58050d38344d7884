package main

import (
	"cmp"
	"context"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/sd"
)

// targetsPath serves Prometheus HTTP service discovery: the scrape
// targets of the platform, from what is registered in etcd, so that a new
// instance is scraped without a configuration change
// (ops/prometheus/prometheus.yml).
const targetsPath = "/v1/prometheus/targets"

// targetGroup is one entry of Prometheus's http_sd format: a JSON array of
// {"targets": ["host:port"], "labels": {...}}.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// Target labels. job is Prometheus's own: a target's label wins over the
// scrape config's job_name, which is how the registry's own entry gets
// job="registry" in the one scrape config.
const (
	labelService    = "service"
	labelInstanceID = "instance_id"
	labelVersion    = "version"
	labelJob        = "job"
	registryJob     = "registry"
)

// prometheusTargets answers the scrape targets: one group per registered
// instance that has an HTTP address (where /metrics is), labelled with its
// service, instance id and version, plus the registry itself (job
// "registry") at the address the caller reached it at, which is the
// address Prometheus can scrape it at. An etcd outage is a 503 problem:
// Prometheus then keeps the targets it had, rather than dropping them all.
func (v view) prometheusTargets(w http.ResponseWriter, r *http.Request) {
	if all, ok := v.listAll(w, r); ok {
		httpx.WriteJSON(w, http.StatusOK, targetGroups(all, r.Host))
	}
}

// targetGroups is all as http_sd groups, in a stable order (service, then
// instance id), plus self, the registry's own address ("" for none).
func targetGroups(all map[string][]sd.Instance, self string) []targetGroup {
	groups := make([]targetGroup, 0, len(all)+1) // [] rather than null when empty
	if self != "" {
		groups = append(groups, targetGroup{Targets: []string{self},
			Labels: map[string]string{labelJob: registryJob, labelService: registryJob}})
	}
	var instances []sd.Instance
	for _, list := range all {
		for _, in := range list {
			if in.HTTPAddr != "" {
				instances = append(instances, in)
			}
		}
	}
	slices.SortFunc(instances, func(a, b sd.Instance) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	for _, in := range instances {
		groups = append(groups, targetGroup{Targets: []string{in.HTTPAddr}, Labels: map[string]string{
			labelService: in.Name, labelInstanceID: in.ID, labelVersion: in.Version,
		}})
	}
	return groups
}

// maxServiceLabels bounds the service label of kitshop_registry_instances:
// a platform has a handful of services, but anyone who can write to etcd
// can invent names. Names beyond it are counted under otherServices.
const (
	maxServiceLabels = 64
	otherServices    = "other"
)

// instancesCollector exports
//
//	kitshop_registry_instances{service}
//
// the instances registered per service, read from etcd at scrape time
// (bounded by timeout). A service seen once keeps its series at 0 when
// its last instance goes, so "no instance" is a value an alert can see,
// not a missing series. When etcd cannot be read the gauge is left out of
// the scrape, whose other metrics (and up) still say the registry runs.
type instancesCollector struct {
	client  *clientv3.Client
	timeout time.Duration
	logger  log.Logger
	desc    *prometheus.Desc

	mu   sync.Mutex
	seen map[string]bool // service labels exported so far; guarded by mu
}

func newInstancesCollector(c *clientv3.Client, timeout time.Duration, logger log.Logger) *instancesCollector {
	return &instancesCollector{
		client: c, timeout: timeout, logger: logger, seen: map[string]bool{},
		desc: prometheus.NewDesc("kitshop_registry_instances",
			"Instances registered in the registry, per service.", []string{labelService}, nil),
	}
}

func (c *instancesCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *instancesCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	all, err := sd.ListAll(ctx, c.client)
	if err != nil {
		_ = level.Warn(c.logger).Log("msg", "kitshop_registry_instances left out of the scrape: etcd unreadable", "err", err)
		return
	}
	for service, n := range c.counts(all) {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(n), service)
	}
}

// counts is the number of instances per service label, with every label
// seen before at 0 when it has none now.
func (c *instancesCollector) counts(all map[string][]sd.Instance) map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.seen))
	for s := range c.seen {
		out[s] = 0
	}
	names := make([]string, 0, len(all))
	for name := range all {
		names = append(names, name)
	}
	slices.Sort(names) // the same names win the bounded labels every time
	for _, name := range names {
		label := name
		if !c.seen[name] {
			if len(c.seen) >= maxServiceLabels {
				label = otherServices
			}
			c.seen[label] = true
		}
		out[label] += len(all[name])
	}
	return out
}
