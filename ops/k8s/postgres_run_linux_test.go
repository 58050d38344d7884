//go:build linux

package k8s

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestInitScriptOnPostgres runs base/postgres/init-databases.sh the way
// the postgres image does on first start (as the postgres user, against
// the initialising server's socket, passwords in the environment), on a
// throwaway local server, then checks what it made: each service's role
// logs in over TCP with its password to its own database and may create
// its schema there, and cannot connect to another service's database.
// Skipped when no PostgreSQL 15+ server binaries are installed (psql's
// \getenv, which the script uses, is 15+; the image runs 17).
func TestInitScriptOnPostgres(t *testing.T) {
	bin := postgresBinDir(t)
	cred := postgresCredential(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	dir, err := os.MkdirTemp("", "kitshop-k8s-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	script, err := os.ReadFile("base/postgres/" + initScript)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, initScript), script, 0o755); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		for _, p := range []string{dir, filepath.Join(dir, initScript)} {
			if err := os.Chown(p, int(cred.Uid), int(cred.Gid)); err != nil {
				t.Fatal(err)
			}
		}
	}
	asPostgres := func(name string, args ...string) *exec.Cmd {
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGKILL}
		return cmd
	}
	data := filepath.Join(dir, "data")
	// The image's defaults: trust on the local socket during init,
	// scram-sha-256 for everything over TCP.
	if out, err := asPostgres(filepath.Join(bin, "initdb"), "--pgdata", data, "--username", "postgres",
		"--auth-local", "trust", "--auth-host", "scram-sha-256", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	port := freePort(t)
	server := asPostgres(filepath.Join(bin, "postgres"), "-D", data, "-k", dir, "-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off")
	logFile, err := os.Create(filepath.Join(dir, "server.log"))
	if err != nil {
		t.Fatal(err)
	}
	server.Stdout, server.Stderr = logFile, logFile
	if err := server.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = server.Process.Signal(syscall.SIGQUIT)
		done := make(chan struct{})
		go func() { _ = server.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = server.Process.Kill()
			<-done
		}
	})
	waitReady(t, ctx, filepath.Join(bin, "pg_isready"), port, dir)

	passwords := map[string]string{}
	env := append(os.Environ(), "POSTGRES_USER=postgres", "PGHOST="+dir, "PGPORT="+strconv.Itoa(port),
		"PATH="+bin+":"+os.Getenv("PATH"))
	for _, p := range programs {
		if p.database {
			// Quotes and a backslash: the script must pass them through.
			passwords[p.name] = fmt.Sprintf(`pw-%s-'q"\-%d`, p.name, time.Now().UnixNano())
			env = append(env, strings.ToUpper(p.name)+"_DB_PASSWORD="+passwords[p.name])
		}
	}
	run := asPostgres("bash", filepath.Join(dir, initScript))
	run.Env = env
	out, err := run.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", initScript, err, out)
	}
	for svc, pw := range passwords {
		if strings.Contains(string(out), pw) {
			t.Errorf("the script printed %s's password", svc)
		}
	}

	psql := func(role, password, db, sql string) (string, error) {
		u := fmt.Sprintf("postgres://%s@127.0.0.1:%d/%s?sslmode=disable", role, port, db)
		cmd := exec.CommandContext(ctx, filepath.Join(bin, "psql"), "-X", "-v", "ON_ERROR_STOP=1", "-At", "-d", u, "-c", sql)
		cmd.Env = append(os.Environ(), "PGPASSWORD="+password, "PGCONNECT_TIMEOUT=5")
		b, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(b)), err
	}
	services := sortedKeys(passwords)
	for i, svc := range services {
		if out, err := psql(svc, passwords[svc], svc, "CREATE SCHEMA "+svc+"; SELECT current_user"); err != nil || out != "CREATE SCHEMA\n"+svc {
			t.Errorf("%s in its own database: %v: %s", svc, err, out)
		}
		if _, err := psql(svc, "wrong", svc, "SELECT 1"); err == nil {
			t.Errorf("%s logged in with a wrong password", svc)
		}
		other := services[(i+1)%len(services)]
		if out, err := psql(svc, passwords[svc], other, "SELECT 1"); err == nil || !strings.Contains(out, "permission denied") {
			t.Errorf("%s connecting to %s's database: %v: %s (want permission denied)", svc, other, err, out)
		}
	}
}

// postgresBinDir finds PostgreSQL 15+ server binaries with psql, or skips.
func postgresBinDir(t *testing.T) string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, d := range dirs {
		if majorOf(d) < 15 {
			continue
		}
		ok := true
		for _, b := range []string{"initdb", "postgres", "psql", "pg_isready"} {
			if _, err := os.Stat(filepath.Join(d, b)); err != nil {
				ok = false
			}
		}
		if ok {
			return d
		}
	}
	t.Fatal("no PostgreSQL 15+ server binaries under /usr/lib/postgresql: run bash ops/install-deps.sh")
	return ""
}

func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// postgresCredential: initdb and postgres refuse to run as root, so as
// root they run as the postgres user; otherwise as ourselves.
func postgresCredential(t *testing.T) *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root and no postgres user to run the server as (run bash ops/install-deps.sh): %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitReady polls the server with pg_isready until it accepts
// connections (an open port alone may still answer "starting up"),
// bounded by ctx.
func waitReady(t *testing.T, ctx context.Context, pgIsReady string, port int, dir string) {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		err := exec.CommandContext(ctx, pgIsReady, "-q", "-h", "127.0.0.1", "-p", strconv.Itoa(port), "-t", "1").Run()
		if err == nil {
			return
		}
		select {
		case <-ctx.Done():
			log, _ := os.ReadFile(filepath.Join(dir, "server.log"))
			t.Fatalf("postgres did not start: %v\n%s", err, log)
		case <-tick.C:
		}
	}
}
