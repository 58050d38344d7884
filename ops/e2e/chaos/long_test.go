//go:build chaos

// The scenarios kept out of make test: those whose failure counts depend
// most on timing on a loaded machine (a blackholed instance's share of
// timeouts, leases expiring around a frozen etcd). make chaos runs them.

package chaos

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
