//go:build unix

package pgtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// dirPrefix names the temp dirs of throwaway clusters, so that stale ones
// can be found and removed.
const dirPrefix = "kitshop-pgtest-"

// ownerFile, inside a cluster's temp dir, holds the pid of the test process
// that owns it.
const ownerFile = "owner.pid"

// cluster is a postgres server this process started and owns.
type cluster struct {
	dir     string // temp dir: data/, the log, the owner file
	port    int
	cmd     *exec.Cmd
	exited  chan struct{} // closed when the postmaster has exited
	waitErr error         // valid once exited is closed
}

// binDirs lists where PostgreSQL server binaries live on common systems,
// newest major version first, after PATH.
func binDirs() []string {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append(dirs, filepath.Dir(p))
	}
	for _, pattern := range []string{
		"/usr/lib/postgresql/*/bin", // Debian, Ubuntu
		"/usr/pgsql-*/bin",          // RHEL (PGDG)
		"/usr/local/opt/postgresql*/bin",
		"/opt/homebrew/opt/postgresql*/bin",
	} {
		m, _ := filepath.Glob(pattern)
		slices.SortFunc(m, func(a, b string) int { return versionOf(b) - versionOf(a) })
		dirs = append(dirs, m...)
	}
	return dirs
}

// versionOf extracts the major version from a path like
// /usr/lib/postgresql/15/bin, so that 15 sorts above 9.
func versionOf(dir string) int {
	for _, part := range strings.Split(dir, "/") {
		digits := strings.TrimLeft(part, "abcdefghijklmnopqrstuvwxyz@-_")
		if n, err := strconv.Atoi(strings.SplitN(digits, ".", 2)[0]); err == nil {
			return n
		}
	}
	return 0
}

// findBinDir returns the first of dirs holding both initdb and postgres.
func findBinDir(dirs []string) (string, error) {
	for _, d := range dirs {
		if isExecutable(filepath.Join(d, "initdb")) && isExecutable(filepath.Join(d, "postgres")) {
			return d, nil
		}
	}
	return "", fmt.Errorf("DATABASE_URL is unset and the PostgreSQL server binaries initdb and postgres "+
		"were not found (looked on PATH and in %s); install the PostgreSQL server "+
		"(e.g. apt-get install postgresql) or set DATABASE_URL to a server whose role may CREATE DATABASE",
		strings.Join(append(dirs, "/usr/lib/postgresql/*/bin"), ", "))
}

func isExecutable(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0
}

// runAs returns the identity to run the server binaries as: nil (this
// process's) normally, the postgres system user when this process is root,
// because initdb and postgres refuse to run as root.
func runAs() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("running as root, and PostgreSQL refuses to run as root, but there is no "+
			"\"postgres\" user to run it as (%v); create one (useradd --system postgres) or set DATABASE_URL", err)
	}
	uid, err1 := strconv.ParseUint(u.Uid, 10, 32)
	gid, err2 := strconv.ParseUint(u.Gid, 10, 32)
	if err := errors.Join(err1, err2); err != nil {
		return nil, fmt.Errorf("user postgres: %w", err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// startCluster initialises a data directory in a new temp dir and starts
// postgres on it.
func startCluster(ctx context.Context) (*cluster, error) {
	bin, err := findBinDir(binDirs())
	if err != nil {
		return nil, err
	}
	cred, err := runAs()
	if err != nil {
		return nil, err
	}
	removeStaleDirs()
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		return nil, err
	}
	c := &cluster{dir: dir}
	fail := func(err error) (*cluster, error) {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, ownerFile), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return fail(err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			return fail(fmt.Errorf("handing %s to user postgres: %w", dir, err))
		}
	}

	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"),
		"--pgdata", c.dataDir(), "--username", "postgres", "--auth", "trust",
		"--encoding", "UTF8", "--locale", "C", "--no-sync", "--no-instructions")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		return fail(fmt.Errorf("%s failed: %w\n%s", initdb, err, out))
	}

	// A free port can be taken by someone else between probing and binding;
	// a few attempts make that race irrelevant.
	for attempt := 1; ; attempt++ {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		err = c.start(ctx, bin, cred, port)
		if err == nil {
			return c, nil
		}
		if attempt == 3 || ctx.Err() != nil {
			return fail(err)
		}
	}
}

func (c *cluster) dataDir() string { return filepath.Join(c.dir, "data") }
func (c *cluster) logPath() string { return filepath.Join(c.dir, "postgres.log") }

// start runs postgres in the foreground as our child and waits until it
// accepts connections.
func (c *cluster) start(ctx context.Context, bin string, cred *syscall.Credential, port int) error {
	logf, err := os.Create(c.logPath())
	if err != nil {
		return err
	}
	defer logf.Close() // the child has its own copy of the descriptor
	cmd := exec.Command(filepath.Join(bin, "postgres"),
		"-D", c.dataDir(),
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		// No unix socket: nothing uses it, and its path length limit
		// breaks under deep temp dirs.
		"-c", "unix_socket_directories=",
		// Durability buys nothing for a database that is deleted at the end.
		"-c", "fsync=off",
		"-c", "full_page_writes=off",
		"-c", "synchronous_commit=off",
		// Parallel tests each hold a pool of their own.
		"-c", "max_connections=200",
	)
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = serverProcAttr(cred)
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("starting %s: %w", cmd.Path, err)
	}
	c.cmd, c.port, c.exited, c.waitErr = cmd, port, make(chan struct{}), nil
	go func() {
		c.waitErr = cmd.Wait()
		close(c.exited)
	}()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	for {
		select {
		case <-c.exited:
			return fmt.Errorf("postgres exited during start-up (%v):\n%s", c.waitErr, c.logTail())
		case <-ctx.Done():
			tail := c.logTail()
			_ = c.kill()
			return fmt.Errorf("postgres did not accept connections on %s in time:\n%s", addr, tail)
		case <-time.After(20 * time.Millisecond):
		}
		// A listening socket is enough here: openAdmin then retries until
		// the server has finished recovery and accepts sessions.
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			_ = conn.Close()
			return nil
		}
	}
}

// stop shuts postgres down and removes the temp dir.
func (c *cluster) stop() error {
	return errors.Join(c.kill(), os.RemoveAll(c.dir))
}

// kill shuts postgres down immediately (SIGQUIT, as pg_ctl stop -m
// immediate does: the data is thrown away, so a clean checkpoint would be
// wasted time) and waits for it to exit.
func (c *cluster) kill() error {
	if c.cmd == nil {
		return nil
	}
	_ = c.cmd.Process.Signal(syscall.SIGQUIT)
	select {
	case <-c.exited:
		return nil
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
		return errors.New("postgres ignored SIGQUIT for 10s and was killed")
	}
}

// logTail returns the end of the server log for error messages.
func (c *cluster) logTail() string {
	b, err := os.ReadFile(c.logPath())
	if err != nil {
		return "(no server log: " + err.Error() + ")"
	}
	const max = 4 << 10
	if len(b) > max {
		b = b[len(b)-max:]
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return string(b)
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer l.Close()
	addr, ok := l.Addr().(*net.TCPAddr)
	if !ok {
		return 0, fmt.Errorf("finding a free port: unexpected address %v", l.Addr())
	}
	return addr.Port, nil
}

// removeStaleDirs deletes the temp dirs of earlier test processes that died
// without cleaning up (their postgres died with them, see Pdeathsig). A dir
// is stale when its owner process is gone and no postmaster runs in it;
// anything doubtful is left alone.
func removeStaleDirs() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, d := range dirs {
		if alive(pidIn(filepath.Join(d, ownerFile))) || alive(pidIn(filepath.Join(d, "data", "postmaster.pid"))) {
			continue
		}
		if pidIn(filepath.Join(d, ownerFile)) == 0 {
			// No owner yet: maybe a process is setting it up right now.
			if fi, err := os.Stat(d); err != nil || time.Since(fi.ModTime()) < time.Hour {
				continue
			}
		}
		_ = os.RemoveAll(d)
	}
}

// pidIn reads the pid on the first line of file, or 0.
func pidIn(file string) int {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0
	}
	return pid
}

func alive(pid int) bool {
	if pid <= 0 {
		return false
	}
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
