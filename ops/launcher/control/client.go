package control

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// DefaultPath is where `make run` serves its socket, relative to the
// checkout; a launcher with -port-offset N serves PathFor(N).
const DefaultPath = ".run/launcher.sock"

// PathFor is the default socket of a launcher started with -port-offset
// offset, so a test's platform beside a developer's has its own.
func PathFor(offset int) string {
	if offset == 0 {
		return DefaultPath
	}
	return filepath.Join(".run", "launcher+"+strconv.Itoa(offset)+".sock")
}

// Client talks to one launcher over one connection; its methods may be
// called from several goroutines (requests are serialised).
type Client struct {
	mu   sync.Mutex
	conn net.Conn
	br   *bufio.Reader
}

// Dial connects to the launcher's socket at path, within 5 s.
func Dial(path string) (*Client, error) {
	conn, err := net.DialTimeout("unix", path, 5*time.Second)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no launcher control socket at %s: is `make run` up (with this -port-offset)?", path)
		}
		return nil, fmt.Errorf("launcher control socket %s: %w", path, err)
	}
	return &Client{conn: conn, br: bufio.NewReaderSize(conn, 64<<10)}, nil
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Do sends req and reads its answer, bounded by ctx (no deadline in ctx
// means 60 s: a stop waits for a drain, which the launcher bounds at 20 s).
func (c *Client) Do(ctx context.Context, req Request) (Response, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(60 * time.Second)
	}
	_ = c.conn.SetDeadline(deadline)
	// A cancelled ctx unblocks the read at once.
	stop := context.AfterFunc(ctx, func() { _ = c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	b, err := json.Marshal(req)
	if err != nil {
		return Response{}, err
	}
	if _, err := c.conn.Write(append(b, '\n')); err != nil {
		return Response{}, fmt.Errorf("launcher control: %w", err)
	}
	line, err := c.br.ReadBytes('\n')
	if err != nil {
		if ctx.Err() != nil {
			return Response{}, ctx.Err()
		}
		return Response{}, fmt.Errorf("launcher control: reading the answer to %s: %w", req.Op, err)
	}
	var resp Response
	if err := json.Unmarshal(line, &resp); err != nil {
		return Response{}, fmt.Errorf("launcher control: bad answer %q: %w", truncate(string(line), 200), err)
	}
	if !resp.OK {
		return resp, fmt.Errorf("launcher: %s", resp.Error)
	}
	return resp, nil
}

// List returns the running instances of service ("" = all).
func (c *Client) List(ctx context.Context, service string) ([]Instance, error) {
	resp, err := c.Do(ctx, Request{Op: OpList, Service: service})
	return resp.Instances, err
}

// Start starts one more instance of service with env added.
func (c *Client) Start(ctx context.Context, service string, env ...string) (Instance, error) {
	return one(c.Do(ctx, Request{Op: OpStart, Service: service, Env: env}))
}

// Stop stops pid gracefully (SIGTERM) and returns once it exited.
func (c *Client) Stop(ctx context.Context, pid int) (Instance, error) {
	return one(c.Do(ctx, Request{Op: OpStop, PID: pid}))
}

// Kill sends SIGKILL to pid and returns once it exited.
func (c *Client) Kill(ctx context.Context, pid int) (Instance, error) {
	return one(c.Do(ctx, Request{Op: OpKill, PID: pid}))
}

// Pause freezes pid (SIGSTOP) until Resume.
func (c *Client) Pause(ctx context.Context, pid int) (Instance, error) {
	return one(c.Do(ctx, Request{Op: OpPause, PID: pid}))
}

// Resume continues a paused pid (SIGCONT).
func (c *Client) Resume(ctx context.Context, pid int) (Instance, error) {
	return one(c.Do(ctx, Request{Op: OpResume, PID: pid}))
}

// WaitAddrs polls until instance pid has logged its listen addresses
// (a fresh process logs them once its listeners are open), within ctx.
func (c *Client) WaitAddrs(ctx context.Context, pid int) (Instance, error) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		all, err := c.List(ctx, "")
		if err != nil {
			return Instance{}, err
		}
		found := false
		for _, in := range all {
			if in.PID == pid {
				found = true
				if in.HTTPAddr != "" {
					return in, nil
				}
			}
		}
		if !found {
			return Instance{}, fmt.Errorf("pid %d is not running (exited during start-up? see the launcher's log)", pid)
		}
		select {
		case <-ctx.Done():
			return Instance{}, fmt.Errorf("pid %d logged no listen address: %w", pid, ctx.Err())
		case <-t.C:
		}
	}
}

func one(resp Response, err error) (Instance, error) {
	if err != nil {
		return Instance{}, err
	}
	if resp.Instance == nil {
		return Instance{}, errors.New("launcher control: answer without the instance")
	}
	return *resp.Instance, nil
}
