// Command launcher is `make run`: it builds the registry and every service,
// starts them on their default ports with embedded defaults, prefixes their
// output, and stops them in reverse order on Ctrl-C.
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
)

// process is one program the launcher runs. Order matters: the registry
// first, so services register at once instead of retrying.
type process struct {
	name     string
	httpAddr string
	grpcAddr string
}

var processes = []process{
	{"registry", "127.0.0.1:8090", ""},
	{"users", ":8081", ":9081"},
	{"products", ":8082", ":9082"},
	{"payments", ":8084", ":9084"},
}

func main() {
	binDir := flag.String("bin-dir", ".bin", "where to build the binaries")
	only := flag.String("only", "", "comma-separated subset of processes to run")
	flag.Parse()
	if err := run(*binDir, *only); err != nil {
		fmt.Fprintln(os.Stderr, "launcher:", err)
		os.Exit(1)
	}
}

func run(binDir, only string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	selected := selectProcesses(only)
	if err := build(ctx, binDir, selected); err != nil {
		return err
	}
	type child struct {
		cmd  *exec.Cmd
		done chan struct{}
	}
	var running []child
	var wg sync.WaitGroup
	exited := make(chan string, len(selected))
	for _, p := range selected {
		cmd := exec.Command(filepath.Join(binDir, p.name))
		cmd.Env = environment(p)
		out, err := cmd.StdoutPipe()
		if err != nil {
			return err
		}
		cmd.Stderr = cmd.Stdout
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("start %s: %w", p.name, err)
		}
		c := child{cmd: cmd, done: make(chan struct{})}
		running = append(running, c)
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			prefix(name, out)
			_ = cmd.Wait()
			close(c.done)
			exited <- name
		}(p.name)
		if err := waitReady(ctx, p); err != nil {
			fmt.Fprintf(os.Stderr, "launcher: %s: %v\n", p.name, err)
		}
	}
	fmt.Fprintln(os.Stderr, "launcher: all started; gateway-less for now: services answer on their own ports. Ctrl-C stops.")

	select {
	case <-ctx.Done():
	case name := <-exited:
		fmt.Fprintf(os.Stderr, "launcher: %s exited; stopping the rest\n", name)
	}
	// Reverse order: services deregister while the registry still runs.
	for i := len(running) - 1; i >= 0; i-- {
		c := running[i]
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(20 * time.Second):
			_ = c.cmd.Process.Kill()
			<-c.done
		}
	}
	wg.Wait()
	return nil
}

func selectProcesses(only string) []process {
	if only == "" {
		return processes
	}
	want := map[string]bool{}
	for _, n := range strings.Split(only, ",") {
		want[strings.TrimSpace(n)] = true
	}
	var out []process
	for _, p := range processes {
		if want[p.name] {
			out = append(out, p)
		}
	}
	return out
}

func build(ctx context.Context, binDir string, ps []process) error {
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

func environment(p process) []string {
	env := os.Environ()
	env = append(env, "KITSHOP_HTTP_ADDR="+p.httpAddr)
	if p.grpcAddr != "" {
		env = append(env, "KITSHOP_GRPC_ADDR="+p.grpcAddr)
	}
	if url := os.Getenv("KITSHOP_" + strings.ToUpper(p.name) + "_DATABASE_URL"); url != "" {
		env = append(env, "DATABASE_URL="+url)
	}
	return env
}

// waitReady polls /health/ready so the next process finds this one up.
func waitReady(ctx context.Context, p process) error {
	addr := p.httpAddr
	if strings.HasPrefix(addr, ":") {
		addr = "127.0.0.1" + addr
	}
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/health/ready", nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return errors.New("not ready after 30s")
}

func prefix(name string, r io.Reader) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		fmt.Printf("%-9s| %s\n", name, sc.Text())
	}
}
