package metrics

import "github.com/prometheus/client_golang/prometheus"

// AttemptsVecForTest exposes the attempts counter to the external tests.
func (r *RED) AttemptsVecForTest() *prometheus.CounterVec { return r.attempts }
