package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/ops/launcher/control"
)

// exerciseControl drives a running `make run` (TestMakeRun's) through its
// control socket: an extra users instance starts on ephemeral ports with
// its version, registers, is killed (SIGKILL) and a second one stopped
// (SIGTERM), and the platform stays up through both expected exits; the
// fixed-port processes cannot be doubled. registered counts the users
// instances the registry lists.
func exerciseControl(t *testing.T, socket string, registered func() int, pids map[string]int) {
	t.Helper()
	fi, err := os.Stat(socket)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket %s: %v %v, want mode 0600", socket, fi, err)
	}
	c, err := control.Dial(socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	all, err := c.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range all {
		if in.PID != pids[in.Service] || in.HTTPAddr == "" {
			t.Errorf("listed %+v, want the pid the launcher logged (%d) and an address", in, pids[in.Service])
		}
	}
	for _, svc := range []string{"gateway", "registry", "bogus"} {
		if _, err := c.Start(ctx, svc); err == nil {
			t.Errorf("start %s: accepted", svc)
		}
	}

	startUsers := func(version string) control.Instance {
		t.Helper()
		in, err := c.Start(ctx, "users", "KITSHOP_SERVICE_VERSION="+version)
		if err != nil {
			t.Fatal(err)
		}
		if in, err = c.WaitAddrs(ctx, in.PID); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(in.HTTPAddr, "127.0.0.1:") || in.Version != version || !in.Extra {
			t.Errorf("started %+v, want an extra instance on loopback with version %s", in, version)
		}
		return in
	}
	first := startUsers("v2")
	kittest.WaitFor(t, registeredBound, "the extra users instance registered", func() bool { return registered() == 2 })
	if _, err := c.Kill(ctx, first.PID); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if err := syscall.Kill(first.PID, 0); err == nil {
		t.Errorf("pid %d still exists after kill", first.PID)
	}
	second := startUsers("v3")
	kittest.WaitFor(t, registeredBound, "the second extra instance registered", func() bool { return registered() >= 2 })
	if _, err := c.Stop(ctx, second.PID); err != nil {
		t.Fatalf("stop: %v", err)
	}
	// The graceful stop deregistered it; the killed one's lease expires.
	kittest.WaitFor(t, registeredBound, "back to one users instance", func() bool { return registered() == 1 })
	left, err := c.List(ctx, "users")
	if err != nil || len(left) != 1 || left[0].PID != pids["users"] {
		t.Errorf("users after kill and stop: %+v, %v: want only the original", left, err)
	}
	if _, err := c.Stop(ctx, first.PID); err == nil || !strings.Contains(err.Error(), "no instance") {
		t.Errorf("stop of an ended pid: %v", err)
	}
}
