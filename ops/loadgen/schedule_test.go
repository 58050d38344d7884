package main

import (
	"math"
	"testing"
	"time"
)

func TestIntendedInvertsHits(t *testing.T) {
	for _, s := range []schedule{
		{rate: 50},
		{rate: 2.5},
		{rate: 10, slope: 4},
		{rate: 10, step: 5, stepEvery: 2 * time.Second},
	} {
		for _, k := range []uint64{1, 7, 99, 1000, 12345} {
			at := s.intended(k)
			// Request k is due when k+1 requests are due.
			if got := s.hits(at); math.Abs(got-float64(k+1)) > 1e-3 {
				t.Errorf("%s: hits(intended(%d)=%s) = %.4f, want %d", s, k, at, got, k+1)
			}
			if s.intended(k+1) < at {
				t.Errorf("%s: intended is not increasing at %d", s, k)
			}
		}
	}
}

func TestStepPacerHoldsThenRaisesTheRate(t *testing.T) {
	s := schedule{rate: 10, step: 10, stepEvery: time.Second}
	p := s.pacer(0)
	if r := p.Rate(500 * time.Millisecond); r != 10 {
		t.Errorf("rate in the first step = %g, want 10", r)
	}
	if r := p.Rate(2500 * time.Millisecond); r != 30 {
		t.Errorf("rate in the third step = %g, want 30", r)
	}
	// The first second sends 10, the next 20: request 10 is due at 1.05s.
	if wait, stop := p.Pace(time.Second, 10); stop || wait != 50*time.Millisecond {
		t.Errorf("Pace(1s, 10) = %s, %v; want 50ms, false", wait, stop)
	}
	if got := s.expected(3 * time.Second); got != 60 {
		t.Errorf("expected(3s) = %d, want 10+20+30", got)
	}
}

func TestLimitPacerStopsAtTheCountOrTheTime(t *testing.T) {
	p := schedule{rate: 100, limit: 5}.pacer(0)
	if _, stop := p.Pace(0, 4); stop {
		t.Error("stopped before the 5th request")
	}
	if _, stop := p.Pace(0, 5); !stop {
		t.Error("did not stop after 5 requests")
	}
	p = schedule{rate: 100}.pacer(time.Second)
	if _, stop := p.Pace(980*time.Millisecond, 98); stop {
		t.Error("stopped before the deadline")
	}
	if _, stop := p.Pace(995*time.Millisecond, 99); !stop {
		t.Error("would send past the deadline")
	}
	if got := (schedule{rate: 100, limit: 5}).expected(10 * time.Second); got != 5 {
		t.Errorf("expected = %d, want the limit", got)
	}
}
