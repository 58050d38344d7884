package kittest

import (
	"net"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestWaitFor(t *testing.T) {
	var n atomic.Int32
	WaitFor(t, 5*time.Second, "three polls", func() bool { return n.Add(1) >= 3 })

	begin := time.Now()
	wantFatal(t, func(tb testing.TB) {
		WaitFor(tb, 100*time.Millisecond, "never", func() bool { return false })
	}, "timed out after 100ms waiting for never")
	if took := time.Since(begin); took < 100*time.Millisecond || took > 2*time.Second {
		t.Fatalf("timeout of 100ms took %v", took)
	}
}

func TestCheckGoroutines(t *testing.T) {
	defer func(g time.Duration) { goroutineGrace = g }(goroutineGrace)
	goroutineGrace = 200 * time.Millisecond

	// A goroutine that winds down within the grace period is no leak.
	wantPass(t, func(tb testing.TB) {
		CheckGoroutines(tb)
		go time.Sleep(50 * time.Millisecond)
	})

	stop := make(chan struct{})
	defer close(stop)
	failures, _ := runHelper(func(tb testing.TB) {
		CheckGoroutines(tb)
		// Many, so that goroutines other tests left winding down (HTTP
		// connections closing) cannot hide the leak from the count.
		for range 50 {
			go func() { <-stop }()
		}
	})
	if len(failures) != 1 || !strings.Contains(failures[0], "goroutine leak") ||
		!strings.Contains(failures[0], "TestCheckGoroutines") {
		t.Fatalf("leak reported as %q, want one failure naming the leaked goroutine's creator", failures)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	if host, _, err := net.SplitHostPort(addr); err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr = %q, want a 127.0.0.1 address", addr)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("something accepts on %s, want it free", addr)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("cannot bind the free address: %v", err)
	}
	l.Close()
}

func TestClock(t *testing.T) {
	start := time.Date(2030, 5, 17, 10, 30, 0, 0, time.UTC)
	c := NewClock(start)
	if !c.Now().Equal(start) {
		t.Fatalf("Now = %v, want %v", c.Now(), start)
	}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
				runtime.Gosched()
			}
		})
	}
	wg.Wait()
	if got := c.Now().Sub(start); got != 400*time.Second {
		t.Fatalf("advanced by %v, want 400s", got)
	}
	c.Advance(-time.Hour)
	if got := c.Now().Sub(start); got != 400*time.Second-time.Hour {
		t.Fatalf("after going back an hour: %v from start", got)
	}
}
