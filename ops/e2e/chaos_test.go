package e2e

import (
	"strings"
	"testing"
)

// TestChaosKillUnderLoad is `go run ./ops/chaos kill` against make run's
// platform on Postgres: a second orders instance is started through the
// launcher's socket, the first is killed with SIGKILL under the journey
// mix, and the scenario's invariants must hold (failed requests within
// budget, `orders check` clean); the platform stays up.
func TestChaosKillUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the whole platform under load")
	}
	bin := chaosBinaries(t)
	m := startMadeRun(t, bin["ops/launcher"], chaosDB(t))
	code, out := m.chaos(t, bin, "kill", "-warmup=2s", "-duration=4s", "-settle=2s")
	t.Logf("chaos kill:\n%s", out)
	if code != 0 || !strings.Contains(out, "INVARIANTS HELD") {
		t.Fatalf("chaos kill exited %d", code)
	}
	m.alive(t)
}
