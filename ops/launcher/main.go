// Command launcher is `make run`: it builds the registry and every service
// that exists yet, starts them one after the other on their default ports
// with embedded defaults, each once the processes it calls are ready,
// prefixes their output, prints where to go once everything is ready, and
// stops them in reverse order on Ctrl-C.
//
// It is secure by default: it keeps a development CA under .run/tls
// (reused while valid), issues every process a certificate naming it, and
// starts each with KITSHOP_TLS_CA/CERT/KEY, so every port speaks mTLS and
// internal methods check their caller. -insecure (or KITSHOP_INSECURE=1)
// runs everything in plaintext instead.
//
// Each service gets DATABASE_URL from KITSHOP_<SERVICE>_DATABASE_URL, else
// from DATABASE_URL (each service then keeps its tables in its own schema),
// else none, meaning the in-memory store. products is started with
// KITSHOP_PRODUCTS_SEED_DEMO=1 (unless set otherwise), so an empty catalog
// gets demo products.
//
// -port-offset N (KITSHOP_LAUNCHER_PORT_OFFSET) shifts every port, the
// registry's etcd included, by N, so a second platform (a test's) runs
// beside a developer's `make run`.
//
// Traces: KITSHOP_ZIPKIN_URL passes through to every process. -traces
// (KITSHOP_LAUNCHER_TRACES, make run TRACES=1) starts a Jaeger or Zipkin
// found on PATH first and stops it last (see traces.go).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"syscall"
	"time"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/ops/launcher/control"
)

const (
	// readyTimeout bounds the wait for each process to turn ready.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds each process's graceful stop before it is killed;
	// above the services' default drain timeout (15s).
	stopTimeout = 20 * time.Second
)

type options struct {
	binDir, tlsDir, only, control string
	insecure, traces              bool
	portOffset                    int
}

func main() {
	fs := flag.NewFlagSet("launcher", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.binDir, "bin-dir", ".bin", "where to build the binaries")
	fs.StringVar(&o.tlsDir, "tls-dir", filepath.Join(".run", "tls"), "where the development CA and certificates are kept")
	fs.StringVar(&o.only, "only", "", "comma-separated subset of processes to run")
	insecure := config.Bool(fs, "insecure", "KITSHOP_INSECURE", false, "run everything without TLS (gRPC then listens on loopback only)")
	offset := config.Int(fs, "port-offset", "KITSHOP_LAUNCHER_PORT_OFFSET", 0,
		"add N to every port (HTTP, gRPC, the registry's etcd), to run beside another make run")
	traces := config.Bool(fs, "traces", "KITSHOP_LAUNCHER_TRACES", false,
		"start a trace backend found on PATH (jaeger, jaeger-all-in-one or zipkin) first, and point every process at it")
	fs.StringVar(&o.control, "control", "",
		"the control socket ops/rollout and ops/chaos drive the platform through (default "+control.DefaultPath+", or .run/launcher+N.sock with -port-offset N)")
	err := config.Parse(fs, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		o.insecure, o.portOffset, o.traces = *insecure, *offset, *traces
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		os.Exit(1)
	}
}

// run starts the platform and returns once it has stopped: nil after a
// Ctrl-C (or SIGTERM) that stopped every process cleanly; an error when a
// process failed to start, exited on its own, or did not stop cleanly.
func run(o options) error {
	// SIGHUP too: children have their own process group (sysProcAttr), so
	// a closed terminal reaches only the launcher, which must stop them.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	all, err := shiftPorts(processes, o.portOffset)
	if err != nil {
		return err
	}
	selected, skipped, err := selectProcesses(all, o.only, isCommand)
	if err != nil {
		return err
	}
	if len(selected) == 0 {
		return fmt.Errorf("nothing to run (not built yet: %v)", skipped)
	}
	if err := checkPortsFree(selected); err != nil {
		return err
	}
	var sec *security
	if !o.insecure {
		if sec, err = secure(o.tlsDir); err != nil {
			return err
		}
	}
	if err := buildAll(ctx, o.binDir, selected); err != nil {
		if ctx.Err() != nil {
			return nil // interrupted while building: nothing runs yet
		}
		return err
	}
	// Listen before anything starts, so a second launcher on the same
	// socket is refused up front rather than after the build.
	if o.control == "" {
		o.control = control.PathFor(o.portOffset)
	}
	ln, err := control.Listen(o.control)
	if err != nil {
		return err
	}
	defer ln.Close() // unless served: the server closes it
	// The trace backend comes first, so the first spans have somewhere to
	// go, and stops last, once every process has flushed its own.
	traces := setupTraces(ctx, o.traces)
	defer traces.stop()
	// Room for every exit, the control socket's extra instances included:
	// a child's goroutine never blocks on it, even during shutdown.
	exited := make(chan *child, len(selected)+maxExtra)
	fl := newFleet(o.binDir, etcdEndpoint(all), sec, traces.env, all, exited)
	if fl.signingKey, err = signingKey(filepath.Dir(o.tlsDir)); err != nil {
		return err
	}
	notReady, failure := startAll(ctx, o.binDir, selected, fl, exited)
	if failure == nil && ctx.Err() == nil {
		select {
		case c := <-exited: // one started earlier died meanwhile
			failure = fmt.Errorf("%s exited (%s)", c.name, c.status())
		default:
		}
	}
	if failure == nil && ctx.Err() == nil {
		srv := control.Serve(ln, fl)
		banner(os.Stderr, selected, sec, skipped, notReady, o.portOffset)
		fmt.Fprintf(os.Stderr, "  control socket: %s (go run ./ops/rollout restart <service>, go run ./ops/chaos <scenario>)\n", o.control)
		traces.print(os.Stderr)
		failure = supervise(ctx, fl, exited)
		_ = srv.Close()
	}
	if failure != nil {
		fmt.Fprintf(os.Stderr, "launcher: %v; stopping the rest in reverse order\n", failure)
	} else {
		fmt.Fprintln(os.Stderr, "launcher: stopping in reverse order")
	}
	return errors.Join(failure, stopAll(fl.shutdown(), stopTimeout))
}

// supervise waits for Ctrl-C or an unexpected exit. An exit asked for
// through the control socket (stop, kill) is expected and skipped. Any
// other exit stops the platform, as it always has: a crash is a bug a
// developer must see, and restarting with backoff would hide a crash
// loop behind a platform that seems up (the kill -9 scenario of ops/chaos
// kills through the socket, so it does not count). The one exception is
// an extra instance that exits before it ever listened (a bad setting
// passed to start): the tool that started it is told (control.WaitAddrs),
// and nothing of the platform depended on it yet.
func supervise(ctx context.Context, fl *fleet, exited <-chan *child) error {
	for {
		select {
		case <-ctx.Done():
			return nil
		case c := <-exited:
			if fl.isExpected(c) {
				fl.forget(c)
				continue
			}
			if h, _ := c.addrs(); c.extra && h == "" {
				fmt.Fprintf(os.Stderr, "launcher: %s (pid %d), started through the control socket, exited during start-up (%s); the platform keeps running\n",
					c.name, c.pid(), c.status())
				fl.forget(c)
				continue
			}
			return fmt.Errorf("%s (pid %d) exited (%s)", c.name, c.pid(), c.status())
		}
	}
}

// startAll starts ps in order, each once the one before it is ready, so
// that callers find their callees up. It stops early on a signal (ctx)
// or when a process exits before it is ready; one still not ready after
// readyTimeout is only reported in notReady, as it may be merely slow (a
// database coming up).
func startAll(ctx context.Context, binDir string, ps []process, fl *fleet, exited chan<- *child) (notReady []string, failure error) {
	client := fl.sec.httpClient()
	defer client.CloseIdleConnections()
	for _, p := range ps {
		cmd := exec.Command(filepath.Join(binDir, p.name))
		cmd.Env = environment(p, fl.etcd, fl.sec, slices.Concat(fl.extraEnv, fl.keyEnv(p))...)
		c, err := start(p.name, cmd, exited)
		if err != nil {
			return notReady, err
		}
		c.version = lastValue(cmd.Env, "KITSHOP_SERVICE_VERSION")
		fl.add(c)
		fmt.Fprintf(os.Stderr, "launcher: started %s (pid %d)\n", p.name, c.pid())
		err = waitReady(ctx, client, fl.sec.scheme(), p, c.done)
		switch {
		case ctx.Err() != nil:
			return notReady, nil
		case c.hasExited():
			// Whatever would start after it would only fail on it.
			return notReady, fmt.Errorf("%s exited before it was ready (%s); see its log above", p.name, c.status())
		case err != nil:
			fmt.Fprintf(os.Stderr, "launcher: %s: %v\n", p.name, err)
			notReady = append(notReady, p.name)
		}
	}
	return notReady, nil
}

// buildAll builds the selected commands into binDir.
func buildAll(ctx context.Context, binDir string, ps []process) error {
	args := []string{"build", "-o", binDir + string(os.PathSeparator)}
	for _, p := range ps {
		args = append(args, "./"+p.name)
	}
	cmd := exec.CommandContext(ctx, "go", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return nil
}
