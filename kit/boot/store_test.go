package boot_test

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"testing/fstest"
	"time"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/kittest"
)

const storeSecret = "S3cretPassw0rd"

// blackHole accepts TCP connections and never answers, as a frozen server
// or a firewall that swallows packets after the handshake does.
func blackHole(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			_ = c.Close()
		}
	})
	return l.Addr().String()
}

type widgetStore struct{ db *sql.DB }

var noMigrations = fstest.MapFS{"migrations/0001_init.sql": {Data: []byte("CREATE TABLE w (id int);")}}

// openStore runs OpenStore for a process configured with args and returns
// its error, how long it took and what it logged.
func openStore(t *testing.T, args ...string) (error, time.Duration, *kittest.LogBuffer) {
	t.Helper()
	cfg, err := config.ParseService("widgets", "127.0.0.1:0", "", append([]string{"-etcd-endpoints="}, args...))
	if err != nil {
		t.Fatal(err)
	}
	var logs kittest.LogBuffer
	p, err := boot.New(cfg, &logs)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	done := make(chan error, 1)
	go func() {
		_, err := boot.OpenStore(context.Background(), p, noMigrations,
			func() widgetStore { return widgetStore{} }, func(db *sql.DB) widgetStore { return widgetStore{db} })
		done <- err
	}()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatalf("OpenStore still waiting after 10s; logs:\n%s", logs.String())
	}
	return err, time.Since(start), &logs
}

// With Postgres unreachable, start-up gives up after the start-up timeout
// with an error naming the cause and the setting, having logged each
// attempt, and never shows the password.
func TestOpenStoreGivesUpAfterTheStartupTimeout(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ name, addr, cause string }{
		{"refused", kittest.FreeAddr(t), "connection refused"},
		{"never answers", blackHole(t), "gave up"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			err, took, logs := openStore(t, "-startup-timeout", "1s",
				"-database-url", "postgres://kitshop:"+storeSecret+"@"+tc.addr+"/shop?sslmode=disable")
			if err == nil {
				t.Fatal("OpenStore succeeded without a database")
			}
			t.Logf("after %v: %v", took, err)
			if took < time.Second || took > 3*time.Second {
				t.Fatalf("OpenStore returned after %v with a 1s start-up timeout", took)
			}
			for _, want := range []string{"start-up timeout of 1s", "KITSHOP_STARTUP_TIMEOUT", tc.cause, "postgres://kitshop:xxxxx@" + tc.addr} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error lacks %q: %v", want, err)
				}
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("error does not wrap the deadline: %v", err)
			}
			if strings.Contains(err.Error(), storeSecret) || strings.Contains(logs.String(), storeSecret) {
				t.Fatalf("password leaked:\n%v\n%s", err, logs)
			}
			if logs.Find(t, "msg", "database not reachable yet, retrying") == nil && tc.name == "refused" {
				t.Fatalf("no progress logged while waiting:\n%s", logs)
			}
		})
	}
}

// The process exits non-zero with that message on stderr: boot.Main in a
// child process.
func TestStartupFailureExitsNonZero(t *testing.T) {
	if os.Getenv("BOOT_STORE_CHILD") == "1" {
		// The test binary's own arguments are not the process's: the
		// settings come from the environment, as in a deployment.
		boot.Main("widgets", func(context.Context, []string) error {
			err, _, _ := openStore(t)
			return err
		})
		return
	}
	t.Parallel()
	cmd := exec.Command(os.Args[0], "-test.run=^TestStartupFailureExitsNonZero$")
	cmd.Env = append(os.Environ(), "BOOT_STORE_CHILD=1", "KITSHOP_STARTUP_TIMEOUT=500ms",
		"KITSHOP_WIDGETS_DATABASE_URL=postgres://kitshop:"+storeSecret+"@"+kittest.FreeAddr(t)+"/shop?sslmode=disable")
	var stderr strings.Builder
	cmd.Stderr = &stderr
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	go func() { <-ctx.Done(); _ = cmd.Process.Kill() }()
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("child: %v, want exit status 1; stderr:\n%s", err, stderr.String())
	}
	if !strings.Contains(stderr.String(), "widgets: postgres not ready within the start-up timeout of 500ms") ||
		strings.Contains(stderr.String(), storeSecret) {
		t.Fatalf("stderr:\n%s", stderr.String())
	}
}
