package compose

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

const initScript = "postgres-init/10-kitshop-databases.sh"

// dbServices are the services with a database, as the init script and
// the compose file name them.
var dbServices = []string{"users", "products", "orders", "payments"}

// pgCluster is a throwaway PostgreSQL server: socket and data in a
// temporary directory, TCP on a free loopback port, password
// authentication over TCP as in the postgres image.
type pgCluster struct {
	bin, dir string
	port     int
	cred     *syscall.Credential
}

// startPostgres starts a cluster with the local server binaries, as
// kit/pg/pgtest does (as the postgres user when root: the server refuses
// root). It skips when the binaries are missing; `make test` installs them.
func startPostgres(t *testing.T) *pgCluster {
	t.Helper()
	bin := ""
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if p, err := exec.LookPath("initdb"); err == nil {
		dirs = append([]string{filepath.Dir(p)}, dirs...)
	}
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "postgres")); err == nil {
			bin = d
			break
		}
	}
	if _, err := exec.LookPath("psql"); bin == "" || err != nil {
		t.Fatal("PostgreSQL server binaries or psql not found: run bash ops/install-deps.sh")
	}
	// Not t.TempDir: its parent is private to this process's user, and
	// the server may run as another.
	dir, err := os.MkdirTemp("", "kitshop-compose-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	c := &pgCluster{bin: bin, dir: dir}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal("running as root and there is no postgres user to run the server as: run bash ops/install-deps.sh")
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(c.dir, uid, gid); err != nil {
			t.Fatal(err)
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	c.port = l.Addr().(*net.TCPAddr).Port
	_ = l.Close()

	c.server(t, "initdb", "-D", c.data(), "-U", "postgres", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync")
	c.server(t, "pg_ctl", "-D", c.data(), "-l", filepath.Join(c.dir, "log"), "-w", "-t", "60",
		"-o", fmt.Sprintf("-k %s -p %d -c listen_addresses=127.0.0.1 -c fsync=off", c.dir, c.port), "start")
	t.Cleanup(func() {
		cmd := exec.Command(filepath.Join(c.bin, "pg_ctl"), "-D", c.data(), "-m", "immediate", "-w", "-t", "30", "stop")
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("pg_ctl stop: %v\n%s", err, out)
		}
	})
	return c
}

func (c *pgCluster) data() string { return filepath.Join(c.dir, "data") }

// server runs a server binary as the cluster's owner, bounded.
func (c *pgCluster) server(t *testing.T, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(c.bin, name), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		log, _ := os.ReadFile(filepath.Join(c.dir, "log"))
		t.Fatalf("%s: %v\n%s\n%s", name, err, out, log)
	}
}

// runInit runs the init script as the postgres image does: over the
// socket, as the superuser, with the container's environment.
func (c *pgCluster) runInit(t *testing.T, env map[string]string) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", initScript)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PGHOST=" + c.dir, "PGPORT=" + strconv.Itoa(c.port), "POSTGRES_USER=postgres"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// psqlAs runs sql over TCP with a password, as a service connects.
func (c *pgCluster) psqlAs(role, password, db, sql string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "psql", "-X", "-A", "-t", "-v", "ON_ERROR_STOP=1",
		"-h", "127.0.0.1", "-p", strconv.Itoa(c.port), "-U", role, "-d", db, "-c", sql)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "PGPASSWORD=" + password, "PGCONNECT_TIMEOUT=10"}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return strings.TrimSpace(out.String()), err
}

// The init script gives each service a role, with the password from the
// env file, that owns its database and may not open the others'.
func TestPostgresInitScript(t *testing.T) {
	c := startPostgres(t)
	env := exampleEnv(t)
	passwords := map[string]string{}
	for _, svc := range dbServices {
		passwords[svc] = env[strings.ToUpper(svc)+"_DB_PASSWORD"]
		if passwords[svc] == "" {
			t.Fatalf("%s has no %s_DB_PASSWORD", envExampleFile, strings.ToUpper(svc))
		}
	}
	// Missing a password: fails before creating anything, naming it.
	partial := map[string]string{"USERS_DB_PASSWORD": passwords["users"]}
	if out, err := c.runInit(t, partial); err == nil || !strings.Contains(out, "PRODUCTS_DB_PASSWORD is not set") {
		t.Fatalf("without PRODUCTS_DB_PASSWORD: %v\n%s", err, out)
	}
	full := map[string]string{}
	for svc, pw := range passwords {
		full[strings.ToUpper(svc)+"_DB_PASSWORD"] = pw
	}
	// A password that would break out of a quoted literal stays a password.
	full["PAYMENTS_DB_PASSWORD"] = `pa'ss"word$(x)`
	passwords["payments"] = full["PAYMENTS_DB_PASSWORD"]
	// On the same cluster: CREATE ROLE users would fail had the failed run
	// made it.
	out, err := c.runInit(t, full)
	if err != nil {
		t.Fatalf("init: %v\n%s", err, out)
	}
	if n := strings.Count(out, "owned by role"); n != len(dbServices) {
		t.Errorf("init reported %d databases:\n%s", n, out)
	}
	for _, svc := range dbServices {
		got, err := c.psqlAs(svc, passwords[svc], svc, "select current_user || ' ' || current_database() || ' ' || (select pg_get_userbyid(datdba) from pg_database where datname = current_database())")
		if err != nil || got != svc+" "+svc+" "+svc {
			t.Errorf("%s in its own database: %q %v", svc, got, err)
		}
		// Its role may create its schema there (the service migrates itself).
		if out, err := c.psqlAs(svc, passwords[svc], svc, "create schema "+svc+"; drop schema "+svc); err != nil {
			t.Errorf("%s cannot create its schema: %v %s", svc, err, out)
		}
		if _, err := c.psqlAs(svc, "wrong", svc, "select 1"); err == nil {
			t.Errorf("%s logs in with a wrong password", svc)
		}
		for _, other := range dbServices {
			if other == svc {
				continue
			}
			if out, err := c.psqlAs(svc, passwords[svc], other, "select 1"); err == nil || !strings.Contains(out, "permission denied") {
				t.Errorf("%s opens %s's database: %v %s", svc, other, err, out)
			}
		}
	}
}
