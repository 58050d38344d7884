package sd_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	kitsd "github.com/go-kit/kit/sd"
	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

// subscriber records the latest event an Instancer published.
type subscriber struct {
	ch   chan kitsd.Event
	done chan struct{}

	mu     sync.Mutex
	last   kitsd.Event
	events int
}

func subscribe(t *testing.T, inst kitsd.Instancer) *subscriber {
	t.Helper()
	s := &subscriber{ch: make(chan kitsd.Event), done: make(chan struct{})}
	go func() {
		for {
			select {
			case ev := <-s.ch:
				s.mu.Lock()
				s.last, s.events = ev, s.events+1
				s.mu.Unlock()
			case <-s.done:
				return
			}
		}
	}()
	inst.Register(s.ch)
	t.Cleanup(func() {
		inst.Deregister(s.ch)
		close(s.done)
	})
	return s
}

func (s *subscriber) state() kitsd.Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.last
}

// waitInstances waits until the latest event lists exactly want.
func (s *subscriber) waitInstances(t *testing.T, timeout time.Duration, want ...string) {
	t.Helper()
	slices.Sort(want)
	kittest.WaitFor(t, timeout, fmt.Sprint("instances ", want), func() bool {
		ev := s.state()
		got := slices.Clone(ev.Instances)
		slices.Sort(got)
		return ev.Err == nil && slices.Equal(got, want)
	})
}

func newInstancer(t *testing.T, srv *etcdtest.Server, name string) *sd.Instancer {
	t.Helper()
	inst, err := sd.NewInstancer(newClient(t, srv), name, log.NewNopLogger())
	if err != nil {
		t.Fatalf("NewInstancer: %v", err)
	}
	t.Cleanup(inst.Stop)
	return inst
}

func TestInstancerSeesAddsAndRemoves(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	a := putInstance(t, c, testInstance("a"))

	inst := newInstancer(t, srv, "users")
	sub := subscribe(t, inst)
	sub.waitInstances(t, 5*time.Second, a)

	b := putInstance(t, c, testInstance("b"))
	// A service whose name merely starts with "users" is someone else.
	putInstance(t, c, sd.Instance{ID: "x", Name: "users-admin", GRPCAddr: "127.0.0.1:1"})
	sub.waitInstances(t, 5*time.Second, a, b)

	// A registered instance appears, and vanishes on Deregister.
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	r := sd.NewRegistrar(newClient(t, srv), testInstance("c"), ttl, nil)
	wait := runRegistrar(t, ctx, r)
	waitRegistered(t, r, 5*time.Second)
	cv, _, _ := getKey(t, c, r.Key())
	sub.waitInstances(t, 5*time.Second, a, b, cv)
	if err := r.Deregister(ctx); err != nil {
		t.Fatal(err)
	}
	if err := wait(); err != nil {
		t.Fatal(err)
	}
	sub.waitInstances(t, 5*time.Second, a, b)

	deleteKey(t, c, sd.Key("users", "a"))
	sub.waitInstances(t, 5*time.Second, b)
	deleteKey(t, c, sd.Key("users", "b"))
	sub.waitInstances(t, 5*time.Second)

	inst.Stop()
	inst.Stop() // idempotent
}

func TestInstancerCatchesUpAfterOutages(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	a := putInstance(t, c, testInstance("a"))

	// Started while etcd is down: it must come up empty (with an error),
	// then find the instance that was there all along once etcd returns,
	// although no key changes.
	srv.Stop()
	inst := newInstancer(t, srv, "users")
	sub := subscribe(t, inst)
	if ev := sub.state(); ev.Err == nil || len(ev.Instances) != 0 {
		t.Fatalf("initial state while etcd is down = %+v, want an error and no instances", ev)
	}
	srv.Restart(t)
	sub.waitInstances(t, 10*time.Second, a)

	// A second outage: changes made after it are still seen.
	srv.Stop()
	srv.Restart(t)
	b := putInstance(t, c, testInstance("b"))
	sub.waitInstances(t, 10*time.Second, a, b)
}

func TestNewInstancerRejectsBadName(t *testing.T) {
	t.Parallel()
	srv := etcdtest.Start(t)
	for _, name := range []string{"", "a/b"} {
		if _, err := sd.NewInstancer(srv.Client(t), name, nil); errs.KindOf(err) != errs.InvalidArgument {
			t.Errorf("NewInstancer(%q) = %v, want InvalidArgument", name, err)
		}
	}
}
