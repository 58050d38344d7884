package sd_test

import (
	"context"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

func keyPresent(t *testing.T, c *clientv3.Client, key string) func() bool {
	return func() bool { _, _, ok := getKey(t, c, key); return ok }
}

func keyAbsent(t *testing.T, c *clientv3.Client, key string) func() bool {
	return func() bool { _, _, ok := getKey(t, c, key); return !ok }
}

// leaseAlive reports whether etcd still has the lease.
func leaseAlive(t *testing.T, c *clientv3.Client, lease clientv3.LeaseID) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.TimeToLive(ctx, lease)
	if err != nil {
		t.Fatalf("TimeToLive: %v", err)
	}
	// TTL counts whole seconds left, so a live lease may show 0; a
	// lease etcd no longer has shows -1.
	return resp.TTL >= 0
}

// An instance that stops serving leaves the registry but keeps its lease
// alive, and returns under the same lease when it serves again.
func TestRegistrationFollowsServing(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	r := sd.NewRegistrar(c, testInstance("flaps"), ttl, nil)
	wait := runRegistrar(t, ctx, r)
	waitRegistered(t, r, 5*time.Second)
	value, lease, _ := getKey(t, c, r.Key())

	r.SetServing(false)
	kittest.WaitFor(t, 5*time.Second, "key to leave the registry", keyAbsent(t, c, r.Key()))
	// Longer than a TTL: keepalives must go on without the key.
	time.Sleep(ttl + time.Second)
	if !leaseAlive(t, c, lease) {
		t.Fatal("lease lapsed while not serving; it must be kept")
	}
	if _, _, ok := getKey(t, c, r.Key()); ok {
		t.Fatal("key came back while not serving")
	}

	r.SetServing(true)
	kittest.WaitFor(t, 5*time.Second, "key to return", keyPresent(t, c, r.Key()))
	v, l, _ := getKey(t, c, r.Key())
	if l != lease || v != value {
		t.Fatalf("returned as %s under lease %x, want %s under %x", v, l, value, lease)
	}

	// Not serving at shutdown: Deregister still removes everything.
	r.SetServing(false)
	kittest.WaitFor(t, 5*time.Second, "key to leave again", keyAbsent(t, c, r.Key()))
	if err := r.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	if leaseAlive(t, c, lease) {
		t.Fatal("lease alive after Deregister")
	}
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	r.SetServing(true) // after Deregister: must change nothing
	time.Sleep(200 * time.Millisecond)
	if _, _, ok := getKey(t, c, r.Key()); ok {
		t.Fatal("SetServing after Deregister registered the instance")
	}
}

// An instance not ready when it starts takes a lease but is not listed
// (Registered stays open) until it serves.
func TestNotServingAtStartStaysUnlisted(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	r := sd.NewRegistrar(c, testInstance("late"), ttl, nil)
	r.SetServing(false)
	wait := runRegistrar(t, ctx, r)
	select {
	case <-r.Registered():
		t.Fatal("registered while not serving")
	case <-time.After(time.Second):
	}
	if _, _, ok := getKey(t, c, r.Key()); ok {
		t.Fatal("listed while not serving")
	}
	r.SetServing(true)
	waitRegistered(t, r, 5*time.Second)
	if _, _, ok := getKey(t, c, r.Key()); !ok {
		t.Fatal("key missing after Registered")
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

// A withdrawal that cannot reach etcd is retried until it can.
func TestWithdrawalRetriesWhileEtcdIsDown(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	r := sd.NewRegistrar(c, testInstance("outage"), 10*time.Second, nil)
	wait := runRegistrar(t, ctx, r)
	waitRegistered(t, r, 5*time.Second)

	srv.Stop()
	r.SetServing(false)
	time.Sleep(500 * time.Millisecond) // let the first attempt fail
	srv.Restart(t)
	kittest.WaitFor(t, 15*time.Second, "key to leave once etcd is back", keyAbsent(t, c, r.Key()))
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
