package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"time"

	"github.com/kitshop/kitshop/kit/tracing"
)

// Traces under make run. With KITSHOP_ZIPKIN_URL set, every process
// reports there (they inherit the launcher's environment). With -traces
// (make run TRACES=1) and no URL set, the launcher starts a
// Zipkin-compatible backend found on PATH before everything else, waits
// until it accepts spans, points every process at it, names its UI in the
// banner, and stops it last, once the processes have flushed their spans.
// Without such a binary the platform runs without traces, and the banner
// says so.
const (
	// collectorAddr is where Zipkin and Jaeger's Zipkin receiver listen by
	// default. It is not shifted by -port-offset: Jaeger v2 takes its
	// ports from a configuration file, and one collector serves any
	// number of platforms (a second launcher reuses a running one).
	collectorAddr = "127.0.0.1:9411"
	spansPath     = "/api/v2/spans"
	// collectorReadyTimeout bounds the wait for the backend to accept
	// spans: Zipkin's JVM takes a few seconds, more on a loaded machine.
	collectorReadyTimeout = 60 * time.Second
	// collectorStopTimeout bounds its graceful stop before it is killed.
	collectorStopTimeout = 10 * time.Second
	// helpTimeout bounds `jaeger --help`, run to tell Jaeger v1 from v2.
	helpTimeout = 10 * time.Second
)

// defaultSpansURL is the spans endpoint of a collector on collectorAddr.
var defaultSpansURL = "http://" + collectorAddr + spansPath

// collector is a Zipkin-compatible trace backend the launcher can run.
type collector struct {
	name     string // as its output is prefixed: jaeger, zipkin
	path     string
	args     []string
	spansURL string // what every process gets as KITSHOP_ZIPKIN_URL
	ui       string // where a user reads the traces
}

// collectorBinaries are looked up on PATH in this order.
var collectorBinaries = []string{"jaeger", "jaeger-all-in-one", "zipkin"}

// findCollector returns the first trace backend on PATH (lookPath), and
// how to run it with a Zipkin receiver on collectorAddr:
//   - jaeger, Jaeger v2: without --config it runs its all-in-one
//     configuration, memory storage with a Zipkin receiver on
//     localhost:9411 and the UI on :16686. A Jaeger v1 build under that
//     name, told apart by its --help (help) listing
//     --collector.zipkin.host-port, gets that flag;
//   - jaeger-all-in-one, Jaeger v1: --collector.zipkin.host-port;
//   - zipkin (a wrapper around zipkin.jar): :9411, UI under /zipkin/.
func findCollector(lookPath func(string) (string, error), help func(path string) string) (collector, bool) {
	for _, name := range collectorBinaries {
		path, err := lookPath(name)
		if err != nil {
			continue
		}
		c := collector{name: name, path: path, spansURL: defaultSpansURL}
		switch {
		case name == "zipkin":
			c.ui = "http://localhost:9411/zipkin/"
		case name == "jaeger-all-in-one" || strings.Contains(help(path), "collector.zipkin.host-port"):
			c.args = []string{"--collector.zipkin.host-port=" + collectorAddr}
			fallthrough
		default:
			c.name, c.ui = "jaeger", "http://localhost:16686"
		}
		return c, true
	}
	return collector{}, false
}

// helpText is path's --help output, bounded by helpTimeout.
func helpText(path string) string {
	ctx, cancel := context.WithTimeout(context.Background(), helpTimeout)
	defer cancel()
	out, _ := exec.CommandContext(ctx, path, "--help").CombinedOutput()
	return string(out)
}

// traceSetup is what the launcher did about traces.
type traceSetup struct {
	env   []string // added to every process's environment
	notes []string // banner lines
	child *child   // the backend the launcher started, stopped last; nil if none
	// exited hears of the backend's end. Nobody waits on it: a backend
	// that dies mid-run leaves the platform running without traces.
	exited chan *child
}

// tracePlan is the decision setupTraces acts on.
type tracePlan int

const (
	tracesOff      tracePlan = iota // nothing asked for
	tracesExternal                  // KITSHOP_ZIPKIN_URL is set: it wins
	tracesReuse                     // a collector already answers on collectorAddr
	tracesStart                     // start the backend found on PATH
	tracesMissing                   // asked for, nothing to start
)

// planTraces decides from the request (-traces), KITSHOP_ZIPKIN_URL,
// whether a collector already answers, and whether one was found.
func planTraces(want bool, zipkinURL string, answering, found bool) tracePlan {
	switch {
	case strings.TrimSpace(zipkinURL) != "":
		return tracesExternal
	case !want:
		return tracesOff
	case answering:
		return tracesReuse
	case found:
		return tracesStart
	}
	return tracesMissing
}

// setupTraces prepares traces for the platform as planTraces decides,
// starting the backend if it must. A backend that fails to come up is
// reported and the platform runs without traces: traces help, they are
// never a reason not to start.
func setupTraces(ctx context.Context, want bool) *traceSetup {
	s := &traceSetup{exited: make(chan *child, 1)}
	url := os.Getenv(tracing.EnvZipkinURL)
	answering := want && url == "" && acceptsSpans(ctx, defaultSpansURL)
	c, found := collector{}, false
	if want && url == "" && !answering {
		c, found = findCollector(exec.LookPath, helpText)
	}
	switch planTraces(want, url, answering, found) {
	case tracesOff:
		s.note("traces: off (make run TRACES=1 starts jaeger or zipkin from PATH; or set %s)", tracing.EnvZipkinURL)
	case tracesExternal:
		s.note("traces: every process reports to %s (%s)", url, tracing.EnvZipkinURL)
		if want {
			s.note("traces: TRACES=1 started nothing: %s is set", tracing.EnvZipkinURL)
		}
	case tracesReuse:
		s.env = []string{tracing.EnvZipkinURL + "=" + defaultSpansURL}
		s.note("traces: a collector already accepts spans at %s; every process reports there (its UI: http://localhost:16686 for Jaeger, http://localhost:9411/zipkin/ for Zipkin)", defaultSpansURL)
	case tracesMissing:
		s.note("traces: TRACES=1, but no %s on PATH: running WITHOUT traces (build Jaeger with `go build ./cmd/jaeger` in a checkout of github.com/jaegertracing/jaeger and put it on PATH)",
			strings.Join(collectorBinaries, ", "))
	case tracesStart:
		child, err := startCollector(ctx, c, collectorReadyTimeout, s.exited)
		if err != nil {
			s.note("traces: %s: %v: running WITHOUT traces", c.name, err)
			return s
		}
		s.child = child
		s.env = []string{tracing.EnvZipkinURL + "=" + c.spansURL}
		s.note("traces: %s UI %s   (every process reports to %s)", c.name, c.ui, c.spansURL)
	}
	return s
}

func (s *traceSetup) note(format string, args ...any) {
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// print writes the banner lines.
func (s *traceSetup) print(w io.Writer) {
	for _, n := range s.notes {
		fmt.Fprintln(w, "  "+n)
	}
}

// startCollector runs c and waits, at most readyTimeout, until it accepts
// spans. On failure it stops what it started.
func startCollector(ctx context.Context, c collector, readyTimeout time.Duration, exited chan<- *child) (*child, error) {
	ch, err := start(c.name, exec.Command(c.path, c.args...), exited)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(os.Stderr, "launcher: started %s (pid %d) for traces\n", c.name, ch.pid())
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for !acceptsSpans(ctx, c.spansURL) {
		select {
		case <-ctx.Done():
			stopCollector(ch, collectorStopTimeout)
			return nil, ctx.Err()
		case <-ch.done:
			return nil, fmt.Errorf("exited before accepting spans (%s); see its output above", ch.status())
		case <-deadline.C:
			stopCollector(ch, collectorStopTimeout)
			return nil, fmt.Errorf("accepted no spans at %s within %v", c.spansURL, readyTimeout)
		case <-tick.C:
		}
	}
	return ch, nil
}

// acceptsSpans reports whether url takes a (empty) Zipkin v2 span list.
func acceptsSpans(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader("[]"))
	if err != nil {
		return false
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2
}

// stopCollector stops the trace backend: SIGTERM, then SIGKILL after
// timeout. Its exit status is no concern of the platform's (Zipkin's JVM
// exits 143 on SIGTERM), so nothing is returned.
func stopCollector(c *child, timeout time.Duration) {
	if c == nil {
		return
	}
	if c.hasExited() {
		// Died mid-run (its output above says why): the platform went
		// on without traces.
		fmt.Fprintf(os.Stderr, "launcher: %s had exited (%s)\n", c.name, c.status())
		return
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(timeout):
		_ = c.cmd.Process.Kill()
		select {
		case <-c.done:
		case <-time.After(killWait):
		}
	}
	fmt.Fprintf(os.Stderr, "launcher: %s stopped\n", c.name)
}

// stop stops the backend the launcher started, if any. Call it last.
func (s *traceSetup) stop() { stopCollector(s.child, collectorStopTimeout) }
