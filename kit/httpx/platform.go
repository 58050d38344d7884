package httpx

import (
	"net/http"

	"github.com/gorilla/mux"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/health"
)

// Platform mounts the endpoints every kitshop process serves on its HTTP
// port: GET /health/live (naming config.BuildVersion, the version the
// image was built with), GET /health/ready (from ready) and GET /metrics
// (from gatherer; nil means prometheus.DefaultGatherer).
func Platform(router *mux.Router, ready *health.Readiness, gatherer prometheus.Gatherer) {
	if gatherer == nil {
		gatherer = prometheus.DefaultGatherer
	}
	get := []string{http.MethodGet, http.MethodHead}
	router.Handle("/health/live", health.LiveHandler(config.BuildVersion())).Methods(get...)
	router.Handle("/health/ready", ready.ReadyHandler()).Methods(get...)
	router.Handle("/metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{
		// A failing collector should not hide every other metric.
		ErrorHandling: promhttp.ContinueOnError,
	})).Methods(get...)
}
