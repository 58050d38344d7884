package main

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/sd"
)

// servicesResponse is GET /v1/services.
type servicesResponse struct {
	Services map[string][]sd.Instance `json:"services"`
}

// instancesResponse is GET /v1/services/{name}.
type instancesResponse struct {
	Instances []sd.Instance `json:"instances"`
}

// newHandler serves the registry's HTTP view of the instances registered
// in etcd (read through c, each read bounded by timeout), the Prometheus
// targets (prometheus.go) and the platform endpoints. It registers the
// registry's metrics with reg, which /metrics serves: RED per HTTP method
// (service "registry") and kitshop_registry_instances.
//
// A service nobody has registered answers 200 with an empty list, not
// 404: "no instance right now" is the normal state of a service between
// restarts, and a watcher polling it should not see it as an error.
func newHandler(c *clientv3.Client, ready *health.Readiness, reg *prometheus.Registry, logger log.Logger, timeout time.Duration) (http.Handler, error) {
	red, err := metrics.NewRED(reg, "registry")
	if err != nil {
		return nil, err
	}
	if _, err := metrics.Register(reg, newInstancesCollector(c, timeout, logger)); err != nil {
		return nil, err
	}
	v := view{client: c, timeout: timeout}
	r := httpx.NewRouter()
	get := []string{http.MethodGet, http.MethodHead}
	r.HandleFunc("/v1/services", v.services).Methods(get...)
	r.HandleFunc("/v1/services/{name}", v.instances).Methods(get...)
	r.HandleFunc(targetsPath, v.prometheusTargets).Methods(get...)
	httpx.Platform(r, ready, reg)
	return httpx.RequestID(httpx.AccessLog(logger)(httpx.Metrics(red)(httpx.Recover(logger)(r)))), nil
}

type view struct {
	client  *clientv3.Client
	timeout time.Duration
}

// errSlowEtcd marks the view's own bound on an etcd read expiring.
var errSlowEtcd = errors.New("etcd did not answer in time")

// read bounds an etcd read by the view's timeout. etcd calls wait for a
// connection, so during an outage that bound is what ends them: it is
// reported as the registry being unavailable (503), not as a gateway
// timeout, which a client's own deadline still gives.
func (v view) read(r *http.Request, f func(ctx context.Context) error) error {
	ctx, cancel := context.WithTimeoutCause(r.Context(), v.timeout, errSlowEtcd)
	defer cancel()
	err := f(ctx)
	if err != nil && errors.Is(context.Cause(ctx), errSlowEtcd) {
		return errs.Wrap(errs.Unavailable, sd.ReasonRegistryUnavailable, err, "service registry unavailable")
	}
	return err
}

func (v view) services(w http.ResponseWriter, r *http.Request) {
	if all, ok := v.listAll(w, r); ok {
		httpx.WriteJSON(w, http.StatusOK, servicesResponse{Services: all})
	}
}

// listAll reads every registered instance, or answers the registry's
// failure as a problem and reports false.
func (v view) listAll(w http.ResponseWriter, r *http.Request) (map[string][]sd.Instance, bool) {
	var all map[string][]sd.Instance
	err := v.read(r, func(ctx context.Context) (err error) {
		all, err = sd.ListAll(ctx, v.client)
		return err
	})
	if err != nil {
		httpx.WriteProblem(w, r, err)
		return nil, false
	}
	return all, true
}

func (v view) instances(w http.ResponseWriter, r *http.Request) {
	var list []sd.Instance
	err := v.read(r, func(ctx context.Context) (err error) {
		list, err = sd.List(ctx, v.client, mux.Vars(r)["name"])
		return err
	})
	if err != nil {
		httpx.WriteProblem(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, instancesResponse{Instances: list})
}

// etcdCheck is the readiness check: ready when etcd answers a
// linearizable read, which needs a leader, within timeout.
func etcdCheck(c *clientv3.Client, timeout time.Duration) health.Check {
	return func(ctx context.Context) error {
		ctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		if _, err := c.Get(ctx, sd.Prefix, clientv3.WithCountOnly()); err != nil {
			// The message is what /health/ready shows; the cause, which
			// can name addresses, only reaches the logs.
			return errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, err, "etcd not serving")
		}
		return nil
	}
}
