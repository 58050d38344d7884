package chaos

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/ops/launcher/control"
	"github.com/kitshop/kitshop/ops/rollout/restart"
)

// TestRestartCommandAgainstMakeRun is `go run ./ops/rollout restart`
// against make run's launcher (in-memory stores): `restart all` replaces
// every service's instance through the control socket, one at a time,
// each replacement registered before its predecessor is stopped; the
// launcher takes the stops as expected and keeps the platform up; the
// gateway is refused with its reason.
func TestRestartCommandAgainstMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole platform")
	}
	bin := kittestBuildLauncher(t)
	m := startMadeRun(t, bin, "")
	c, err := control.Dial(m.socket)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	before, err := c.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	args := []string{"-control", m.socket, "-cacert", m.tlsDir + "/ca.pem", "-ready-timeout=60s", "-stop-timeout=30s", "all"}
	if code := restart.Main(ctx, args, &out, &errOut); code != 0 {
		t.Fatalf("restart all exited %d: %s\n%s", code, errOut.String(), out.String())
	}
	t.Logf("restart all:\n%s", out.String())
	m.alive(t)

	after, err := c.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, svc := range restart.Services {
		old := pidsOf(before, svc)
		now := pidsOf(after, svc)
		if len(now) != len(old) || slices.ContainsFunc(now, func(pid int) bool { return slices.Contains(old, pid) }) {
			t.Errorf("%s: pids %v before, %v after: want as many, all new", svc, old, now)
		}
		for _, pid := range old {
			if !gone(pid) {
				t.Errorf("%s: old pid %d still exists", svc, pid)
			}
		}
		// Each replacement registered before its predecessor stopped.
		steps := stepsOf(out.String(), svc)
		if !slices.Equal(steps, []string{"start", "registered", "stop", "stopped"}) {
			t.Errorf("%s: steps %v", svc, steps)
		}
	}
	if pidsOf(after, "gateway")[0] != pidsOf(before, "gateway")[0] || pidsOf(after, "registry")[0] != pidsOf(before, "registry")[0] {
		t.Error("restart all touched the gateway or the registry")
	}

	errOut.Reset()
	if code := restart.Main(ctx, []string{"-control", m.socket, "gateway"}, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "SO_REUSEPORT") {
		t.Errorf("restart gateway: exit %d, %q; want 2 and the reason", code, errOut.String())
	}
}

func kittestBuildLauncher(t *testing.T) string {
	return chaosBinaries(t)["ops/launcher"]
}

func pidsOf(ins []control.Instance, svc string) []int {
	var out []int
	for _, in := range ins {
		if in.Service == svc {
			out = append(out, in.PID)
		}
	}
	return out
}

// stepsOf lists the steps restart logged for svc, in order.
func stepsOf(log, svc string) []string {
	var out []string
	for _, l := range strings.Split(log, "\n") {
		f := strings.Fields(l)
		if len(f) >= 3 && f[1] == svc {
			out = append(out, f[2])
		}
	}
	return out
}
