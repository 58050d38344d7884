// Command launcher is `make run`: it builds the registry and every service
// that exists yet, starts them on their default ports with embedded
// defaults, prefixes their output, and stops them in reverse order on
// Ctrl-C.
//
// It is secure by default: it keeps a development CA under .run/tls
// (reused while valid), issues every process a certificate naming it, and
// starts each with KITSHOP_TLS_CA/CERT/KEY, so every port speaks mTLS and
// internal methods check their caller. -insecure (or KITSHOP_INSECURE=1)
// runs everything in plaintext instead.
//
// Each service gets DATABASE_URL from KITSHOP_<SERVICE>_DATABASE_URL, else
// from DATABASE_URL (each service then keeps its tables in its own schema),
// else none, meaning the in-memory store.
package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/kitshop/kitshop/kit/config"
)

const (
	// readyTimeout bounds the wait for each process to turn ready.
	readyTimeout = 30 * time.Second
	// stopTimeout bounds each process's graceful stop before it is killed;
	// above the services' default drain timeout (15s).
	stopTimeout = 20 * time.Second
)

type options struct {
	binDir, tlsDir, only string
	insecure             bool
}

func main() {
	fs := flag.NewFlagSet("launcher", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.binDir, "bin-dir", ".bin", "where to build the binaries")
	fs.StringVar(&o.tlsDir, "tls-dir", filepath.Join(".run", "tls"), "where the development CA and certificates are kept")
	fs.StringVar(&o.only, "only", "", "comma-separated subset of processes to run")
	insecure := config.Bool(fs, "insecure", "KITSHOP_INSECURE", false, "run everything without TLS (gRPC then listens on loopback only)")
	err := config.Parse(fs, os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err == nil {
		o.insecure = *insecure
		err = run(o)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		os.Exit(1)
	}
}

func run(o options) error {
	// SIGHUP too: children have their own process group (sysProcAttr), so
	// a closed terminal reaches only the launcher, which must stop them.
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()

	selected, skipped, err := selectProcesses(o.only, isCommand)
	if err != nil {
		return err
	}
	if len(selected) == 0 {
		return fmt.Errorf("nothing to run (not built yet: %v)", skipped)
	}
	var sec *security
	if !o.insecure {
		if sec, err = secure(o.tlsDir); err != nil {
			return err
		}
	}
	if err := buildAll(ctx, o.binDir, selected); err != nil {
		return err
	}
	client := sec.httpClient()
	defer client.CloseIdleConnections()

	type child struct {
		name string
		cmd  *exec.Cmd
		done chan struct{}
	}
	var running []child
	var wg sync.WaitGroup
	exited := make(chan string, len(selected))
	for _, p := range selected {
		cmd := exec.Command(filepath.Join(o.binDir, p.name))
		cmd.Env = environment(p, sec)
		cmd.SysProcAttr = sysProcAttr()
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", p.name, err)
		}
		c := child{name: p.name, cmd: cmd, done: make(chan struct{})}
		running = append(running, c)
		wg.Add(1)
		go func() {
			defer wg.Done()
			prefix(c.name, out)
			_ = cmd.Wait()
			close(c.done)
			exited <- c.name
		}()
		if err := waitReady(ctx, client, sec.scheme(), p, c.done); err != nil {
			fmt.Fprintf(os.Stderr, "launcher: %s: %v\n", p.name, err)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if ctx.Err() == nil {
		banner(os.Stderr, selected, sec, skipped)
	}

	select {
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "launcher: stopping in reverse order")
	case name := <-exited:
		fmt.Fprintf(os.Stderr, "launcher: %s exited; stopping the rest\n", name)
	}
	// Reverse order: callers before callees, and services deregister
	// while the registry still runs.
	for i := len(running) - 1; i >= 0; i-- {
		c := running[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(stopTimeout):
			fmt.Fprintf(os.Stderr, "launcher: %s did not stop within %v; killing it\n", c.name, stopTimeout)
			_ = c.cmd.Process.Kill()
			<-c.done
		}
		fmt.Fprintf(os.Stderr, "launcher: %s stopped\n", c.name)
	}
	wg.Wait()
	return nil
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

func environment(p process, sec *security) []string {
	env := os.Environ()
	env = append(env, "KITSHOP_HTTP_ADDR="+p.httpAddr)
	if p.grpcAddr != "" {
		env = append(env, "KITSHOP_GRPC_ADDR="+p.grpcAddr)
	}
	if url := os.Getenv("KITSHOP_" + strings.ToUpper(p.name) + "_DATABASE_URL"); url != "" {
		env = append(env, "DATABASE_URL="+url)
	}
	// Later entries win over the inherited environment (os/exec keeps
	// the last value of a duplicated key).
	return append(env, sec.env(p)...)
}

// waitReady polls /health/ready so the next process finds this one up. It
// gives up early when the process has exited (exited is closed), say
// because it was handed the wrong certificate.
func waitReady(ctx context.Context, client *http.Client, scheme string, p process, exited <-chan struct{}) error {
	addr := p.httpAddr
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr // the development certificates name 127.0.0.1
	}
	url := scheme + "://" + addr + "/health/ready"
	deadline := time.NewTimer(readyTimeout)
	defer deadline.Stop()
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-exited:
			return errors.New("exited before it was ready")
		case <-deadline.C:
			return fmt.Errorf("not ready after %v", readyTimeout)
		case <-tick.C:
		}
	}
}

func prefix(name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fmt.Printf("%-9s| %s\n", name, sc.Text())
	}
}
