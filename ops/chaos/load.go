package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// load is ops/loadgen driving the journey mix through the gateway while a
// scenario runs. loadgen is a command (package main), so it runs as a
// process, as an operator would run it; its live progress line gives the
// failures as they happen, and its -json report the totals.
type load struct {
	cmd      *exec.Cmd
	out      *syncBuffer
	jsonPath string
	done     chan struct{}
	err      error

	mu       sync.Mutex
	began    time.Time   // the attack's start, once the progress bar shows
	failures []time.Time // when the failure count went up (one per step)
	lastSeen int
}

// loadConfig is how the load is shaped.
type loadConfig struct {
	binary, target, caFile, apiKey string
	rate                           int
	duration                       time.Duration
}

// ensureLoadgen returns path, building ./ops/loadgen there when missing
// (make run builds only the platform's processes).
func ensureLoadgen(ctx context.Context, path string) (string, error) {
	if _, err := os.Stat(path); err == nil {
		return path, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-o", path, "./ops/loadgen")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("building ops/loadgen into %s (run from the checkout, or pass -loadgen): %v\n%s", path, err, out)
	}
	return path, nil
}

func startLoad(c loadConfig, workDir string) (*load, error) {
	l := &load{out: &syncBuffer{}, jsonPath: filepath.Join(workDir, "load.json"), done: make(chan struct{})}
	args := []string{"-target", c.target, "-scenario", "journey", "-rate", strconv.Itoa(c.rate),
		"-duration", c.duration.String(), "-users", "8", "-json", l.jsonPath}
	if c.caFile != "" {
		args = append(args, "-cacert", c.caFile)
	}
	if c.apiKey != "" {
		args = append(args, "-api-key", c.apiKey)
	}
	l.cmd = exec.Command(c.binary, args...)
	l.cmd.Stdout, l.cmd.Stderr = l.out, l.out
	if err := l.cmd.Start(); err != nil {
		return nil, fmt.Errorf("loadgen: %w", err)
	}
	go func() {
		l.err = l.cmd.Wait()
		close(l.done)
	}()
	go l.watch()
	return l, nil
}

var barFailed = regexp.MustCompile(`failed (\d+)`)

// watch samples the progress line: when the attack began and when each
// failure showed up (to the bar's 200 ms resolution).
func (l *load) watch() {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-l.done:
			l.sample()
			return
		case <-t.C:
			l.sample()
		}
	}
}

func (l *load) sample() {
	m := barFailed.FindAllStringSubmatch(l.out.tail(400), -1)
	if len(m) == 0 {
		return
	}
	n, _ := strconv.Atoi(m[len(m)-1][1])
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.began.IsZero() {
		l.began = time.Now()
	}
	now := time.Now()
	for ; l.lastSeen < n; l.lastSeen++ {
		l.failures = append(l.failures, now)
	}
}

// waitAttacking returns once loadgen's setup is over and it sends load.
func (l *load) waitAttacking(ctx context.Context, bound time.Duration) error {
	return waitFor(ctx, bound, "loadgen attacking (its setup: catalog, users)", func(context.Context) bool {
		select {
		case <-l.done:
			return true
		default:
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		return !l.began.IsZero()
	})
}

// failedSoFar is the failure count the progress line shows.
func (l *load) failedSoFar() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastSeen
}

// lastFailure is when the count last went up (zero: never).
func (l *load) lastFailure() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.failures) == 0 {
		return time.Time{}
	}
	return l.failures[len(l.failures)-1]
}

// failuresBetween counts failures seen in [from, to).
func (l *load) failuresBetween(from, to time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, at := range l.failures {
		if !at.Before(from) && at.Before(to) {
			n++
		}
	}
	return n
}

// summary is loadgen's -json report, the parts a verdict needs.
type summary struct {
	Requests  int64   `json:"requests"`
	Failed    int64   `json:"failed"`
	DurationS float64 `json:"duration_s"`
	Rate      float64 `json:"rate"`
	Latency   struct {
		P50 float64 `json:"p50_ms"`
		P99 float64 `json:"p99_ms"`
		Max float64 `json:"max_ms"`
	} `json:"latency"`
	Errors []struct {
		Status int    `json:"status"`
		Code   string `json:"code"`
		Count  int64  `json:"count"`
	} `json:"errors"`
}

// wait waits for loadgen to finish (bounded) and reads its report.
func (l *load) wait(bound time.Duration) (summary, error) {
	select {
	case <-l.done:
	case <-time.After(bound):
		l.stop()
		return summary{}, fmt.Errorf("loadgen still running %v after its duration; stopped", bound)
	}
	var s summary
	if l.err != nil {
		return s, fmt.Errorf("loadgen: %v\n%s", l.err, l.out.tail(3000))
	}
	b, err := os.ReadFile(l.jsonPath)
	if err != nil {
		return s, err
	}
	return s, json.Unmarshal(b, &s)
}

// stop ends loadgen (when the scenario itself failed) within 10 s.
func (l *load) stop() {
	_ = l.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-l.done:
	case <-time.After(10 * time.Second):
		_ = l.cmd.Process.Kill()
		<-l.done
	}
}

// report is loadgen's own printed table (its stdout part).
func (l *load) report() string {
	s := l.out.String()
	// The table follows the progress line, which ends in a newline.
	if i := bytes.LastIndex([]byte(s), []byte("\r")); i >= 0 {
		s = s[i+1:]
	}
	return s
}

// syncBuffer collects a process's output while it is read.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *syncBuffer) tail(n int) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	s := b.buf.Bytes()
	if len(s) > n {
		s = s[len(s)-n:]
	}
	return string(s)
}
