package metrics

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// series holds one (transport, method)'s children of RED's vectors, each
// looked up the first time it is needed and kept: WithLabelValues hashes
// every label value under the vector's lock, three times per request on
// each side of a call, which was most of the cost of the metrics. A
// child is still made on first use, never before, so /metrics shows the
// same series as it would without the cache.
type series struct {
	red               *RED
	transport, method string // method already bounded

	gaugeOnce sync.Once
	gauge     prometheus.Gauge
	histOnce  sync.Once
	hist      prometheus.Observer

	codesMu sync.Mutex
	codes   atomic.Pointer[map[string]prometheus.Counter] // copied on write
}

func newSeries(r *RED, transport, method string) *series {
	return &series{red: r, transport: transport, method: method}
}

func (s *series) inFlight() prometheus.Gauge {
	s.gaugeOnce.Do(func() {
		s.gauge = s.red.InFlightVec.WithLabelValues(s.red.service, s.transport, s.method)
	})
	return s.gauge
}

func (s *series) duration() prometheus.Observer {
	s.histOnce.Do(func() {
		s.hist = s.red.DurationVec.WithLabelValues(s.red.service, s.transport, s.method)
	})
	return s.hist
}

func (s *series) requests(code string) prometheus.Counter {
	if m := s.codes.Load(); m != nil {
		if c, ok := (*m)[code]; ok {
			return c
		}
	}
	s.codesMu.Lock()
	defer s.codesMu.Unlock()
	old := s.codes.Load()
	if old != nil {
		if c, ok := (*old)[code]; ok {
			return c
		}
	}
	c := s.red.RequestsVec.WithLabelValues(s.red.service, s.transport, s.method, code)
	next := map[string]prometheus.Counter{code: c}
	if old != nil {
		for k, v := range *old {
			next[k] = v
		}
	}
	s.codes.Store(&next)
	return c
}

func (s *series) observe(code string, d time.Duration) {
	s.requests(code).Inc()
	s.duration().Observe(d.Seconds())
}

// start counts a request in flight and returns when it began.
func (s *series) start() time.Time {
	begin := time.Now()
	s.inFlight().Inc()
	return begin
}

// end stops counting the request begun at begin and records its outcome.
func (s *series) end(begin time.Time, code string) {
	s.inFlight().Dec()
	s.observe(code, time.Since(begin))
}
