package sd_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

// ttl is short so expiry tests take seconds; etcdtest's raft timing lets
// etcd honour it.
const ttl = 2 * time.Second

func testInstance(id string) sd.Instance {
	return sd.Instance{ID: id, Name: "users", Version: "1.2.3", HTTPAddr: "127.0.0.1:8081", GRPCAddr: "127.0.0.1:9081"}
}

func TestRegistrarPutsInstanceAndDeregisterRemovesItAtOnce(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	want := testInstance("a1")
	before := time.Now().UTC()
	r := sd.NewRegistrar(c, want, ttl, log.NewNopLogger())
	wait := runRegistrar(t, ctx, r)
	waitRegistered(t, r, 5*time.Second)

	if r.Key() != "/kitshop/services/users/a1" {
		t.Fatalf("key = %q", r.Key())
	}
	value, lease, ok := getKey(t, c, r.Key())
	if !ok {
		t.Fatal("key missing after Registered")
	}
	got, err := sd.DecodeInstance(value)
	if err != nil {
		t.Fatal(err)
	}
	if got.RegisteredAt.Before(before.Add(-time.Second)) || got.RegisteredAt.After(time.Now().Add(time.Second)) {
		t.Fatalf("registered_at %v is not the registration time", got.RegisteredAt)
	}
	want.RegisteredAt = got.RegisteredAt
	if got != want {
		t.Fatalf("stored %+v, want %+v", got, want)
	}
	for _, field := range []string{`"id":"a1"`, `"name":"users"`, `"version":"1.2.3"`, `"http_addr":"127.0.0.1:8081"`, `"grpc_addr":"127.0.0.1:9081"`, `"registered_at":"`} {
		if !strings.Contains(value, field) {
			t.Errorf("stored JSON %s lacks %s", value, field)
		}
	}
	if lease == clientv3.NoLease {
		t.Fatal("key is not bound to a lease")
	}
	ttlResp, err := c.TimeToLive(ctx, lease)
	if err != nil {
		t.Fatal(err)
	}
	if ttlResp.GrantedTTL != int64(ttl/time.Second) {
		t.Fatalf("lease granted TTL %ds, want %v", ttlResp.GrantedTTL, ttl)
	}

	// Keepalives must hold the key well past one TTL.
	time.Sleep(ttl + time.Second)
	if _, _, ok := getKey(t, c, r.Key()); !ok {
		t.Fatal("key expired although Run keeps the lease alive")
	}

	if err := r.Deregister(ctx); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if _, _, ok := getKey(t, c, r.Key()); ok {
		t.Fatal("key still present right after Deregister")
	}
	if err := r.Deregister(ctx); err != nil {
		t.Fatalf("second Deregister: %v", err)
	}
	// Deregister ends Run, and Run must not bring the key back.
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if _, _, ok := getKey(t, c, r.Key()); ok {
		t.Fatal("key came back after Deregister")
	}
}

func TestKeyExpiresWithinTTLWhenProcessDies(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	r := sd.NewRegistrar(c, testInstance("dies"), ttl, nil)
	wait := runRegistrar(t, ctx, r)
	waitRegistered(t, r, 5*time.Second)

	// A crash: keepalives stop, nobody revokes.
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	died := time.Now()
	if _, _, ok := getKey(t, c, r.Key()); !ok {
		t.Fatal("key vanished at once; only its lease expiry should remove it")
	}
	// etcd checks for expired leases every 500ms, hence the slack.
	kittest.WaitFor(t, ttl+time.Second, "key to expire", func() bool {
		_, _, ok := getKey(t, c, r.Key())
		return !ok
	})
	t.Logf("key expired %v after the process died", time.Since(died).Round(10*time.Millisecond))
}

func TestReRegistersAfterEtcdOutageLongerThanTTL(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	r := sd.NewRegistrar(c, testInstance("survivor"), ttl, nil)
	wait := runRegistrar(t, ctx, r)
	waitRegistered(t, r, 5*time.Second)
	firstValue, firstLease, _ := getKey(t, c, r.Key())

	srv.Stop()
	// Long enough for the client to give the lease up (no keepalive
	// answer within the TTL), which is what go-kit's registrar never
	// recovers from.
	time.Sleep(ttl + 1500*time.Millisecond)
	srv.Restart(t)
	t0 := time.Now()

	// etcd extends surviving leases on restart, so the old key may still
	// be there: re-registration shows as the key moving to a new lease.
	var newLease clientv3.LeaseID
	// The bound is generous: the etcd client's own reconnection backoff
	// (gRPC's, growing 1.6x from 1 s) decides most of the delay, and a
	// loaded CI machine stretches it; what matters is that it happens.
	kittest.WaitFor(t, 30*time.Second, "re-registration under a new lease", func() bool {
		_, l, ok := getKey(t, c, r.Key())
		newLease = l
		return ok && l != firstLease
	})
	t.Logf("re-registration took %v", time.Since(t0))
	value, _, _ := getKey(t, c, r.Key())
	if value != firstValue {
		t.Fatalf("re-registered value %s differs from the original %s", value, firstValue)
	}
	// The new lease is kept alive: the key outlives another TTL and the
	// old lease's extension.
	time.Sleep(ttl + time.Second)
	if _, l, ok := getKey(t, c, r.Key()); !ok || l != newLease {
		t.Fatalf("after re-registration key present=%v lease=%x, want lease %x", ok, l, newLease)
	}

	if err := r.Deregister(ctx); err != nil {
		t.Fatalf("Deregister: %v", err)
	}
	if _, _, ok := getKey(t, c, r.Key()); ok {
		t.Fatal("key present after Deregister")
	}
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestReRegistersAfterLeaseRevokedExternally(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	r := sd.NewRegistrar(c, testInstance("revoked"), ttl, nil)
	wait := runRegistrar(t, ctx, r)
	waitRegistered(t, r, 5*time.Second)
	_, lease, _ := getKey(t, c, r.Key())

	if _, err := srv.Client(t).Revoke(ctx, lease); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	kittest.WaitFor(t, 5*time.Second, "key to come back under a new lease", func() bool {
		_, l, ok := getKey(t, c, r.Key())
		return ok && l != lease
	})
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestRegistersOnceEtcdComesUp(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	srv.Stop()
	// A service starts while etcd is down: creating the client and
	// running the registrar must not fail or block.
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := sd.NewRegistrar(c, testInstance("early"), ttl, nil)
	wait := runRegistrar(t, ctx, r)

	select {
	case <-r.Registered():
		t.Fatal("registered while etcd is down")
	case <-time.After(500 * time.Millisecond):
	}
	srv.Restart(t)
	waitRegistered(t, r, 10*time.Second)
	if _, _, ok := getKey(t, c, r.Key()); !ok {
		t.Fatal("key missing after registration")
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func TestDeregisterBeforeRunRegistersNothing(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	r := sd.NewRegistrar(c, testInstance("never"), ttl, nil)
	if err := r.Deregister(ctx); err != nil {
		t.Fatalf("Deregister before Run: %v", err)
	}
	if err := runRegistrar(t, ctx, r)(); err != nil {
		t.Fatalf("Run after Deregister: %v", err)
	}
	if _, _, ok := getKey(t, c, r.Key()); ok {
		t.Fatal("a deregistered instance was registered")
	}
}

func TestRunRejectsInvalidInstanceAndSecondCall(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := newClient(t, srv)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)

	bad := sd.NewRegistrar(c, sd.Instance{ID: "x", Name: "a/b"}, ttl, nil)
	if err := bad.Run(ctx); errs.KindOf(err) != errs.InvalidArgument {
		t.Fatalf("Run with name a/b: got %v, want InvalidArgument", err)
	}

	r := sd.NewRegistrar(c, testInstance("twice"), ttl, nil)
	wait := runRegistrar(t, ctx, r)
	waitRegistered(t, r, 5*time.Second)
	if err := r.Run(ctx); err == nil {
		t.Fatal("second Run returned nil")
	}
	cancel()
	if err := wait(); err != nil {
		t.Fatalf("Run: %v", err)
	}
}
