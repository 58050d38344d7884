package etcdtest_test

import (
	"context"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/etcdtest"
)

func TestStopRestartKeepsDataAndClients(t *testing.T) {
	srv := etcdtest.Start(t)
	cli := srv.Client(t)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := cli.Put(ctx, "k", "v1"); err != nil {
		t.Fatalf("put: %v", err)
	}

	srv.Stop()
	down, cancelDown := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancelDown()
	if _, err := cli.Get(down, "k"); err == nil {
		t.Fatal("get succeeded while the server was stopped")
	}

	srv.Restart(t)
	// The same client must reconnect on its own: same port, same data.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel2()
	resp, err := cli.Get(ctx2, "k")
	if err != nil {
		t.Fatalf("get after restart: %v", err)
	}
	if len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "v1" {
		t.Fatalf("after restart got %v, want k=v1", resp.Kvs)
	}
}

func TestServersAreIndependent(t *testing.T) {
	a, b := etcdtest.Start(t), etcdtest.Start(t)
	if a.Endpoints()[0] == b.Endpoints()[0] {
		t.Fatalf("two servers share endpoint %s", a.Endpoints()[0])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := a.Client(t).Put(ctx, "only-in-a", "x"); err != nil {
		t.Fatalf("put: %v", err)
	}
	resp, err := b.Client(t).Get(ctx, "only-in-a")
	if err != nil {
		t.Fatalf("get: %v", err)
	}
	if len(resp.Kvs) != 0 {
		t.Fatal("a key written to one server is visible in the other")
	}
}
