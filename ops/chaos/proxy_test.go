package main

import (
	"bufio"
	"io"
	"net"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
)

// echoServer answers every line with itself.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

func newTestProxy(t *testing.T) *Proxy {
	t.Helper()
	kittest.CheckGoroutines(t)
	p, err := NewProxy(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// roundTrip sends a line on c and reads it back within bound.
func roundTrip(c net.Conn, r *bufio.Reader, bound time.Duration) (time.Duration, error) {
	_ = c.SetDeadline(time.Now().Add(bound))
	start := time.Now()
	if _, err := c.Write([]byte("ping\n")); err != nil {
		return 0, err
	}
	_, err := r.ReadString('\n')
	return time.Since(start), err
}

func dialProxy(t *testing.T, p *Proxy) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, bufio.NewReader(c)
}

func TestProxyPassesAndDelays(t *testing.T) {
	p := newTestProxy(t)
	c, r := dialProxy(t, p)
	if _, err := roundTrip(c, r, 10*time.Second); err != nil {
		t.Fatalf("pass: %v", err)
	}
	p.Set(ModeLatency, 300*time.Millisecond)
	took, err := roundTrip(c, r, 10*time.Second)
	if err != nil || took < 300*time.Millisecond {
		t.Fatalf("latency 300ms: took %v, %v; want at least the delay", took, err)
	}
}

func TestProxyBlackholeHoldsUntilHealed(t *testing.T) {
	p := newTestProxy(t)
	c, r := dialProxy(t, p)
	if _, err := roundTrip(c, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Set(ModeBlackhole, 0)
	if _, err := roundTrip(c, r, 300*time.Millisecond); err == nil {
		t.Fatal("an answer came through the partition")
	}
	// A new connection is accepted but goes nowhere.
	c2, r2 := dialProxy(t, p)
	if _, err := roundTrip(c2, r2, 300*time.Millisecond); err == nil {
		t.Fatal("a new connection got through the partition")
	}
	p.Set(ModePass, 0)
	// What was held is delivered once healed: the first line's echo.
	_ = c2.SetDeadline(time.Now().Add(10 * time.Second))
	if line, err := r2.ReadString('\n'); err != nil || line != "ping\n" {
		t.Fatalf("after healing: %q, %v", line, err)
	}
}

func TestProxyDropResetsConnections(t *testing.T) {
	p := newTestProxy(t)
	c, r := dialProxy(t, p)
	if _, err := roundTrip(c, r, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	p.Set(ModeDrop, 0)
	if _, err := roundTrip(c, r, 10*time.Second); err == nil {
		t.Fatal("an open connection survived drop")
	}
	c2, r2 := dialProxy(t, p)
	if _, err := roundTrip(c2, r2, 10*time.Second); err == nil {
		t.Fatal("a new connection was served in drop mode")
	}
}
