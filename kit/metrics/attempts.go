package metrics

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Attempt metrics, one observation per attempt a client makes on a
// backend instance (the RED of transport "client" counts whole calls,
// retries included, so a failure answered by a retry elsewhere never
// shows there):
//
//	kitshop_backend_attempts_total{service,backend,backend_version,code}
//	kitshop_backend_attempt_duration_seconds{service,backend,backend_version}
//
// backend_version is the version the called instance registered (kit/sd
// Instance.Version), so a canary controller can compare the error rate
// and p99 of a new version with the stable one's, as the caller saw them.
// It is not named "version": Prometheus's registry discovery already
// attaches the scraped process's own version under that name.
const (
	AttemptsName        = "kitshop_backend_attempts_total"
	AttemptDurationName = "kitshop_backend_attempt_duration_seconds"
	LabelBackendVersion = "backend_version"
)

// MaxVersions bounds the backend_version values recorded per backend; a
// registry with more live versions than this is a mistake, and later
// ones are recorded as VersionOther.
const MaxVersions = 16

// Version label values for what cannot be recorded as itself.
const (
	VersionOther   = "other"
	VersionUnknown = "unknown" // an instance that registered no version
)

func newAttemptVecs() (*prometheus.CounterVec, *prometheus.HistogramVec) {
	return prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: AttemptsName,
			Help: "Attempts made on backend instances, by the instance's version and outcome code.",
		}, []string{"service", "backend", LabelBackendVersion, "code"}),
		prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    AttemptDurationName,
			Help:    "Latency of attempts on backend instances in seconds, by the instance's version, failures included.",
			Buckets: Buckets,
		}, []string{"service", "backend", LabelBackendVersion})
}

// Attempts records one backend's attempts by version. Safe for
// concurrent use; nil records nothing.
type Attempts struct {
	red     *RED
	backend string

	mu       sync.Mutex
	versions map[string]bool
}

// Attempts returns the recorder of backend's attempts, or nil for a RED
// not built by NewRED.
func (r *RED) Attempts(backend string) *Attempts {
	if r == nil || r.attempts == nil {
		return nil
	}
	return &Attempts{red: r, backend: backend, versions: map[string]bool{}}
}

// Observe records one attempt on an instance of version.
func (a *Attempts) Observe(version, code string, d time.Duration) {
	if a == nil {
		return
	}
	v := a.label(version)
	a.red.attempts.WithLabelValues(a.red.service, a.backend, v, code).Inc()
	a.red.attemptDur.WithLabelValues(a.red.service, a.backend, v).Observe(d.Seconds())
}

func (a *Attempts) label(version string) string {
	if version == "" {
		return VersionUnknown
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.versions[version] {
		return version
	}
	if len(a.versions) >= MaxVersions {
		return VersionOther
	}
	a.versions[version] = true
	return version
}
