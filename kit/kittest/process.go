package kittest

import (
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// BuildBinaries compiles the named kitshop commands ("users", "registry",
// "ops/launcher") once into a temporary directory and returns each one's
// path. Under -race they are built with -race too, reusing the build cache
// `go test -race` already filled.
func BuildBinaries(t testing.TB, names ...string) map[string]string {
	t.Helper()
	return BuildTagged(t, "", names...)
}

// BuildTagged is BuildBinaries with build tags (comma-separated), for
// binaries with test-only code such as crash points.
func BuildTagged(t testing.TB, tags string, names ...string) map[string]string {
	t.Helper()
	dir := t.TempDir()
	args := []string{"build", "-o", dir + string(os.PathSeparator)}
	if tags != "" {
		args = append(args, "-tags", tags)
	}
	if RaceEnabled {
		args = append(args, "-race")
	}
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
