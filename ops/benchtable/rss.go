package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// ProcessRSS is one process's resident set size.
type ProcessRSS struct {
	Name string
	MiB  float64
}

const (
	// idleFor is how long the platform idles, once every process is
	// ready, before its RSS is read: start-up garbage collected, the
	// first registrations and health checks done.
	idleFor = 5 * time.Second
	// platformTimeout bounds building and starting the platform.
	platformTimeout = 3 * time.Minute
	// stopTimeout bounds the launcher's orderly stop (it gives each
	// process 20 s, but idle ones stop at once).
	stopTimeout = 45 * time.Second
)

// idleRSS starts the whole platform the way `make run` does (ops/launcher:
// registry, then each service once its callees are ready, mTLS, in-memory
// stores since no DATABASE_URL is passed), with every port shifted to a
// free range, lets it idle, reads each process's VmRSS and stops it.
// A port range found busy is retried with another.
func idleRSS(ctx context.Context, workDir string) ([]ProcessRSS, error) {
	launcher := filepath.Join(workDir, "launcher")
	build := exec.CommandContext(ctx, goTool(), "build", "-o", launcher, "./ops/launcher")
	if out, err := build.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("build ops/launcher: %v: %s", err, tail(string(out), 3))
	}
	var errs []error
	for range 3 {
		rss, err := idleRSSOnce(ctx, launcher, workDir, 20000+rand.IntN(30000))
		if err == nil {
			return rss, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errPortsBusy) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

var errPortsBusy = errors.New("ports in use")

func idleRSSOnce(ctx context.Context, launcher, workDir string, offset int) ([]ProcessRSS, error) {
	cmd := exec.Command(launcher, "-bin-dir", filepath.Join(workDir, "bin"), "-tls-dir", filepath.Join(workDir, "tls"),
		"-port-offset", strconv.Itoa(offset))
	cmd.Env = memoryStoreEnv(os.Environ())
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start launcher: %w", err)
	}
	exited := make(chan error, 1)
	go func() {
		err := cmd.Wait()
		pw.Close()
		exited <- err
	}()
	ready := make(chan error, 1)
	var mu sync.Mutex
	var last []string // the launcher's last lines, for errors
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64*1024), 1024*1024)
		sent := false
		for sc.Scan() {
			line := sc.Text()
			if !sent {
				mu.Lock()
				last = append(last[max(0, len(last)-4):], line)
				mu.Unlock()
				switch {
				case strings.Contains(line, "launcher: started, but NOT READY"):
					ready <- fmt.Errorf("%s", line)
					sent = true
				case strings.Contains(line, "launcher: all started"):
					ready <- nil
					sent = true
				case strings.Contains(line, "is in use"):
					ready <- errPortsBusy
					sent = true
				}
			}
		}
		_, _ = io.Copy(io.Discard, pr) // keep draining until the launcher exits
	}()

	var err error
	timer := time.NewTimer(platformTimeout)
	defer timer.Stop()
	select {
	case err = <-ready:
	case werr := <-exited:
		exited <- werr
		err = fmt.Errorf("launcher exited before the platform was ready (%v)", werr)
	case <-timer.C:
		err = fmt.Errorf("platform not ready within %v", platformTimeout)
	case <-ctx.Done():
		err = ctx.Err()
	}
	var rss []ProcessRSS
	if err == nil {
		select {
		case <-time.After(idleFor):
			rss, err = childrenRSS(cmd.Process.Pid)
		case <-ctx.Done():
			err = ctx.Err()
		}
	}
	children, _ := childPIDs(cmd.Process.Pid)
	stopLauncher(cmd, exited, children)
	if err != nil && !errors.Is(err, errPortsBusy) {
		mu.Lock()
		err = fmt.Errorf("%w; launcher's last lines: %s", err, strings.Join(last, " / "))
		mu.Unlock()
	}
	return rss, err
}

// memoryStoreEnv is env without any database URL, so every service runs
// on its in-memory store as the idle figure asks.
func memoryStoreEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		name, _, _ := strings.Cut(kv, "=")
		return name == "DATABASE_URL" || (strings.HasPrefix(name, "KITSHOP_") && strings.HasSuffix(name, "_DATABASE_URL"))
	})
}

// stopLauncher asks the launcher to stop the platform in order, and kills
// it and the children it started if that takes longer than stopTimeout.
func stopLauncher(cmd *exec.Cmd, exited chan error, children []int) {
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(stopTimeout):
	}
	fmt.Fprintf(os.Stderr, "benchtable: launcher did not stop within %v; killing it and its children\n", stopTimeout)
	_ = cmd.Process.Kill()
	for _, pid := range children {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	<-exited
}

// childrenRSS reads VmRSS of every child of pid, named by its command.
func childrenRSS(pid int) ([]ProcessRSS, error) {
	pids, err := childPIDs(pid)
	if err != nil {
		return nil, err
	}
	var out []ProcessRSS
	for _, c := range pids {
		comm, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", c))
		if err != nil {
			continue // exited meanwhile
		}
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c))
		if err != nil {
			continue
		}
		kb, err := statusKB(string(status), "VmRSS")
		if err != nil {
			return nil, fmt.Errorf("process %d: %w", c, err)
		}
		out = append(out, ProcessRSS{Name: strings.TrimSpace(string(comm)), MiB: kb / 1024})
	}
	if len(out) == 0 {
		return nil, errors.New("the launcher has no running children")
	}
	return out, nil
}

// childPIDs lists the processes whose parent is pid, in pid order (the
// launcher starts them in order), from /proc.
func childPIDs(pid int) ([]int, error) {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil, fmt.Errorf("idle RSS needs /proc (Linux): %w", err)
	}
	var out []int
	for _, e := range entries {
		c, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", c))
		if err != nil {
			continue
		}
		if ppid, ok := statPPID(string(stat)); ok && ppid == pid {
			out = append(out, c)
		}
	}
	slices.Sort(out)
	return out, nil
}

// statPPID is the parent pid from /proc/<pid>/stat: "pid (comm) state
// ppid ...", where comm may itself hold spaces and parentheses.
func statPPID(stat string) (int, bool) {
	i := strings.LastIndexByte(stat, ')')
	if i < 0 {
		return 0, false
	}
	f := strings.Fields(stat[i+1:])
	if len(f) < 2 {
		return 0, false
	}
	ppid, err := strconv.Atoi(f[1])
	return ppid, err == nil
}

// statusKB reads a "Key:   123 kB" line of /proc/<pid>/status.
func statusKB(status, key string) (float64, error) {
	for _, line := range strings.Split(status, "\n") {
		if rest, ok := strings.CutPrefix(line, key+":"); ok {
			return strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
		}
	}
	return 0, fmt.Errorf("no %s in /proc status", key)
}
