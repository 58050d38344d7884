package pg_test

import (
	"context"
	"database/sql"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
)

// A statement that needs a new connection while the server restarts
// (nobody listening for a few hundred milliseconds) waits for it instead
// of failing: failures there would open every caller's breaker for far
// longer than the restart.
func TestStatementsRideOutABriefRestart(t *testing.T) {
	t.Parallel()
	info, name := testDatabase(t)
	addr := kittest.FreeAddr(t)
	p := startProxy(t, addr, serverAddr(info))
	db, err := pg.Open(testContext(t), dsnAt(info, addr, name), "restart")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0) // every statement connects anew: the case under test

	p.stop() // the "restart": connections refused from now on
	const down = 400 * time.Millisecond
	back := make(chan *proxy, 1)
	time.AfterFunc(down, func() {
		np, err := listenProxy(addr, serverAddr(info))
		if err != nil {
			t.Error(err)
		}
		back <- np
	})
	t.Cleanup(func() {
		if np := <-back; np != nil {
			np.stop()
		}
	})

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	var one int
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("a statement during a %v restart: %d, %v", down, one, err)
	}
	if waited := time.Since(start); waited < down/2 {
		t.Fatalf("answered after %v, while the server was still away", waited)
	}
}

// An outage longer than the reconnection window still fails, promptly:
// waiting is for restarts, not for a database that is gone.
func TestStatementsFailWhenTheServerStaysAway(t *testing.T) {
	t.Parallel()
	info, name := testDatabase(t)
	addr := kittest.FreeAddr(t)
	p := startProxy(t, addr, serverAddr(info))
	db, err := pg.Open(testContext(t), dsnAt(info, addr, name), "gone")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxIdleConns(0)
	p.stop()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := db.QueryRowContext(ctx, "SELECT 1").Scan(new(int)); err == nil {
		t.Fatal("a statement succeeded with no server")
	}
	if took := time.Since(start); took > 6*time.Second {
		t.Fatalf("failing took %v; the reconnection window is 2 s (database/sql tries up to three connections)", took)
	}
}

// The connections a restart left in the pool are reset by the server; the
// next statements take fresh ones instead of failing on them (database/sql
// retries on ErrBadConn, which lib/pq reports for them).
func TestStatementsSkipConnectionsTheServerReset(t *testing.T) {
	t.Parallel()
	info, name := testDatabase(t)
	addr := kittest.FreeAddr(t)
	p := startProxy(t, addr, serverAddr(info))
	db, err := pg.Open(testContext(t), dsnAt(info, addr, name), "reset")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	// Fill the pool with idle connections.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conns := make([]*sql.Conn, 4)
	for i := range conns {
		if conns[i], err = db.Conn(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range conns {
		if err := c.PingContext(ctx); err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	// On loopback the kernel delivers a reset within close(): when reset
	// returns, every pooled connection is already dead; no wait needed.
	p.reset()
	for i := range 8 {
		var one int
		if err := db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
			t.Fatalf("statement %d after the server reset the pooled connections: %v", i, err)
		}
	}
}
