package lifecycle

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

// An instance whose readiness check fails (its database is down) leaves
// the registry and comes back once the check passes again; a real etcd
// and the real sd.Registrar, wired only through App.
func TestRegistrationFollowsReadiness(t *testing.T) {
	srv := etcdtest.Start(t)
	client := srv.Client(t)

	var dbDown atomic.Bool
	ready := health.New()
	ready.AddCheck("postgres", func(context.Context) error {
		if dbDown.Load() {
			return errors.New("database down")
		}
		return nil
	})
	httpL, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	inst := sd.Instance{ID: "i1", Name: "widgets", HTTPAddr: httpL.Addr().String()}
	reg := sd.NewRegistrar(client, inst, 2*time.Second, nil)
	app := &App{
		Name: "widgets", Readiness: ready, HTTPListener: httpL, Registrar: reg,
		Jobs: []func(context.Context) error{func(ctx context.Context) error {
			return ready.Monitor(ctx, 50*time.Millisecond)
		}},
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- app.Run(ctx) }()

	listed := func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Get(ctx, reg.Key())
		if err != nil {
			t.Fatalf("get: %v", err)
		}
		return len(resp.Kvs) > 0
	}
	leaseOf := func() clientv3.LeaseID {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := client.Get(ctx, reg.Key())
		if err != nil || len(resp.Kvs) == 0 {
			t.Fatalf("get: %v %v", resp, err)
		}
		return clientv3.LeaseID(resp.Kvs[0].Lease)
	}

	kittest.WaitFor(t, 5*time.Second, "registration", listed)
	lease := leaseOf()

	dbDown.Store(true)
	kittest.WaitFor(t, 5*time.Second, "leaving the registry while not ready", func() bool { return !listed() })
	if !ready.Declared() {
		t.Fatal("a failing check must not look like a shutdown")
	}

	dbDown.Store(false)
	kittest.WaitFor(t, 5*time.Second, "returning once ready", listed)
	if l := leaseOf(); l != lease {
		t.Fatalf("returned under lease %x, want the kept lease %x", l, lease)
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	if listed() {
		t.Fatal("still listed after shutdown")
	}
}
