package kittest

import (
	"testing"
	"time"
)

// maxPollInterval caps WaitFor's back-off: conditions that are expensive
// to check (an HTTP call, an etcd read) are not hammered, yet a condition
// that turns true is seen within this long.
const maxPollInterval = 50 * time.Millisecond

// WaitFor polls cond until it returns true, and fails the test when it
// still does not after timeout. what names the condition in the failure.
// Polling starts at 1ms and backs off, so fast conditions cost little
// time and slow ones little CPU.
func WaitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	interval := time.Millisecond
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", timeout, what)
		}
		time.Sleep(interval)
		interval = min(2*interval, maxPollInterval)
	}
}
