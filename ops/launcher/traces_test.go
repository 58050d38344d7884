package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tracing"
)

// fakeZipkinEnv makes the test binary a fake Zipkin: see TestMain.
const fakeZipkinEnv = "KITSHOP_TEST_FAKE_ZIPKIN_ADDR"

func TestMain(m *testing.M) {
	if addr := os.Getenv(fakeZipkinEnv); addr != "" {
		// Accept Zipkin v2 span lists until SIGTERM ends the process.
		http.HandleFunc("POST "+spansPath, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) })
		fmt.Fprintln(os.Stderr, http.ListenAndServe(addr, nil))
		os.Exit(1)
	}
	code := m.Run()
	kittest.RemoveBuilds()
	os.Exit(code)
}

func TestFindCollector(t *testing.T) {
	const v1Help = "Usage: jaeger-all-in-one [flags]\n      --collector.zipkin.host-port string   host:port of the zipkin collector\n"
	const v2Help = "Jaeger backend v2\n\nUsage:\n  jaeger [flags]\n      --config -config=file:/path/to/first --config=file:path/to/second\n"
	for _, c := range []struct {
		name     string
		onPath   []string
		help     string
		want     string // name; "" for none found
		wantArgs []string
		wantUI   string
	}{
		{"jaeger v2", []string{"jaeger"}, v2Help, "jaeger", nil, "http://localhost:16686"},
		{"jaeger v1 under the v2 name", []string{"jaeger"}, v1Help, "jaeger", []string{"--collector.zipkin.host-port=127.0.0.1:9411"}, "http://localhost:16686"},
		{"jaeger-all-in-one", []string{"jaeger-all-in-one"}, "", "jaeger", []string{"--collector.zipkin.host-port=127.0.0.1:9411"}, "http://localhost:16686"},
		{"zipkin", []string{"zipkin"}, "", "zipkin", nil, "http://localhost:9411/zipkin/"},
		{"jaeger first", []string{"zipkin", "jaeger"}, v2Help, "jaeger", nil, "http://localhost:16686"},
		{"nothing", nil, "", "", nil, ""},
	} {
		lookPath := func(name string) (string, error) {
			if slices.Contains(c.onPath, name) {
				return "/opt/bin/" + name, nil
			}
			return "", errors.New("not found")
		}
		var helped []string
		help := func(path string) string { helped = append(helped, path); return c.help }
		got, ok := findCollector(lookPath, help)
		if ok != (c.want != "") || got.name != c.want || !slices.Equal(got.args, c.wantArgs) || got.ui != c.wantUI {
			t.Errorf("%s: got %+v, %v; want %s %v %s", c.name, got, ok, c.want, c.wantArgs, c.wantUI)
		}
		if ok && got.spansURL != "http://127.0.0.1:9411/api/v2/spans" {
			t.Errorf("%s: spans URL %s", c.name, got.spansURL)
		}
		if slices.ContainsFunc(helped, func(p string) bool { return !strings.HasSuffix(p, "/jaeger") }) {
			t.Errorf("%s: ran --help of %v; only jaeger's tells its version", c.name, helped)
		}
	}
}

func TestPlanTraces(t *testing.T) {
	for _, c := range []struct {
		want             bool
		url              string
		answering, found bool
		plan             tracePlan
	}{
		{false, "", false, true, tracesOff},
		{false, "http://zipkin:9411/api/v2/spans", false, false, tracesExternal},
		{true, "http://zipkin:9411/api/v2/spans", true, true, tracesExternal}, // the developer's URL wins
		{true, "  ", false, true, tracesStart},                                // empty counts as unset
		{true, "", true, true, tracesReuse},
		{true, "", false, true, tracesStart},
		{true, "", false, false, tracesMissing},
	} {
		if got := planTraces(c.want, c.url, c.answering, c.found); got != c.plan {
			t.Errorf("planTraces(%v, %q, %v, %v) = %v, want %v", c.want, c.url, c.answering, c.found, got, c.plan)
		}
	}
}

// KITSHOP_ZIPKIN_URL reaches every process; the launcher's own value
// (when it runs the backend) wins over an inherited one.
func TestEnvironmentCarriesTheZipkinURL(t *testing.T) {
	t.Setenv(tracing.EnvZipkinURL, "http://collector:9411/api/v2/spans")
	for _, p := range processes {
		if got := last(environment(p, "", nil), tracing.EnvZipkinURL); got != "http://collector:9411/api/v2/spans" {
			t.Errorf("%s: %s=%q", p.name, tracing.EnvZipkinURL, got)
		}
		if got := last(environment(p, "", nil, tracing.EnvZipkinURL+"="+defaultSpansURL), tracing.EnvZipkinURL); got != defaultSpansURL {
			t.Errorf("%s with the launcher's backend: %s=%q", p.name, tracing.EnvZipkinURL, got)
		}
	}
}

// TestSetupTracesNotes: what the banner says when the launcher starts
// nothing.
func TestSetupTracesNotes(t *testing.T) {
	if acceptsSpans(context.Background(), defaultSpansURL) {
		t.Skip("a collector runs on " + collectorAddr + " here")
	}
	t.Setenv("PATH", t.TempDir()) // no backend on PATH
	t.Setenv(tracing.EnvZipkinURL, "")
	for _, c := range []struct {
		want    bool
		url     string
		notes   []string
		withEnv bool
	}{
		{false, "", []string{"traces: off (make run TRACES=1"}, false},
		{true, "", []string{"no jaeger, jaeger-all-in-one, zipkin on PATH: running WITHOUT traces"}, false},
		{true, "http://elsewhere:9411/api/v2/spans", []string{"reports to http://elsewhere:9411/api/v2/spans", "TRACES=1 started nothing"}, false},
	} {
		t.Setenv(tracing.EnvZipkinURL, c.url)
		s := setupTraces(context.Background(), c.want)
		var b strings.Builder
		s.print(&b)
		for _, n := range c.notes {
			if !strings.Contains(b.String(), n) {
				t.Errorf("want=%v url=%q: banner lacks %q:\n%s", c.want, c.url, n, b.String())
			}
		}
		if s.child != nil || len(s.env) > 0 {
			t.Errorf("want=%v url=%q: started %v with env %v", c.want, c.url, s.child, s.env)
		}
		s.stop() // nothing to stop: no panic, no wait
	}
}

// fakeCollector writes a `zipkin` script into a fresh directory running
// body, and returns the collector the launcher would make of it, with
// its spans endpoint on a free port.
func fakeCollector(t *testing.T, body func(addr string) string) collector {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	dir := t.TempDir()
	path := filepath.Join(dir, "zipkin")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+body(addr)+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	c, ok := findCollector(func(name string) (string, error) {
		p := filepath.Join(dir, name)
		if _, err := os.Stat(p); err != nil {
			return "", err
		}
		return p, nil
	}, helpText)
	if !ok || c.name != "zipkin" {
		t.Fatalf("findCollector = %+v, %v", c, ok)
	}
	c.spansURL = "http://" + addr + spansPath
	return c
}

// TestStartCollectorWaitsUntilItAcceptsSpans runs a fake Zipkin (this
// test binary, see TestMain) the way make run TRACES=1 runs a real one:
// started, waited for, then stopped, leaving nothing behind.
func TestStartCollectorWaitsUntilItAcceptsSpans(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := fakeCollector(t, func(addr string) string {
		return fmt.Sprintf("sleep 0.3\n%s=%s exec %q", fakeZipkinEnv, addr, self) // slow to come up, as a JVM is
	})
	ch, err := startCollector(context.Background(), c, 20*time.Second, make(chan *child, 1))
	if err != nil {
		t.Fatal(err)
	}
	if !acceptsSpans(context.Background(), c.spansURL) {
		t.Error("started, yet it does not accept spans")
	}
	stopCollector(ch, 5*time.Second)
	if !ch.hasExited() {
		t.Fatal("still running after stopCollector")
	}
	if err := syscall.Kill(ch.pid(), 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("pid %d still there: %v", ch.pid(), err)
	}
}

// TestStartCollectorGivesUp: a backend that exits, or never accepts
// spans, is reported within the bound and left stopped.
func TestStartCollectorGivesUp(t *testing.T) {
	c := fakeCollector(t, func(string) string { return "echo cannot bind 9411 >&2; exit 3" })
	if _, err := startCollector(context.Background(), c, 20*time.Second, make(chan *child, 1)); err == nil || !strings.Contains(err.Error(), "exited before accepting spans") {
		t.Errorf("exiting backend: %v", err)
	}

	c = fakeCollector(t, func(string) string { return "exec sleep 60" })
	exited := make(chan *child, 1)
	begin := time.Now()
	_, err := startCollector(context.Background(), c, 500*time.Millisecond, exited)
	if err == nil || !strings.Contains(err.Error(), "accepted no spans") {
		t.Errorf("silent backend: %v", err)
	}
	if took := time.Since(begin); took > 5*time.Second {
		t.Errorf("gave up after %v, bound 500ms", took)
	}
	select {
	case ch := <-exited:
		if !ch.hasExited() {
			t.Error("the silent backend was left running")
		}
	case <-time.After(killWait):
		t.Error("the silent backend was left running")
	}
}
