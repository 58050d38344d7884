package pgtest_test

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// TestChildReport runs only in a child: it prints where the cluster lives.
func TestChildReport(t *testing.T) {
	if os.Getenv(childEnv) == "" {
		t.Log("runs only as a child of TestLifecycle")
		return
	}
	db := openRaw(t, pgtest.ClusterURL(t))
	var dir string
	if err := db.QueryRow(`SHOW data_directory`).Scan(&dir); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, _, _ := strings.Cut(string(b), "\n")
	fmt.Printf("DATADIR=%s\nPID=%s\n", dir, pid)
}

type childCluster struct {
	dataDir string
	pid     int
}

func runChild(t *testing.T, mode string) childCluster {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestChildReport$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+mode)
	cmd.Env = append(cmd.Env, "DATABASE_URL=") // the child must start its own cluster
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child (%s): %v\n%s", mode, err, out)
	}
	var c childCluster
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "DATADIR="); ok {
			c.dataDir = v
		}
		if v, ok := strings.CutPrefix(sc.Text(), "PID="); ok {
			c.pid, _ = strconv.Atoi(v)
		}
	}
	if c.dataDir == "" || c.pid == 0 {
		t.Fatalf("child (%s) reported no cluster:\n%s", mode, out)
	}
	return c
}

// gone reports whether pid has exited. A zombie counts as gone: in a
// container whose init does not reap, an orphaned postmaster that exited
// lingers as one.
func gone(pid int) bool {
	if err := syscall.Kill(pid, 0); err == syscall.ESRCH {
		return true
	}
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return true
	}
	// The state follows the parenthesised command name.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func waitGone(t *testing.T, pid int, why string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !gone(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("postmaster %d still running %s", pid, why)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A cluster never outlives its test binary: Main stops it and removes its
// files; without Main the parent-death signal stops it, and the next start
// removes the files left behind.
func TestLifecycle(t *testing.T) {
	if os.Getenv(childEnv) != "" {
		return
	}
	forgot := runChild(t, "forget-main")
	waitGone(t, forgot.pid, "after its test binary exited without pgtest.Main")
	if _, err := os.Stat(forgot.dataDir); err != nil {
		t.Fatalf("without Main the data dir should stay until the next start reaps it: %v", err)
	}

	withMain := runChild(t, "main")
	waitGone(t, withMain.pid, "after pgtest.Main returned")
	for _, dir := range []string{withMain.dataDir, forgot.dataDir} {
		if _, err := os.Stat(filepath.Dir(dir)); !os.IsNotExist(err) {
			t.Errorf("cluster dir %s still exists (stat: %v)", filepath.Dir(dir), err)
		}
	}
}
