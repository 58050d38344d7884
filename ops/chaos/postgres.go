package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"syscall"
	"time"
)

// postgresRestart restarts the cluster the services use with pg_ctl
// (fast shutdown: open transactions are rolled back, connections cut).
// Meanwhile statements fail: services answer 503 UNAVAILABLE, withdraw
// from the registry while their readiness check fails, and come back by
// themselves; sagas retry their steps. It needs the data directory
// (-pg-data or PGDATA) and runs pg_ctl as the directory's owner (Postgres
// refuses to run as root).
type postgresRestart struct {
	e      *env
	pgCtl  string
	data   string
	log    string
	cred   *syscall.Credential
	bounce time.Duration
}

func newPostgresRestart(e *env) (fault, error) {
	if e.opt.pgData == "" {
		return nil, errors.New("postgres-restart needs the cluster's data directory: -pg-data DIR (or PGDATA)")
	}
	fi, err := os.Stat(filepath.Join(e.opt.pgData, "PG_VERSION"))
	if err != nil {
		return nil, fmt.Errorf("-pg-data %s is no Postgres data directory: %w", e.opt.pgData, err)
	}
	pgCtl, err := findPgCtl(e.opt.pgCtl)
	if err != nil {
		return nil, err
	}
	r := &postgresRestart{e: e, pgCtl: pgCtl, data: e.opt.pgData, log: e.opt.pgLog}
	if r.log == "" {
		r.log = filepath.Join(r.data, "chaos-postgres.log")
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && os.Getuid() == 0 && st.Uid != 0 {
		r.cred = &syscall.Credential{Uid: st.Uid, Gid: st.Gid}
	}
	return r, nil
}

// findPgCtl is flag, else pg_ctl on PATH, else Debian's newest.
func findPgCtl(flag string) (string, error) {
	if flag != "" {
		return flag, nil
	}
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_ctl")
	if len(found) == 0 {
		return "", errors.New("no pg_ctl on PATH nor under /usr/lib/postgresql: pass -pg-ctl")
	}
	slices.Sort(found) // lexical is fine for the 2-digit majors Debian ships
	return found[len(found)-1], nil
}

func (r *postgresRestart) prepare(ctx context.Context) error { return r.pgctl(ctx, "status") }

func (r *postgresRestart) inject(ctx context.Context) error {
	start := time.Now()
	if err := r.pgctl(ctx, "restart", "-m", "fast", "-w", "-t", "60"); err != nil {
		return err
	}
	r.bounce = time.Since(start)
	r.e.log("Postgres restarted (down and up in %.1fs)", r.bounce.Seconds())
	return nil
}

func (r *postgresRestart) pgctl(ctx context.Context, args ...string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.pgCtl, append([]string{args[0], "-D", r.data}, args[1:]...)...)
	if r.cred != nil {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: r.cred}
	}
	if args[0] == "restart" {
		// The restarted server writes its output to -l's file: without
		// it the server would inherit pg_ctl's output pipe and hold it
		// open, and this call would never return.
		cmd.Args = append(cmd.Args, "-l", r.log)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("pg_ctl %s -D %s: %v\n%s", args[0], r.data, err, out)
	}
	return nil
}

func (r *postgresRestart) heal(context.Context) error { return nil }

func (r *postgresRestart) recovered(ctx context.Context) error { return registryWhole(ctx, r.e) }

func (r *postgresRestart) cleanup(context.Context) error { return nil }
