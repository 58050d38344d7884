package restart

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakePlatform registers a started instance after registerAfter polls (never
// when negative) and deregisters a stopped one at once.
type fakePlatform struct {
	mu            sync.Mutex
	next          int
	running       []string
	registered    map[string]int // instance -> polls left before it is listed
	registerAfter int
	minRegistered int // lowest count seen once the restart began
	stopped       []string
}

type fakeInstance string

func (f fakeInstance) String() string { return string(f) }

func newFake(n int) *fakePlatform {
	f := &fakePlatform{registered: map[string]int{}, minRegistered: n}
	for range n {
		id := f.add()
		f.registered[id] = 0
	}
	return f
}

func (f *fakePlatform) add() string {
	f.next++
	id := fmt.Sprintf("i%d", f.next)
	f.running = append(f.running, id)
	return id
}

func (f *fakePlatform) Running(string) []Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Instance
	for _, id := range f.running {
		out = append(out, fakeInstance(id))
	}
	return out
}

func (f *fakePlatform) Start(context.Context, string) (Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := f.add()
	f.registered[id] = f.registerAfter
	return fakeInstance(id), nil
}

func (f *fakePlatform) Registered(context.Context, string) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for id, left := range f.registered {
		switch {
		case left == 0:
			n++
		case left > 0:
			f.registered[id] = left - 1
		}
	}
	f.minRegistered = min(f.minRegistered, n)
	return n, nil
}

func (f *fakePlatform) Stop(_ context.Context, in Instance) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := in.String()
	delete(f.registered, id)
	f.running = slices.DeleteFunc(f.running, func(s string) bool { return s == id })
	f.stopped = append(f.stopped, id)
	return nil
}

func TestServiceReplacesEachInstanceAfterItsReplacementRegisters(t *testing.T) {
	f := newFake(2)
	f.registerAfter = 3
	var steps []string
	err := Service(context.Background(), f, "users", Options{Poll: time.Millisecond, Log: func(e Event) {
		steps = append(steps, e.Step+" "+e.Instance)
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"start i3", "registered i3", "stop i1", "stopped i1", "start i4", "registered i4", "stop i2", "stopped i2"}
	if !slices.Equal(steps, want) {
		t.Errorf("steps %q, want %q", steps, want)
	}
	if !slices.Equal(f.running, []string{"i3", "i4"}) || f.minRegistered < 2 {
		t.Errorf("running %v, lowest registered count %d: want i3, i4 and never below 2", f.running, f.minRegistered)
	}
}

func TestServiceLeavesTheOldInstanceWhenTheReplacementNeverRegisters(t *testing.T) {
	f := newFake(2)
	f.registerAfter = -1
	err := Service(context.Background(), f, "orders", Options{Poll: time.Millisecond, ReadyTimeout: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "not registered") || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want a replacement that did not register in time", err)
	}
	if len(f.stopped) != 0 {
		t.Errorf("stopped %v: no old instance may stop before its replacement registered", f.stopped)
	}
}

func TestServiceWithNothingRunning(t *testing.T) {
	if err := Service(context.Background(), newFake(0), "payments", Options{}); !errors.Is(err, ErrNothingRunning) {
		t.Fatalf("err %v, want ErrNothingRunning", err)
	}
}
