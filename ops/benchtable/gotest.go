package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// bench is one `go test -bench` run of a package.
type bench struct {
	pkg       string
	pattern   string // -bench, anchored so that only the rows' benchmarks run
	benchtime string
	timeout   time.Duration // bounds the whole run, build included
}

// run runs b in a subprocess and returns the benchmark lines it printed,
// parsed. A failing run still returns whatever it measured, with an error
// carrying the end of its output.
func (b bench) run(ctx context.Context) (Results, error) {
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	args := []string{"test", "-run", "^$", "-bench", b.pattern, "-benchtime", b.benchtime, "-count", "1",
		// The test binary's own deadline, a little inside ours, so a hung
		// benchmark dumps its goroutines instead of being killed mute.
		"-timeout", (b.timeout - 15*time.Second).String(), b.pkg}
	cmd := exec.CommandContext(ctx, goTool(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	killGroupOnCancel(cmd)
	start := time.Now()
	fmt.Fprintf(os.Stderr, "benchtable: go %s\n", strings.Join(args, " "))
	runErr := cmd.Run()
	results, parseErr := ParseBench(bytes.NewReader(out.Bytes()))
	fmt.Fprintf(os.Stderr, "benchtable:   %d benchmark lines in %v\n", len(results), time.Since(start).Round(time.Second))
	if ctx.Err() != nil {
		runErr = fmt.Errorf("go test %s -bench %s did not finish within %v", b.pkg, b.pattern, b.timeout)
	} else if runErr != nil {
		runErr = fmt.Errorf("go test %s -bench %s: %v: %s", b.pkg, b.pattern, runErr, tail(out.String(), 3))
	}
	return results, firstErr(runErr, parseErr)
}

// goTool is the go command that runs the benchmarks: $GOROOT/bin/go of
// the toolchain `go run` used when set (make passes GO), else go on PATH.
func goTool() string {
	if g := os.Getenv("GO"); g != "" {
		return g
	}
	return "go"
}

// tail is the last n non-empty lines of s, joined on one line, for error
// messages.
func tail(s string, n int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " / ")
}
