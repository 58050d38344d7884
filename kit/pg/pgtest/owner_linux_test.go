package pgtest_test

import (
	"os"
	"os/user"
	"strconv"
	"syscall"
	"testing"

	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// As root, the throwaway server must run as the postgres user (PostgreSQL
// refuses root); otherwise as ourselves. The backend serving us tells.
func TestServerIdentity(t *testing.T) {
	info := pgtest.Cluster(t)
	if info.External {
		t.Log("DATABASE_URL server: its identity is not ours to check")
		return
	}
	db := openRaw(t, info.URL)
	var pid int
	if err := db.QueryRow(`SELECT pg_backend_pid()`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat("/proc/" + strconv.Itoa(pid))
	if err != nil {
		t.Fatalf("backend %d: %v", pid, err)
	}
	want := uint64(os.Geteuid())
	if want == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Fatal(err)
		}
		if want, err = strconv.ParseUint(u.Uid, 10, 32); err != nil {
			t.Fatal(err)
		}
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || uint64(st.Uid) != want {
		t.Fatalf("backend %d runs as %+v, want uid %d", pid, fi.Sys(), want)
	}
}
