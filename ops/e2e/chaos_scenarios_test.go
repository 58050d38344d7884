//go:build chaos

// The scenarios kept out of make test: those whose failure counts depend
// most on timing on a loaded machine (a blackholed instance's share of
// timeouts, leases expiring around a frozen etcd), the Postgres restart
// (a cluster of its own) and the zero-budget rolling restart, until they
// have a record under CI load. make chaos runs them:
//
//	go test -race -count=1 -tags chaos -run 'TestChaos' -timeout 20m ./ops/e2e/

package e2e

import "testing"

// TestChaosPartitionUnderLoad: a products instance behind the fault
// proxy, registered at the proxy's address, is blackholed while a second
// one serves.
func TestChaosPartitionUnderLoad(t *testing.T) {
	runScenario(t, "partition", "-warmup=3s", "-duration=8s", "-settle=5s")
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
