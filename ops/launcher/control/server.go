package control

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// Runner is what the socket drives: the launcher's set of processes.
type Runner interface {
	// List returns the running instances of service ("" = all).
	List(service string) []Instance
	// Start starts one more instance of service on ephemeral ports with
	// env added (already checked by the server) and returns at once.
	Start(service string, env []string) (Instance, error)
	// Stop sends SIGTERM and returns once the instance exited, killing
	// it when it outlives the runner's own bound or ctx.
	Stop(ctx context.Context, pid int) (Instance, error)
	// Kill sends SIGKILL and returns once the exit is seen (bounded).
	Kill(ctx context.Context, pid int) (Instance, error)
	// Pause sends SIGSTOP (pause) or SIGCONT (!pause).
	Pause(pid int, pause bool) (Instance, error)
}

const (
	// idleTimeout closes a connection that sends nothing for this long,
	// so a forgotten `socat` does not hold a goroutine forever.
	idleTimeout = 5 * time.Minute
	// writeTimeout bounds writing one answer to a client that stopped
	// reading.
	writeTimeout = 10 * time.Second
	// maxEnv bounds the extra settings of one start.
	maxEnv = 32
)

// envKey is what an extra setting may be called: the platform's own
// settings only, so the socket cannot inject LD_PRELOAD or PATH.
var envKey = regexp.MustCompile(`^KITSHOP_[A-Z0-9_]{1,64}$`)

// Server answers requests on a listener until Close.
type Server struct {
	ln     net.Listener
	runner Runner
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

// Listen creates the unix socket at path, mode 0600, in a directory it
// creates 0700 when missing. A socket file left by a launcher that died
// is replaced; one that still answers is another launcher's, and an error.
func Listen(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, err
	}
	if _, err := os.Lstat(path); err == nil {
		if c, err := net.DialTimeout("unix", path, time.Second); err == nil {
			c.Close()
			return nil, fmt.Errorf("control socket %s: another launcher is serving it", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("control socket %s: removing the stale one: %w", path, err)
		}
	}
	ln, err := net.Listen("unix", path)
	if err != nil {
		return nil, fmt.Errorf("control socket: %w", err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		ln.Close()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return ln, nil
}

// Serve answers on ln in the background; Close stops it.
func Serve(ln net.Listener, r Runner) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{ln: ln, runner: r, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s
}

// Close stops accepting, cancels requests in flight (a stop being waited
// for is then killed by the runner), closes every connection and waits
// for their goroutines. Closing the listener removes a unix socket file.
func (s *Server) Close() error {
	s.cancel()
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return // closed; a unix listener has no temporary errors worth retrying
		}
		s.mu.Lock()
		if s.ctx.Err() != nil {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go s.serve(c)
	}
}

func (s *Server) serve(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	if err := checkPeer(c); err != nil {
		s.write(c, Response{Error: err.Error()})
		return
	}
	br := bufio.NewReaderSize(c, 4096)
	for {
		_ = c.SetReadDeadline(time.Now().Add(idleTimeout))
		line, err := readLine(br)
		if errors.Is(err, errLineTooLong) {
			s.write(c, Response{Error: err.Error()})
			return
		}
		if err != nil {
			return // EOF, idle timeout, or closed by Close
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue // a stray newline from a human at socat
		}
		if !s.write(c, s.handle(line)) {
			return
		}
	}
}

func (s *Server) write(c net.Conn, r Response) bool {
	b, _ := json.Marshal(r) // Response marshals whatever it holds
	_ = c.SetWriteDeadline(time.Now().Add(writeTimeout))
	_, err := c.Write(append(b, '\n'))
	return err == nil
}

var errLineTooLong = fmt.Errorf("request line longer than %d bytes", MaxLine)

// readLine reads one '\n'-terminated line of at most MaxLine bytes.
func readLine(br *bufio.Reader) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(line)+len(chunk) > MaxLine {
			return nil, errLineTooLong
		}
		line = append(line, chunk...)
		switch {
		case err == nil:
			return line, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && len(bytes.TrimSpace(line)) > 0:
			return line, nil // a last request without its newline
		default:
			return nil, err
		}
	}
}

// handle decodes and runs one request. Every failure is an answer, never
// a dropped connection: the next line may be fine.
func (s *Server) handle(line []byte) Response {
	var req Request
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return Response{Error: "bad request: want one JSON object per line, e.g. {\"op\":\"list\"}: " + err.Error()}
	}
	if dec.More() {
		return Response{Error: "bad request: one JSON object per line"}
	}
	switch req.Op {
	case OpList:
		return Response{OK: true, Instances: s.runner.List(req.Service)}
	case OpStart:
		if err := checkEnv(req.Env); err != nil {
			return Response{Error: err.Error()}
		}
		return answer(s.runner.Start(req.Service, req.Env))
	case OpStop, OpKill, OpPause, OpResume:
		if req.PID <= 0 {
			return Response{Error: fmt.Sprintf("%s: want a positive pid", req.Op)}
		}
		switch req.Op {
		case OpStop:
			return answer(s.runner.Stop(s.ctx, req.PID))
		case OpKill:
			return answer(s.runner.Kill(s.ctx, req.PID))
		default:
			return answer(s.runner.Pause(req.PID, req.Op == OpPause))
		}
	}
	return Response{Error: fmt.Sprintf("unknown op %q (known: list, start, stop, kill, pause, resume)", req.Op)}
}

func answer(in Instance, err error) Response {
	if err != nil {
		return Response{Error: err.Error()}
	}
	return Response{OK: true, Instance: &in}
}

func checkEnv(env []string) error {
	if len(env) > maxEnv {
		return fmt.Errorf("start: at most %d env settings", maxEnv)
	}
	for _, kv := range env {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || !envKey.MatchString(k) {
			return fmt.Errorf("start: env %q: want KITSHOP_NAME=value", truncate(kv, 80))
		}
		if strings.ContainsRune(v, 0) {
			return fmt.Errorf("start: env %s: the value holds a NUL byte", k)
		}
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}
