package pg_test

import (
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
)

// Readiness follows the database: ready while it answers, not once it is
// gone, even with connections still pooled.
func TestCheckFollowsTheServer(t *testing.T) {
	t.Parallel()
	ctx := testContext(t)
	info, name := testDatabase(t)
	addr := kittest.FreeAddr(t)
	p := startProxy(t, addr, serverAddr(info))
	db, err := pg.Open(ctx, dsnAt(info, addr, name), "users")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	check := pg.Check(db)
	if err := check(ctx); err != nil {
		t.Fatalf("check failed with the server up: %v", err)
	}
	p.stop()
	err = check(ctx)
	if err == nil {
		t.Fatal("check passed with the server gone")
	}
	if k := errs.KindOf(err); k != errs.Unavailable {
		t.Fatalf("kind %v, want Unavailable: %v", k, err)
	}
}
