//go:build chaos

// The blue-green scenario takes about 40 s alone and 54 s under -race on
// this machine (most of it launching the platform), too close to the 60 s
// budget of a default-run test on a loaded CI, so it runs with
// `make chaos`:
//
//	go test -race -tags chaos -run TestBlueGreenSwitchUnderLoad -timeout 10m ./ops/e2e/
//
// kit/sd's TestSplitFollowsTheRolloutKey covers the switch and back in
// the default run, on real gRPC servers and etcd.

package e2e

import (
	"context"
	"crypto/tls"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tlsx"
	switchover "github.com/kitshop/kitshop/ops/rollout/switch"
)

// TestBlueGreenSwitchUnderLoad: products v1 (blue) has all the traffic
// and v2 (green) is running idle; `rollout switch products v2` moves all
// of it at once, and switching back is as fast. Under a steady load from
// 40 clients, not one request may fail.
func TestBlueGreenSwitchUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the platform's binaries; not in -short")
	}
	p, keys := roPlatform(t)
	load := startRoLoad(t, p, keys, roProductIDs(t, p), roRate)
	kittest.WaitFor(t, 30*time.Second, "steady load", func() bool { sent, _ := load.totals(); return sent >= 3*roRate })
	if n := roAttempts(t, p, "v2", ""); n != 0 {
		t.Fatalf("idle green got %v attempts before the switch", n)
	}
	switchTo := func(to, from string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		began := time.Now()
		if code, out := roTool(p, switchover.Main, ctx, "products", to); code != 0 {
			t.Fatalf("switch to %s: exit %d\n%s", to, code, out)
		}
		// Applied when, over half a second of load (~30 requests), the
		// old version's count stands still while the new one's grows.
		kittest.WaitFor(t, 10*time.Second, "all traffic on "+to, func() bool {
			f, n := roAttempts(t, p, from, ""), roAttempts(t, p, to, "")
			time.Sleep(500 * time.Millisecond)
			return roAttempts(t, p, from, "") == f && roAttempts(t, p, to, "") > n
		})
		t.Logf("t+%4.1fs switched to %s: %s idle within %s of the command",
			load.since().Seconds(), to, from, time.Since(began).Round(10*time.Millisecond))
		time.Sleep(2 * time.Second) // a little load on the new version alone
	}
	switchTo("v2", "v1")
	switchTo("v1", "v2")
	load.Stop()
	sent, failed := load.totals()
	t.Logf("%d requests, %d failed\n%s", sent, failed, load.report())
	if failed != 0 {
		t.Errorf("%d of %d requests failed across two blue-green switches, want none", failed, sent)
	}
}

// roRegistryTLS is the test's client identity towards the registry.
func roRegistryTLS(t *testing.T, p *platform) *tls.Config {
	t.Helper()
	id, err := tlsx.Load(p.certs["gateway"])
	if err != nil {
		t.Fatal(err)
	}
	return id.ClientConfig("registry")
}
