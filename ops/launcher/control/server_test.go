package control

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
)

// fakeRunner records what the socket asked for.
type fakeRunner struct {
	mu      sync.Mutex
	running map[int]Instance
	next    int
	env     []string
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{running: map[int]Instance{100: {Service: "users", PID: 100, HTTPAddr: "127.0.0.1:8081"}}, next: 100}
}

func (f *fakeRunner) List(service string) []Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Instance
	for _, in := range f.running {
		if service == "" || in.Service == service {
			out = append(out, in)
		}
	}
	return out
}

func (f *fakeRunner) Start(service string, env []string) (Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if service != "users" {
		return Instance{}, fmt.Errorf("unknown service %q", service)
	}
	f.next++
	f.env = env
	in := Instance{Service: service, PID: f.next, Extra: true}
	f.running[in.PID] = in
	return in, nil
}

func (f *fakeRunner) end(pid int) (Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.running[pid]
	if !ok {
		return Instance{}, fmt.Errorf("no instance with pid %d", pid)
	}
	delete(f.running, pid)
	return in, nil
}

func (f *fakeRunner) Stop(_ context.Context, pid int) (Instance, error) { return f.end(pid) }
func (f *fakeRunner) Kill(_ context.Context, pid int) (Instance, error) { return f.end(pid) }
func (f *fakeRunner) Pause(pid int, pause bool) (Instance, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	in, ok := f.running[pid]
	if !ok {
		return Instance{}, fmt.Errorf("no instance with pid %d", pid)
	}
	in.Paused = pause
	f.running[pid] = in
	return in, nil
}

// serveFake serves a fakeRunner on a fresh socket and returns its path.
func serveFake(t *testing.T) (string, *fakeRunner) {
	t.Helper()
	kittest.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "run", "launcher.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	r := newFakeRunner()
	srv := Serve(ln, r)
	t.Cleanup(func() { _ = srv.Close() })
	return path, r
}

func dial(t *testing.T, path string) *Client {
	t.Helper()
	c, err := Dial(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func TestProtocolListStartStopKillPause(t *testing.T) {
	path, r := serveFake(t)
	c := dial(t, path)
	ctx := context.Background()

	in, err := c.Start(ctx, "users", "KITSHOP_SERVICE_VERSION=v2", "KITSHOP_FAULT_LATENCY=2s")
	if err != nil || in.PID != 101 || !in.Extra {
		t.Fatalf("start: %+v, %v", in, err)
	}
	if strings.Join(r.env, " ") != "KITSHOP_SERVICE_VERSION=v2 KITSHOP_FAULT_LATENCY=2s" {
		t.Errorf("runner got env %q", r.env)
	}
	all, err := c.List(ctx, "users")
	if err != nil || len(all) != 2 {
		t.Fatalf("list users: %+v, %v", all, err)
	}
	if none, err := c.List(ctx, "orders"); err != nil || len(none) != 0 {
		t.Errorf("list orders: %+v, %v", none, err)
	}
	if in, err := c.Pause(ctx, 101); err != nil || !in.Paused {
		t.Errorf("pause: %+v, %v", in, err)
	}
	if in, err := c.Resume(ctx, 101); err != nil || in.Paused {
		t.Errorf("resume: %+v, %v", in, err)
	}
	if _, err := c.Stop(ctx, 101); err != nil {
		t.Errorf("stop: %v", err)
	}
	if _, err := c.Kill(ctx, 100); err != nil {
		t.Errorf("kill: %v", err)
	}
	if _, err := c.Kill(ctx, 100); err == nil || !strings.Contains(err.Error(), "no instance with pid 100") {
		t.Errorf("kill of a gone pid: %v", err)
	}
}

func TestSocketIsPrivate(t *testing.T) {
	path, _ := serveFake(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, want a socket with 0600", fi.Mode())
	}
	// A second launcher on the same path is refused, not silently
	// stealing the first one's socket.
	if _, err := Listen(path); err == nil || !strings.Contains(err.Error(), "another launcher") {
		t.Errorf("second Listen: %v", err)
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	path := filepath.Join(t.TempDir(), "launcher.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	// Leave the file behind as a crashed launcher would.
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	ln2, err := Listen(path)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	ln2.Close()
}

// rawSession sends lines as they are and returns one answer per line.
func rawSession(t *testing.T, path string, lines ...string) []Response {
	t.Helper()
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	br := bufio.NewReader(conn)
	var out []Response
	for _, l := range lines {
		if _, err := conn.Write([]byte(l + "\n")); err != nil {
			t.Fatal(err)
		}
		b, err := br.ReadBytes('\n')
		if err != nil {
			t.Fatalf("after %q: %v", truncate(l, 60), err)
		}
		var r Response
		if err := json.Unmarshal(b, &r); err != nil {
			t.Fatalf("answer %q: %v", b, err)
		}
		out = append(out, r)
	}
	return out
}

func TestBadRequestsAreAnsweredAndTheConnectionSurvives(t *testing.T) {
	path, r := serveFake(t)
	cases := []struct{ line, want string }{
		{"hello there", "bad request"},
		{`{"op":"list"} {"op":"list"}`, "one JSON object per line"},
		{`{"op":"list","bogus":1}`, "unknown field"},
		{`{"op":"dance"}`, `unknown op "dance"`},
		{`{"op":"start","service":"nosuch"}`, `unknown service "nosuch"`},
		{`{"op":"start","service":"users","env":["LD_PRELOAD=/x.so"]}`, "want KITSHOP_NAME=value"},
		{`{"op":"start","service":"users","env":["KITSHOP_X"]}`, "want KITSHOP_NAME=value"},
		{`{"op":"start","service":"users","env":["KITSHOP_X=a\u0000b"]}`, "NUL"},
		{`{"op":"stop"}`, "positive pid"},
		{`{"op":"kill","pid":-3}`, "positive pid"},
		{`{"op":"stop","pid":99999}`, "no instance with pid 99999"},
		{`[1,2,3]`, "bad request"},
	}
	var lines []string
	for _, c := range cases {
		lines = append(lines, c.line)
	}
	lines = append(lines, `{"op":"list"}`) // still served after all that
	answers := rawSession(t, path, lines...)
	for i, c := range cases {
		if answers[i].OK || !strings.Contains(answers[i].Error, c.want) {
			t.Errorf("%s: answer %+v, want an error containing %q", c.line, answers[i], c.want)
		}
	}
	if last := answers[len(answers)-1]; !last.OK || len(last.Instances) != 1 {
		t.Errorf("list after bad requests: %+v", last)
	}
	if len(r.List("")) != 1 {
		t.Errorf("bad requests changed the runner: %+v", r.List(""))
	}
}

func TestHugeLineIsRefusedAndTheConnectionClosed(t *testing.T) {
	path, _ := serveFake(t)
	conn, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	// The server answers once it has read MaxLine bytes, while this
	// write may still be going: write from another goroutine.
	go func() {
		_, _ = conn.Write([]byte(`{"op":"list","service":"` + strings.Repeat("x", 4*MaxLine) + "\"}\n"))
	}()
	b, err := bufio.NewReader(conn).ReadBytes('\n')
	if err != nil {
		t.Fatal(err)
	}
	var r Response
	if err := json.Unmarshal(b, &r); err != nil || r.OK || !strings.Contains(r.Error, "longer than") {
		t.Fatalf("answer %s (%v), want a line-too-long error", b, err)
	}
	// And a new connection is served as usual.
	if _, err := dial(t, path).List(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
}

func TestClientWithoutALauncher(t *testing.T) {
	_, err := Dial(filepath.Join(t.TempDir(), "launcher.sock"))
	if err == nil || !strings.Contains(err.Error(), "is `make run` up") {
		t.Fatalf("Dial with nothing there: %v", err)
	}
}

func TestCloseEndsIdleConnections(t *testing.T) {
	kittest.CheckGoroutines(t)
	path := filepath.Join(t.TempDir(), "launcher.sock")
	ln, err := Listen(path)
	if err != nil {
		t.Fatal(err)
	}
	srv := Serve(ln, newFakeRunner())
	c := dial(t, path)
	if _, err := c.List(context.Background(), ""); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close hung on an idle client connection")
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left after Close: %v", err)
	}
}
