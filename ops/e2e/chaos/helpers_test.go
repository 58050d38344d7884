package chaos

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// chaosKey is the API key the chaos tests' gateway gives an enterprise
// tier, so the load is never rate limited.
const chaosKey = "chaos-e2e"

// madeRun is `make run`'s platform as a developer has it, started by the
// real launcher on shifted ports, with a Postgres database (so that
// `orders check` can run) and its control socket.
type madeRun struct {
	root, socket, tlsDir, binDir string
	offset                       int
	dbURL                        string
	cmd                          *exec.Cmd
	out                          *kittest.LogBuffer
	exited                       chan error
}

// chaosBinaries builds the commands the chaos tests run besides the
// platform (which the launcher builds itself, without -race, as make run
// does). They are built without -race even under go test -race: they
// are the test's instruments, not what it tests (the launcher's and the
// tools' own packages run their tests with -race), and a race build of
// loadgen (vegeta, ghz) costs about 20 s of a test's minute.
func chaosBinaries(t *testing.T) map[string]string {
	t.Helper()
	dir := t.TempDir()
	names := []string{"ops/launcher", "ops/chaos", "ops/loadgen"}
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	for _, n := range names {
		args = append(args, "github.com/kitshop/kitshop/"+n)
	}
	if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	out := map[string]string{}
	for _, n := range names {
		out[n] = filepath.Join(dir, filepath.Base(n))
	}
	return out
}

// startMadeRun starts the launcher with env added (and dbURL as
// DATABASE_URL unless empty) and waits for its banner. Cleanup stops it
// as Ctrl-C does and waits for every process to be gone.
func startMadeRun(t *testing.T, launcher, dbURL string, env ...string) *madeRun {
	t.Helper()
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	work := t.TempDir()
	m := &madeRun{root: root, socket: filepath.Join(work, "launcher.sock"), tlsDir: filepath.Join(work, "tls"),
		binDir: filepath.Join(work, "bin"), offset: freePlatformOffset(t), dbURL: dbURL,
		out: &kittest.LogBuffer{}, exited: make(chan error, 1)}
	m.cmd = exec.Command(launcher, "-bin-dir", m.binDir, "-tls-dir", m.tlsDir,
		"-port-offset", strconv.Itoa(m.offset), "-control", m.socket)
	m.cmd.Dir = root // the launcher builds ./registry, ./users, ... from the checkout
	m.cmd.Env = append(hermetic(),
		// Quick to place orders, to deregister and to expire: the
		// scenarios are shortened, the platform's behaviour is not.
		"KITSHOP_BCRYPT_COST=4", "KITSHOP_DRAIN_TIMEOUT=5s", "KITSHOP_DEREGISTER_GRACE=200ms",
		"KITSHOP_API_KEYS="+chaosKey+":enterprise")
	m.cmd.Env = append(m.cmd.Env, kittest.FastSagas...)
	if dbURL != "" {
		m.cmd.Env = append(m.cmd.Env, "DATABASE_URL="+dbURL)
	}
	m.cmd.Env = append(m.cmd.Env, env...)
	m.cmd.Stdout, m.cmd.Stderr = m.out, m.out
	began := time.Now()
	if err := m.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { m.exited <- m.cmd.Wait() }()
	t.Cleanup(func() { m.stop(t) })
	deadline := time.After(4 * time.Minute) // a cold build of every binary on a loaded machine
	for !strings.Contains(m.out.String(), "launcher: all started") {
		select {
		case err := <-m.exited:
			m.exited <- err
			t.Fatalf("launcher exited before its banner: %v\n%s", err, tailString(m.out.String(), 4000))
		case <-deadline:
			t.Fatalf("no banner within 4 minutes\n%s", tailString(m.out.String(), 4000))
		case <-time.After(100 * time.Millisecond):
		}
	}
	t.Logf("make run's platform up in %.1fs (port offset %d)", time.Since(began).Seconds(), m.offset)
	return m
}

// stop is Ctrl-C: every process stops, and the launcher must exit 0
// (no process crashed, none refused to stop).
func (m *madeRun) stop(t *testing.T) {
	select {
	case err := <-m.exited:
		m.exited <- err
		return
	default:
	}
	_ = m.cmd.Process.Signal(os.Interrupt)
	select {
	case err := <-m.exited:
		m.exited <- err
		if err != nil {
			t.Errorf("launcher exited with %v after Ctrl-C\n%s", err, tailString(m.out.String(), 6000))
		}
	case <-time.After(3 * time.Minute):
		_ = m.cmd.Process.Kill()
		t.Errorf("launcher still running 3 minutes after Ctrl-C")
	}
	if t.Failed() {
		t.Logf("launcher output (tail):\n%s", tailString(m.out.String(), 8000))
	}
}

// alive fails the test if the launcher has stopped the platform: an
// expected exit (stop, kill through the socket) must not.
func (m *madeRun) alive(t *testing.T) {
	t.Helper()
	select {
	case err := <-m.exited:
		m.exited <- err
		t.Fatalf("the launcher stopped the platform (%v)\n%s", err, tailString(m.out.String(), 4000))
	default:
	}
}

// chaos runs `ops/chaos scenario` against m and returns its exit code and
// output.
func (m *madeRun) chaos(t *testing.T, bin map[string]string, scenario string, args ...string) (int, string) {
	t.Helper()
	all := append([]string{"-control", m.socket, "-tls-dir", m.tlsDir, "-bin-dir", m.binDir,
		"-loadgen", bin["ops/loadgen"], "-api-key", chaosKey}, args...)
	cmd := exec.Command(bin["ops/chaos"], append(all, scenario)...)
	cmd.Dir = m.root
	cmd.Env = hermetic()
	if m.dbURL != "" {
		cmd.Env = append(cmd.Env, "DATABASE_URL="+m.dbURL)
	}
	began := time.Now()
	out, err := cmd.CombinedOutput()
	t.Logf("chaos %s ran %.1fs", scenario, time.Since(began).Seconds())
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, string(out)
	case errors.As(err, &exit):
		return exit.ExitCode(), string(out)
	}
	t.Fatalf("chaos %s: %v\n%s", scenario, err, out)
	return -1, ""
}

// figures picks the verdict's lines out of chaos's output, for the log.
func figures(out string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "==") || strings.HasPrefix(l, "  ") || strings.Contains(l, "load over") || strings.Contains(l, "failed:") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n")
}

// chaosDB is a fresh database for one platform (every service in its own
// schema, as make run with DATABASE_URL has it).
func chaosDB(t *testing.T) string { return pgtest.URL(t) }

// hermetic is the test's environment without kitshop settings.
func hermetic() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KITSHOP_") || strings.HasPrefix(kv, "DATABASE_URL=") || strings.HasPrefix(kv, "PGDATA=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

// platformPorts are make run's default ports (ARCHITECTURE.md), which
// -port-offset shifts.
var platformPorts = []int{8080, 8081, 8082, 8083, 8084, 8090, 9081, 9082, 9083, 9084, 2379, 2380}

// freePlatformOffset picks an offset at which every shifted port is free,
// in 12379..32084: above a developer's make run, below Linux's ephemeral
// range, from which other tests' ":0" listeners take theirs.
func freePlatformOffset(t *testing.T) int {
	t.Helper()
	for range 20 {
		offset := 10000 + 100*rand.IntN(130)
		free := true
		for _, p := range platformPorts {
			ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p+offset))
			if err != nil {
				free = false
				break
			}
			ln.Close()
		}
		if free {
			return offset
		}
	}
	t.Fatal("no port offset with every platform port free")
	return 0
}

// gone reports whether pid no longer exists.
func gone(pid int) bool { return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH) }

func tailString(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

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
