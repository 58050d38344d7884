package kittest

import (
	"runtime"
	"testing"
	"time"
)

// goroutineGrace is how long CheckGoroutines lets goroutines wind down;
// a variable so kittest's own test of a leak need not wait this long.
var goroutineGrace = 5 * time.Second

// CheckGoroutines fails the test if, when it ends, more goroutines run
// than when CheckGoroutines was called. Servers and clients wind down
// asynchronously after Stop/Close, so the count is given up to 5s to
// fall back before the failure, which lists every goroutine's stack.
//
// Call it first in the test: cleanups run last-in first-out, so the check
// then runs after every other cleanup has stopped what it started. Tests
// using it must not run in parallel with others (t.Parallel), whose
// goroutines would be counted too.
func CheckGoroutines(t testing.TB) {
	t.Helper()
	before := runtime.NumGoroutine()
	t.Cleanup(func() {
		deadline := time.Now().Add(goroutineGrace)
		for runtime.NumGoroutine() > before {
			if time.Now().After(deadline) {
				buf := make([]byte, 1<<20)
				n := runtime.Stack(buf, true)
				t.Errorf("goroutine leak: %d before, %d after\n%s", before, runtime.NumGoroutine(), buf[:n])
				return
			}
			time.Sleep(10 * time.Millisecond)
		}
	})
}
