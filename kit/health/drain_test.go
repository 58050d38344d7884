package health

import (
	"testing"
	"time"
)

func closed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	case <-time.After(50 * time.Millisecond):
		return false
	}
}

func TestDrainSignalClosesOnlyWhenReadinessIsLost(t *testing.T) {
	if closed(DrainSignal(nil)) {
		t.Fatal("a nil readiness closed the signal")
	}
	r := New()
	ch := DrainSignal(r)
	r.SetReady(false)
	if closed(ch) {
		t.Fatal("not ready before ever being ready is start-up, not a drain")
	}
	r.SetReady(true)
	if closed(ch) {
		t.Fatal("closed while ready")
	}
	r.SetReady(false)
	if !closed(ch) {
		t.Fatal("not closed when readiness was lost")
	}
	r.SetReady(true)
	r.SetReady(false) // closing twice would panic
}
