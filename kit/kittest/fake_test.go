package kittest

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
)

// fakeTB records what a helper reports instead of failing the real test,
// so the helpers' failure paths can be tested. Fatalf ends the calling
// goroutine as testing.T's does; runHelper gives each call its own.
type fakeTB struct {
	testing.TB // for the unexported method; every method used is overridden
	mu         sync.Mutex
	failures   []string
	cleanups   []func()
}

func (f *fakeTB) Helper() {}

func (f *fakeTB) Errorf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.failures = append(f.failures, fmt.Sprintf(format, args...))
}

func (f *fakeTB) Fatalf(format string, args ...any) {
	f.Errorf(format, args...)
	runtime.Goexit()
}

func (f *fakeTB) Cleanup(fn func()) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups = append(f.cleanups, fn)
}

// finish runs the cleanups last-in first-out, as testing does.
func (f *fakeTB) finish() {
	f.mu.Lock()
	fns := slices.Clone(f.cleanups)
	f.mu.Unlock()
	for _, fn := range slices.Backward(fns) {
		fn()
	}
}

func (f *fakeTB) reported() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.failures)
}

// runHelper calls fn with a fake TB on its own goroutine, then runs the
// cleanups fn registered on that goroutine (as testing does, so the
// goroutine is still counted while they run), and returns what was
// reported. fatal says whether fn was ended by Fatalf.
func runHelper(fn func(tb testing.TB)) (failures []string, fatal bool) {
	f := &fakeTB{}
	returned := false
	done := make(chan struct{})
	go func() {
		defer close(done)
		defer f.finish()
		fn(f)
		returned = true
	}()
	<-done
	return f.reported(), !returned
}

// wantPass fails t if fn reported anything.
func wantPass(t *testing.T, fn func(tb testing.TB)) {
	t.Helper()
	if failures, _ := runHelper(fn); len(failures) != 0 {
		t.Fatalf("helper failed a test it should pass: %q", failures)
	}
}

// wantFatal fails t unless fn ended with Fatalf with a message containing
// every one of parts.
func wantFatal(t *testing.T, fn func(tb testing.TB), parts ...string) {
	t.Helper()
	failures, fatal := runHelper(fn)
	if !fatal || len(failures) != 1 {
		t.Fatalf("helper reported %q (fatal %v), want one fatal failure", failures, fatal)
	}
	for _, p := range parts {
		if !strings.Contains(failures[0], p) {
			t.Fatalf("failure %q does not mention %q", failures[0], p)
		}
	}
}
