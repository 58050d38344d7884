package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
)

// startShell runs script under start and returns once the script has
// run its first line (its traps are set): the script touches "$0".
func startShell(t *testing.T, name, script string, exited chan *child) *child {
	t.Helper()
	marker := filepath.Join(t.TempDir(), name)
	c, err := start(name, exec.Command("/bin/sh", "-c", script, marker), exited)
	if err != nil {
		t.Fatal(err)
	}
	kittest.WaitFor(t, 10*time.Second, name+" started", func() bool {
		_, err := os.Stat(marker)
		return err == nil
	})
	return c
}

// Ctrl-C stops children in reverse order; one that ignores SIGTERM is
// killed after the bound, and one that dies of it rather than shutting
// down and exiting 0 is reported, so the launcher's exit says so.
func TestStopAllReportsUncleanStops(t *testing.T) {
	if _, err := exec.LookPath("/bin/sh"); err != nil {
		t.Skip("no /bin/sh")
	}
	exited := make(chan *child, 3)
	// The background sleep writes nowhere, so it does not hold the
	// output pipe; the trap ends it.
	clean := startShell(t, "clean", `trap 'kill $!; exit 0' TERM; touch "$0"; sleep 30 >/dev/null 2>&1 & wait`, exited)
	dies := startShell(t, "dies", `touch "$0"; exec sleep 30`, exited)
	// An ignored signal stays ignored across exec.
	deaf := startShell(t, "deaf", `trap '' TERM; touch "$0"; exec sleep 30`, exited)

	began := time.Now()
	err := stopAll([]*child{clean, dies, deaf}, 500*time.Millisecond)
	if d := time.Since(began); d > 10*time.Second {
		t.Errorf("stopAll took %v", d)
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	if !strings.Contains(msg, "deaf did not stop within 500ms and was killed") || !strings.Contains(msg, "dies stopped with signal: terminated") ||
		strings.Contains(msg, "clean") {
		t.Errorf("stopAll: %v", err)
	}
	for _, c := range []*child{clean, dies, deaf} {
		if !c.hasExited() {
			t.Errorf("%s still running", c.name)
		}
	}
	if clean.cmd.ProcessState.ExitCode() != 0 {
		t.Errorf("clean: %s", clean.status())
	}
}
