//go:build chaos

// The scenarios that take longer than make test's per-test budget (about
// a minute each with the platform's start): run them with
//
//	go test -race -count=1 -tags chaos -run 'TestChaos' -timeout 20m ./ops/e2e/

package e2e

import (
	"strings"
	"testing"
)

// runScenario runs one chaos scenario with shortened phases against a
// fresh make run platform on Postgres and requires its invariants to hold
// and the platform to stay up.
func runScenario(t *testing.T, scenario string, args ...string) string {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the whole platform under load")
	}
	bin := chaosBinaries(t)
	m := startMadeRun(t, bin["ops/launcher"], chaosDB(t))
	code, out := m.chaos(t, bin, scenario, args...)
	t.Logf("chaos %s:\n%s", scenario, out)
	if code != 0 || !strings.Contains(out, "INVARIANTS HELD") {
		t.Fatalf("chaos %s exited %d", scenario, code)
	}
	m.alive(t)
	return out
}

// TestChaosPartitionUnderLoad: a products instance behind the fault
// proxy, registered at the proxy's address, is blackholed while a second
// one serves.
func TestChaosPartitionUnderLoad(t *testing.T) {
	runScenario(t, "partition", "-warmup=3s", "-duration=8s", "-settle=5s")
}

// TestChaosPartitionDropUnderLoad: the same instance's connections reset
// instead (a REJECT rather than a DROP).
func TestChaosPartitionDropUnderLoad(t *testing.T) {
	runScenario(t, "partition", "-mode=drop", "-warmup=3s", "-duration=8s", "-settle=5s")
}

// TestChaosPaymentsSlowUnderLoad: payments answers 2 s late (the proxy's
// latency), then is rolled back to a normal instance.
func TestChaosPaymentsSlowUnderLoad(t *testing.T) {
	runScenario(t, "payments-slow", "-warmup=3s", "-duration=8s", "-settle=5s")
}

// TestChaosEtcdDownUnderLoad: the registry frozen (SIGSTOP) for longer
// than the leases' TTL (3 s here), then resumed.
func TestChaosEtcdDownUnderLoad(t *testing.T) {
	runScenario(t, "etcd-down", "-warmup=3s", "-duration=8s", "-settle=8s")
}

// TestChaosRollingRestartUnderLoad: `ops/rollout restart all` through the
// launcher while the journey mix runs; the budget is zero.
func TestChaosRollingRestartUnderLoad(t *testing.T) {
	runScenario(t, "rolling-restart", "-warmup=3s", "-settle=5s")
}
