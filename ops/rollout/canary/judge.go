package canary

import (
	"fmt"
	"math"
	"time"
)

// Sample is what the gateways saw of one version during the current
// step: attempts, failed attempts, and the p99 of their latency.
type Sample struct {
	Requests float64
	Errors   float64
	// P99 in seconds; NaN when nothing was observed.
	P99 float64
}

// ErrorRate is Errors/Requests, 0 without requests.
func (s Sample) ErrorRate() float64 {
	if s.Requests <= 0 {
		return 0
	}
	return s.Errors / s.Requests
}

// Thresholds say how much worse than the stable version a canary may be.
type Thresholds struct {
	// ErrorMargin: the canary's error rate may exceed the stable one's
	// by this much (absolute, 0.01 = one point).
	ErrorMargin float64
	// P99Factor and P99Slack: the canary's p99 may reach the stable p99
	// times P99Factor plus P99Slack.
	P99Factor float64
	P99Slack  time.Duration
	// MinRequests is the fewest canary attempts a step is judged on.
	MinRequests float64
}

// Actions a controller takes.
const (
	ActionStart    = "start"
	ActionHold     = "hold"
	ActionAdvance  = "advance"
	ActionPromote  = "promote"
	ActionRollback = "rollback"
)

// Judge decides on the current step. An error rate beyond the margin
// rolls back as soon as there are enough canary requests to say so; the
// p99, noisier (a new instance's first calls open connections), only at
// the end of the step. A step that ended without enough canary traffic to
// judge is held until expired, then rolled back: a canary is never
// promoted blind.
func Judge(canary, stable Sample, th Thresholds, stepOver, expired bool) (action, reason string) {
	enough := canary.Requests >= th.MinRequests
	if enough {
		cr, sr := canary.ErrorRate(), stable.ErrorRate()
		if cr > sr+th.ErrorMargin {
			return ActionRollback, fmt.Sprintf("canary error rate %.2f%% > stable %.2f%% + %.2f%%", 100*cr, 100*sr, 100*th.ErrorMargin)
		}
	}
	if !stepOver {
		return ActionHold, fmt.Sprintf("observing (%.0f canary requests)", canary.Requests)
	}
	if !enough {
		if expired {
			return ActionRollback, fmt.Sprintf("only %.0f canary requests (need %.0f) to judge by", canary.Requests, th.MinRequests)
		}
		return ActionHold, fmt.Sprintf("waiting for traffic: %.0f of %.0f canary requests", canary.Requests, th.MinRequests)
	}
	if !math.IsNaN(canary.P99) && !math.IsNaN(stable.P99) && stable.Requests > 0 {
		limit := stable.P99*th.P99Factor + th.P99Slack.Seconds()
		if canary.P99 > limit {
			return ActionRollback, fmt.Sprintf("canary p99 %s > %s (stable %s × %.2g + %s)",
				secs(canary.P99), secs(limit), secs(stable.P99), th.P99Factor, th.P99Slack)
		}
	}
	return ActionAdvance, fmt.Sprintf("canary within thresholds: error rate %.2f%% vs %.2f%%, p99 %s vs %s",
		100*canary.ErrorRate(), 100*stable.ErrorRate(), secs(canary.P99), secs(stable.P99))
}

func secs(s float64) string {
	if math.IsNaN(s) {
		return "n/a"
	}
	return time.Duration(s * float64(time.Second)).Round(100 * time.Microsecond).String()
}
