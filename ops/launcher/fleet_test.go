package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
)

// fakeService logs its addresses as kit/boot does, then runs until
// SIGTERM; with KITSHOP_FAKE_FAIL=1 it exits 3 at once instead, as a
// service given a bad setting does.
const fakeService = `#!/bin/sh
trap 'exit 0' TERM
if [ "$KITSHOP_FAKE_FAIL" = 1 ]; then echo 'bad setting'; exit 3; fi
echo '{"level":"info","msg":"starting","http_addr":"127.0.0.1:4'$$'","grpc_addr":"127.0.0.1:5'$$'"}'
while :; do sleep 0.1; done
`

// testFleet is a fleet whose "users" is fakeService, with the main
// loop's supervise running on it.
func testFleet(t *testing.T) (*fleet, chan error) {
	t.Helper()
	bin := t.TempDir()
	if err := os.WriteFile(filepath.Join(bin, "users"), []byte(fakeService), 0o755); err != nil {
		t.Fatal(err)
	}
	exited := make(chan *child, 8+maxExtra)
	fl := newFleet(bin, "127.0.0.1:1", nil, nil, processes, exited)
	ctx, cancel := context.WithCancel(context.Background())
	failure := make(chan error, 1)
	go func() { failure <- supervise(ctx, fl, exited) }()
	t.Cleanup(func() {
		cancel()
		<-failure
		_ = stopAll(fl.shutdown(), 5*time.Second)
	})
	return fl, failure
}

func TestFleetStartStopKillAreExpected(t *testing.T) {
	fl, failure := testFleet(t)
	ctx := context.Background()
	in, err := fl.Start("users", []string{"KITSHOP_SERVICE_VERSION=v2"})
	if err != nil {
		t.Fatal(err)
	}
	if !in.Extra || in.Version != "v2" {
		t.Errorf("started %+v", in)
	}
	kittest.WaitFor(t, 10*time.Second, "the address logged", func() bool {
		l := fl.List("users")
		return len(l) == 1 && strings.HasPrefix(l[0].HTTPAddr, "127.0.0.1:4") && strings.HasPrefix(l[0].GRPCAddr, "127.0.0.1:5")
	})
	second, err := fl.Start("users", nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fl.Stop(ctx, in.PID); err != nil {
		t.Fatalf("stop: %v", err)
	}
	if _, err := fl.Pause(second.PID, true); err != nil {
		t.Fatal(err)
	}
	if l := fl.List("users"); len(l) != 1 || !l[0].Paused {
		t.Errorf("after pause: %+v", l)
	}
	// A paused instance is continued before it is signalled, or SIGTERM
	// would wait in its queue; kill needs no such help.
	if _, err := fl.Kill(ctx, second.PID); err != nil {
		t.Fatalf("kill: %v", err)
	}
	if _, err := fl.Stop(ctx, second.PID); err == nil || !strings.Contains(err.Error(), "no instance") {
		t.Errorf("stop after kill: %v", err)
	}
	if len(fl.List("")) != 0 {
		t.Errorf("still listed: %+v", fl.List(""))
	}
	select {
	case err := <-failure:
		failure <- err
		t.Fatalf("the platform stopped on an expected exit: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
}

func TestFleetRefusesWhatItCannotStart(t *testing.T) {
	fl, _ := testFleet(t)
	for svc, want := range map[string]string{"gateway": "port is fixed", "registry": "single etcd member", "bogus": "unknown service"} {
		if _, err := fl.Start(svc, nil); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("start %s: %v, want %q", svc, err, want)
		}
	}
}

// An extra instance that dies at start-up (a bad setting) is reported,
// and the platform keeps running; a crash of one that was serving stops
// it, as it always has.
func TestFleetCrashes(t *testing.T) {
	fl, failure := testFleet(t)
	if _, err := fl.Start("users", []string{"KITSHOP_FAKE_FAIL=1"}); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-failure:
		failure <- err
		t.Fatalf("a start-up failure of an extra instance stopped the platform: %v", err)
	case <-time.After(500 * time.Millisecond):
	}
	in, err := fl.Start("users", nil)
	if err != nil {
		t.Fatal(err)
	}
	kittest.WaitFor(t, 10*time.Second, "serving", func() bool { return len(fl.List("users")) == 1 && fl.List("users")[0].HTTPAddr != "" })
	p, err := os.FindProcess(in.PID)
	if err != nil {
		t.Fatal(err)
	}
	_ = p.Kill() // behind the launcher's back: a crash
	select {
	case err := <-failure:
		failure <- err // for the cleanup, which waits for supervise's end
		if err == nil || !strings.Contains(err.Error(), "users") {
			t.Errorf("failure %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a crash did not stop the platform")
	}
}

// Every users process make run starts signs with one key, kept across
// runs, so restarting users keeps tokens valid; a developer's own key
// file wins.
func TestSigningKeyIsSharedAndKept(t *testing.T) {
	t.Setenv("KITSHOP_JWT_KEY_FILE", "")
	dir := filepath.Join(t.TempDir(), "run")
	first, err := signingKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(first)
	if err != nil || !strings.Contains(string(pem), "BEGIN PRIVATE KEY") {
		t.Fatalf("key file %s: %v", first, err)
	}
	if fi, _ := os.Stat(first); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	again, err := signingKey(dir)
	if err != nil || again != first {
		t.Fatalf("second run: %s, %v; want %s reused", again, err, first)
	}
	if same, _ := os.ReadFile(again); string(same) != string(pem) {
		t.Error("the key changed between runs")
	}
	fl := &fleet{signingKey: first}
	if env := fl.keyEnv(process{name: "users"}); len(env) != 1 || env[0] != "KITSHOP_JWT_KEY_FILE="+first {
		t.Errorf("users env %v", env)
	}
	if env := fl.keyEnv(process{name: "orders"}); env != nil {
		t.Errorf("orders env %v: only users signs", env)
	}
	t.Setenv("KITSHOP_JWT_KEY_FILE", "/etc/mine.pem")
	if own, _ := signingKey(dir); own != "/etc/mine.pem" {
		t.Errorf("with the developer's own key: %s", own)
	}
}

// Extra instances stop with their service, callers before callees,
// whenever they were started.
func TestShutdownOrdersByService(t *testing.T) {
	mk := func(name string) *child { return &child{name: name, done: make(chan struct{})} }
	fl := newFleet("", "", nil, nil, processes, nil)
	for _, n := range []string{"registry", "users", "orders", "gateway", "users", "orders"} {
		fl.children = append(fl.children, mk(n))
	}
	var got []string
	for _, c := range fl.shutdown() {
		got = append(got, c.name)
	}
	if want := "registry users users orders orders gateway"; strings.Join(got, " ") != want {
		t.Errorf("shutdown order %v, want %s (stopAll goes in reverse)", got, want)
	}
	if _, err := fl.Start("users", nil); err == nil || !strings.Contains(err.Error(), "stopping") {
		t.Errorf("start after shutdown: %v", err)
	}
}
