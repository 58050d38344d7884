package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"syscall"
	"time"
)

// killWait bounds the wait for a killed process's end to be seen.
const killWait = 5 * time.Second

// child is one running process.
type child struct {
	name string
	cmd  *exec.Cmd
	// done is closed once the process has exited and its output is read;
	// cmd.ProcessState is set from then on.
	done    chan struct{}
	started time.Time
	// extra, version and paused are the control socket's (fleet.go);
	// paused is guarded by the fleet's mutex.
	extra   bool
	version string
	paused  bool

	addrMu             sync.Mutex
	httpAddr, grpcAddr string
}

// addrs are the listen addresses the process logged at start, if any yet.
func (c *child) addrs() (httpAddr, grpcAddr string) {
	c.addrMu.Lock()
	defer c.addrMu.Unlock()
	return c.httpAddr, c.grpcAddr
}

// noteAddrs picks the listen addresses out of the process's start-up log
// line (kit/boot logs "http_addr" and "grpc_addr" once its listeners are
// open): the only way to learn the ports of an instance started on :0.
func (c *child) noteAddrs(line []byte) {
	if !bytes.Contains(line, []byte(`"http_addr"`)) {
		return
	}
	var l struct {
		HTTPAddr string `json:"http_addr"`
		GRPCAddr string `json:"grpc_addr"`
	}
	if json.Unmarshal(line, &l) != nil || l.HTTPAddr == "" {
		return
	}
	c.addrMu.Lock()
	defer c.addrMu.Unlock()
	if c.httpAddr == "" {
		c.httpAddr, c.grpcAddr = l.HTTPAddr, l.GRPCAddr
	}
}

// start runs cmd in its own process group, its output prefixed with name
// on the launcher's stdout. When it exits, c is sent on exited (which must
// have room: it is never waited on).
func start(name string, cmd *exec.Cmd, exited chan<- *child) (*child, error) {
	cmd.SysProcAttr = sysProcAttr()
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{}), started: time.Now()}
	go func() {
		// Wait only after the output is drained, as os/exec requires.
		prefix(name, out, c.noteAddrs)
		_ = cmd.Wait()
		close(c.done)
		exited <- c
	}()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) hasExited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// status is how the process ended; call it only after done is closed.
func (c *child) status() string { return c.cmd.ProcessState.String() }

// stopAll stops children in reverse order: callers before callees, and
// services deregister while the registry still runs. Each gets SIGTERM
// and timeout to drain before it is killed. The error names every child
// that had to be killed or did not exit 0, since that is a bug in its
// shutdown (one that had exited already was reported when it did).
func stopAll(children []*child, timeout time.Duration) error {
	var unclean []error
	for i := len(children) - 1; i >= 0; i-- {
		c := children[i]
		if c.hasExited() {
			fmt.Fprintf(os.Stderr, "launcher: %s had exited (%s)\n", c.name, c.status())
			continue
		}
		_ = c.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-c.done:
		case <-time.After(timeout):
			fmt.Fprintf(os.Stderr, "launcher: %s did not stop within %v; killing it\n", c.name, timeout)
			_ = c.cmd.Process.Kill()
			select {
			case <-c.done:
			case <-time.After(killWait):
				// Only a descendant holding its output open can delay
				// done after a SIGKILL; do not hang on it.
				fmt.Fprintf(os.Stderr, "launcher: %s: output still open %v after SIGKILL; moving on\n", c.name, killWait)
			}
			unclean = append(unclean, fmt.Errorf("%s did not stop within %v and was killed", c.name, timeout))
			continue
		}
		fmt.Fprintf(os.Stderr, "launcher: %s stopped (%s)\n", c.name, c.status())
		if !c.cmd.ProcessState.Success() {
			unclean = append(unclean, fmt.Errorf("%s stopped with %s", c.name, c.status()))
		}
	}
	return errors.Join(unclean...)
}

func prefix(name string, r io.Reader, onLine func([]byte)) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		onLine(sc.Bytes())
		fmt.Printf("%-9s| %s\n", name, sc.Text())
	}
	// A line over 1 MiB stops the scanner; keep draining so the child
	// never blocks on a full pipe.
	_, _ = io.Copy(io.Discard, r)
}
