package main

import (
	"errors"
	"fmt"
	"math"
	"time"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// schedule is the arrival rate of an open-loop run: when each request is
// due, independently of when earlier ones were answered. It hands the
// same pacer to vegeta (HTTP) and ghz (gRPC), whose Pacer interfaces are
// identical, and it knows each request's intended send time so latency
// can be measured from there (wrk2's correction for coordinated
// omission) rather than from the moment a busy client got round to it.
type schedule struct {
	rate      float64       // requests per second at the start
	slope     float64       // linear: added req/s every second
	step      float64       // stepped: added req/s every stepEvery
	stepEvery time.Duration // stepped: length of one step
	limit     uint64        // stop after this many requests; 0 = no limit
}

func (s schedule) validate() error {
	switch {
	case s.rate <= 0 || math.IsInf(s.rate, 0) || math.IsNaN(s.rate):
		// vegeta reads a zero rate as "as fast as possible", which is a
		// closed loop in disguise: refuse it.
		return errors.New("-rate must be a positive number of requests per second")
	case s.slope != 0 && s.step != 0:
		return errors.New("-slope and -step are exclusive: pick a linear or a stepped ramp")
	case s.slope < 0 || s.step < 0:
		return errors.New("-slope and -step only ramp up")
	case s.step > 0 && s.stepEvery <= 0:
		return errors.New("-step needs a positive -step-every")
	}
	return nil
}

func (s schedule) String() string {
	switch {
	case s.slope > 0:
		return fmt.Sprintf("linear from %g req/s, +%g req/s every second", s.rate, s.slope)
	case s.step > 0:
		return fmt.Sprintf("stepped from %g req/s, +%g req/s every %s", s.rate, s.step, s.stepEvery)
	}
	return fmt.Sprintf("constant %g req/s", s.rate)
}

// pacer is vegeta's constant or linear pacer, or our stepped one, capped
// at the request limit and, when until > 0, at that elapsed time (ghz's
// own run duration cannot be combined with a pacer that stops first: its
// timer then writes to a closed channel).
func (s schedule) pacer(until time.Duration) vegeta.Pacer {
	var p vegeta.Pacer
	switch {
	case s.slope > 0:
		p = vegeta.LinearPacer{StartAt: s.constant(), Slope: s.slope}
	case s.step > 0:
		p = stepPacer{s}
	default:
		p = s.constant()
	}
	if s.limit > 0 || until > 0 {
		p = limitPacer{Pacer: p, limit: s.limit, until: until}
	}
	return p
}

// constant expresses a possibly fractional rate as vegeta's integer
// Freq per Per, to the microsecond.
func (s schedule) constant() vegeta.ConstantPacer {
	if s.rate == math.Trunc(s.rate) {
		return vegeta.ConstantPacer{Freq: int(s.rate), Per: time.Second}
	}
	return vegeta.ConstantPacer{Freq: 1, Per: time.Duration(float64(time.Second) / s.rate)}
}

// hits is how many requests are due by elapsed time t.
func (s schedule) hits(t time.Duration) float64 {
	x := t.Seconds()
	if x <= 0 {
		return 0
	}
	switch {
	case s.slope > 0:
		return s.slope*x*x/2 + s.rate*x
	case s.step > 0:
		period := s.stepEvery.Seconds()
		full := math.Floor(x / period)
		// Full periods: rate, rate+step, ..., rate+(full-1)*step.
		done := period * (full*s.rate + s.step*full*(full-1)/2)
		return done + (x-full*period)*(s.rate+full*s.step)
	}
	return s.rate * x
}

// intended is when request k (0-based) is due, as an offset from the
// start. Vegeta's pacers send request k once k+1 are due (the linear one
// sends the first at once), so this is the inverse of hits at k+1: never
// later than the real send, so the corrected latency is never below the
// one measured.
func (s schedule) intended(k uint64) time.Duration {
	n := float64(k + 1)
	switch {
	case s.slope > 0:
		if k == 0 {
			return 0
		}
		// slope/2·x² + rate·x = n
		x := (-s.rate + math.Sqrt(s.rate*s.rate+2*s.slope*n)) / s.slope
		return seconds(x)
	case s.step > 0:
		period := s.stepEvery.Seconds()
		done := 0.0
		for i := 0.0; ; i++ {
			r := s.rate + i*s.step
			if done+r*period >= n {
				return seconds(i*period + (n-done)/r)
			}
			done += r * period
		}
	}
	return seconds(n / s.rate)
}

// expected is how many requests a run of duration d (0 = unbounded)
// sends: the progress bar's length.
func (s schedule) expected(d time.Duration) uint64 {
	if d <= 0 {
		return s.limit
	}
	n := uint64(s.hits(d))
	if s.limit > 0 && s.limit < n {
		return s.limit
	}
	return n
}

func seconds(x float64) time.Duration { return time.Duration(x * float64(time.Second)) }

// stepPacer holds the rate constant within a step, like vegeta's constant
// pacer, and raises it by a fixed amount at every step. Vegeta has
// constant, linear and sine pacers but no stepped one.
type stepPacer struct{ s schedule }

func (p stepPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return p.s.intended(hits) - elapsed, false
}

func (p stepPacer) Rate(elapsed time.Duration) float64 {
	return p.s.rate + math.Floor(elapsed.Seconds()/p.s.stepEvery.Seconds())*p.s.step
}

// limitPacer stops the run after a number of requests (-requests) or a
// time, whichever comes first; zero means no such bound.
type limitPacer struct {
	vegeta.Pacer
	limit uint64
	until time.Duration
}

func (p limitPacer) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	if p.limit > 0 && hits >= p.limit {
		return 0, true
	}
	wait, stop := p.Pacer.Pace(elapsed, hits)
	if p.until > 0 && elapsed+wait >= p.until {
		return 0, true
	}
	return wait, stop
}
