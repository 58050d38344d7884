package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kitshop/kitshop/ops/launcher/control"
)

// maxExtra bounds the instances started through the control socket at
// once: a runaway script should not fork-bomb the machine, and exited's
// buffer is sized with it.
const maxExtra = 32

// fleet is every process the launcher runs, the ones it started at boot
// and the ones started through the control socket. It implements
// control.Runner. An exit the socket asked for (stop, kill) is expected:
// the main loop skips it instead of stopping the platform.
type fleet struct {
	binDir, etcd string
	sec          *security
	// signingKey is users' KITSHOP_JWT_KEY_FILE (signingkey.go).
	signingKey string
	extraEnv   []string
	// procs are every known process with its shifted fixed addresses.
	procs  []process
	exited chan<- *child

	mu       sync.Mutex
	children []*child // in start order
	expected map[*child]bool
	closing  bool
}

func newFleet(binDir, etcd string, sec *security, extraEnv []string, procs []process, exited chan<- *child) *fleet {
	return &fleet{binDir: binDir, etcd: etcd, sec: sec, extraEnv: extraEnv, procs: procs, exited: exited, expected: map[*child]bool{}}
}

// add records a child started at boot.
func (f *fleet) add(c *child) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.children = append(f.children, c)
}

// forget drops c, whose exit the main loop has handled, so the list does
// not grow with every restart.
func (f *fleet) forget(c *child) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.children = slices.DeleteFunc(f.children, func(x *child) bool { return x == c })
	delete(f.expected, c)
}

// isExpected reports whether c's exit was asked for through the socket.
func (f *fleet) isExpected(c *child) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.expected[c]
}

// shutdown refuses further starts and returns every child for stopAll,
// which stops them in reverse: ordered by the boot order of their
// process (an extra orders instance with the orders started at boot), so
// callers still stop before callees whatever the socket started when.
// Paused ones are continued first, or SIGTERM would wait in their queue
// until stopAll's timeout killed them.
func (f *fleet) shutdown() []*child {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closing = true
	for _, c := range f.children {
		if c.paused && !c.hasExited() {
			_ = c.cmd.Process.Signal(syscall.SIGCONT)
			c.paused = false
		}
	}
	out := slices.Clone(f.children)
	rank := func(c *child) int { return slices.Index(names(f.procs), c.name) }
	slices.SortStableFunc(out, func(a, b *child) int { return rank(a) - rank(b) })
	return out
}

func (f *fleet) List(service string) []control.Instance {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []control.Instance
	for _, c := range f.children {
		if c.hasExited() || (service != "" && c.name != service) {
			continue
		}
		out = append(out, f.describe(c))
	}
	return out
}

// describe is c as the socket reports it; f.mu is held.
func (f *fleet) describe(c *child) control.Instance {
	in := control.Instance{Service: c.name, PID: c.pid(), Version: c.version, StartedAt: c.started, Extra: c.extra, Paused: c.paused}
	in.HTTPAddr, in.GRPCAddr = c.addrs()
	if in.HTTPAddr == "" && !c.extra {
		// Processes that do not log their addresses (the registry)
		// listen where the launcher told them to.
		if p, ok := find(f.procs, c.name); ok {
			in.HTTPAddr, in.GRPCAddr = localhost(p.httpAddr), localhost(p.grpcAddr)
			if p.etcdAddr != "" {
				in.GRPCAddr = p.etcdAddr // etcd's client port is the registry's gRPC
			}
		}
	}
	return in
}

// startable are the processes the socket may start more of: the
// services. The registry is one etcd member, and the gateway's public
// port is fixed (a second gateway on an ephemeral port would be reached
// by nobody), so both are refused with a reason.
func (f *fleet) startable(service string) (process, error) {
	p, ok := find(f.procs, service)
	switch {
	case !ok:
		return process{}, fmt.Errorf("unknown service %q (known: %s)", service, strings.Join(names(f.procs), ", "))
	case service == "registry":
		return process{}, errors.New("start registry: the registry is a single etcd member; it cannot be doubled")
	case service == "gateway":
		return process{}, errors.New("start gateway: the gateway's port is fixed (clients reach one address); a second one on an ephemeral port would get no traffic")
	}
	return p, nil
}

func (f *fleet) Start(service string, env []string) (control.Instance, error) {
	p, err := f.startable(service)
	if err != nil {
		return control.Instance{}, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closing {
		return control.Instance{}, errors.New("start: the launcher is stopping")
	}
	extra := 0
	for _, c := range f.children {
		if c.extra && !c.hasExited() {
			extra++
		}
	}
	if extra >= maxExtra {
		return control.Instance{}, fmt.Errorf("start: %d extra instances are running already (the limit)", maxExtra)
	}
	// Ephemeral ports on loopback, so the new instance never clashes
	// with the fixed ones; it registers the ports it got.
	p.httpAddr, p.grpcAddr = "127.0.0.1:0", "127.0.0.1:0"
	cmd := exec.Command(filepath.Join(f.binDir, p.name))
	// env goes before the identity (security.env comes last in
	// environment), so a start cannot borrow another service's
	// certificate or leave TLS.
	cmd.Env = environment(p, f.etcd, f.sec, slices.Concat(f.extraEnv, f.keyEnv(p), env)...)
	c, err := start(p.name, cmd, f.exited)
	if err != nil {
		return control.Instance{}, err
	}
	c.extra = true
	c.version = lastValue(env, "KITSHOP_SERVICE_VERSION")
	f.children = append(f.children, c)
	fmt.Fprintf(os.Stderr, "launcher: started %s (pid %d) through the control socket %v\n", p.name, c.pid(), env)
	return f.describe(c), nil
}

// lookup finds the running child with pid.
func (f *fleet) lookup(pid int) (*child, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.children {
		if c.pid() == pid && !c.hasExited() {
			return c, nil
		}
	}
	return nil, fmt.Errorf("no instance with pid %d is running", pid)
}

// end signals c, marked as an expected exit, and waits for its exit
// within wait (then ctx is no longer waited on: the caller gets an error
// and the process is SIGKILLed if it was a SIGTERM).
func (f *fleet) end(ctx context.Context, pid int, sig syscall.Signal, wait time.Duration) (control.Instance, error) {
	c, err := f.lookup(pid)
	if err != nil {
		return control.Instance{}, err
	}
	f.mu.Lock()
	f.expected[c] = true
	in := f.describe(c)
	if c.paused { // a stopped process would not act on SIGTERM
		_ = c.cmd.Process.Signal(syscall.SIGCONT)
		c.paused = false
	}
	f.mu.Unlock()
	_ = c.cmd.Process.Signal(sig)
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-c.done:
		fmt.Fprintf(os.Stderr, "launcher: %s (pid %d) ended through the control socket (%s)\n", c.name, pid, c.status())
		return in, nil
	case <-ctx.Done():
	case <-timer.C:
	}
	_ = c.cmd.Process.Kill()
	select {
	case <-c.done:
	case <-time.After(killWait):
	}
	return in, fmt.Errorf("%s (pid %d) did not exit within %v after %v; killed", c.name, pid, wait, sig)
}

func (f *fleet) Stop(ctx context.Context, pid int) (control.Instance, error) {
	return f.end(ctx, pid, syscall.SIGTERM, stopTimeout)
}

func (f *fleet) Kill(ctx context.Context, pid int) (control.Instance, error) {
	return f.end(ctx, pid, syscall.SIGKILL, killWait)
}

func (f *fleet) Pause(pid int, pause bool) (control.Instance, error) {
	c, err := f.lookup(pid)
	if err != nil {
		return control.Instance{}, err
	}
	sig := syscall.SIGCONT
	if pause {
		sig = syscall.SIGSTOP
	}
	if err := c.cmd.Process.Signal(sig); err != nil {
		return control.Instance{}, fmt.Errorf("%v to pid %d: %w", sig, pid, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	c.paused = pause
	fmt.Fprintf(os.Stderr, "launcher: %s (pid %d) %s through the control socket\n", c.name, pid, map[bool]string{true: "paused", false: "resumed"}[pause])
	return f.describe(c), nil
}

// lastValue is the value of key in env (KEY=value entries), last wins.
func lastValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
