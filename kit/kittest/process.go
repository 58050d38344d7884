package kittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// BuildBinaries compiles the named kitshop commands ("users", "registry",
// "ops/launcher") and returns each one's path. Under -race they are built
// with -race too, reusing the build cache `go test -race` already filled.
//
// A test binary builds each command once: later calls (every process-level
// test of a package asks for the platform) get the same files. Linking six
// race-enabled binaries took ~30 s per test on a loaded 2-core machine.
// The files live in a directory of their own until RemoveBuilds, which a
// package's TestMain calls after its tests (see pgtest.Main); without it
// they are left in the system's temporary directory.
func BuildBinaries(t testing.TB, names ...string) map[string]string {
	t.Helper()
	return BuildTagged(t, "", names...)
}

// BuildTagged is BuildBinaries with build tags (comma-separated), for
// binaries with test-only code such as crash points.
func BuildTagged(t testing.TB, tags string, names ...string) map[string]string {
	t.Helper()
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir == "" {
		dir, err := os.MkdirTemp("", "kitshop-bin-")
		if err != nil {
			t.Fatal(err)
		}
		builds.dir, builds.paths = dir, map[string]string{}
	}
	var missing []string
	for _, n := range names {
		if _, ok := builds.paths[tags+"|"+n]; !ok {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		// One directory per tag set: the same command built with other
		// tags must not overwrite the plain one.
		dir := filepath.Join(builds.dir, "tags-"+strings.NewReplacer(",", "-", " ", "-").Replace(tags))
		args := []string{"build", "-o", dir + string(os.PathSeparator)}
		if tags != "" {
			args = append(args, "-tags", tags)
		}
		if RaceEnabled {
			args = append(args, "-race")
		}
		for _, n := range missing {
			args = append(args, "github.com/kitshop/kitshop/"+n)
		}
		if out, err := exec.Command("go", args...).CombinedOutput(); err != nil {
			t.Fatalf("go build: %v\n%s", err, out)
		}
		for _, n := range missing {
			builds.paths[tags+"|"+n] = filepath.Join(dir, filepath.Base(n))
		}
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		out[n] = builds.paths[tags+"|"+n]
	}
	return out
}

// builds are the commands this test binary has built, by tags and name.
var builds struct {
	mu    sync.Mutex
	dir   string
	paths map[string]string
}

// RemoveBuilds deletes what BuildBinaries built; call it once the
// package's tests are over.
func RemoveBuilds() {
	builds.mu.Lock()
	defer builds.mu.Unlock()
	if builds.dir != "" {
		_ = os.RemoveAll(builds.dir)
		builds.dir, builds.paths = "", nil
	}
}

// StartProcess runs a binary with env added to the test's environment. Its
// output goes to a file that is printed (the tail) if the test fails; a
// process still running at cleanup is killed and reaped.
func StartProcess(t testing.TB, path string, env []string, args ...string) *exec.Cmd {
	t.Helper()
	cmd, _ := StartProcessLog(t, path, env, args...)
	return cmd
}

// StartProcessLog is StartProcess that also returns the path of the file
// the process writes its output to, for a test that waits for a line.
func StartProcessLog(t testing.TB, path string, env []string, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(path, args...)
	cmd.Env = append(os.Environ(), env...)
	logFile, err := os.Create(filepath.Join(t.TempDir(), filepath.Base(path)+".log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
		if t.Failed() {
			out, _ := os.ReadFile(logFile.Name())
			t.Logf("--- %s %v output:\n%s", filepath.Base(path), args, tail(string(out), 4000))
		}
		_ = logFile.Close()
	})
	return cmd, logFile.Name()
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
