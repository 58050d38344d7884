package sd

import (
	"io"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/go-kit/kit/endpoint"
	gokitsd "github.com/go-kit/kit/sd"
	"github.com/go-kit/log"
)

// target is one instance's endpoint for one method, with the version the
// instance registered.
type target struct {
	instance string
	version  string
	e        endpoint.Endpoint
	closer   io.Closer
}

// targets is one immutable view of a method's instances, read lock-free
// by every call.
type targets struct {
	all       []*target // ordered by instance value, as go-kit's endpointer orders them
	byVersion map[string][]*target
}

// versionedEndpointer is go-kit's DefaultEndpointer (one endpoint per
// discovered instance, made by a factory, closed when the instance
// leaves) that also knows each endpoint's version, and balances
// round-robin within the version a split chooses.
type versionedEndpointer struct {
	inst    gokitsd.Instancer
	factory gokitsd.Factory
	logger  log.Logger
	ch      chan gokitsd.Event
	// done closes when receive has returned; stopped makes it ignore
	// events still queued when Close ran.
	done    chan struct{}
	stopped atomic.Bool

	mu    sync.Mutex // serialises updates; cache is only touched under it
	cache map[string]*target

	snap atomic.Pointer[targets]
	next atomic.Uint64
}

func newVersionedEndpointer(inst gokitsd.Instancer, factory gokitsd.Factory, logger log.Logger) *versionedEndpointer {
	// One buffered event: the instancers kitshop uses send the current
	// instances inside Register, and applying that event here, before
	// returning, means the first call already sees them (go-kit's
	// endpointer applies it in the background, and an early call could
	// find no instance).
	v := &versionedEndpointer{inst: inst, factory: factory, logger: logger, ch: make(chan gokitsd.Event, 1), done: make(chan struct{}), cache: map[string]*target{}}
	v.snap.Store(&targets{byVersion: map[string][]*target{}})
	inst.Register(v.ch)
	select {
	case ev := <-v.ch:
		v.update(ev)
	default:
	}
	go v.receive()
	return v
}

func (v *versionedEndpointer) receive() {
	defer close(v.done)
	for ev := range v.ch {
		if !v.stopped.Load() {
			v.update(ev)
		}
	}
}

// Close stops following the instancer and returns once no update runs:
// an update racing the shutdown would dial on closed connections and log
// into a logger its owner may have stopped reading (the Backend closes
// its connections right after).
func (v *versionedEndpointer) Close() {
	v.stopped.Store(true)
	v.inst.Deregister(v.ch)
	close(v.ch)
	<-v.done
}

// update applies a discovery event. On a discovery error the last known
// instances are kept, as go-kit's endpointer does by default.
func (v *versionedEndpointer) update(ev gokitsd.Event) {
	if ev.Err != nil {
		_ = v.logger.Log("msg", "discovery error; keeping the last instances", "err", ev.Err)
		return
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	instances := append([]string(nil), ev.Instances...)
	sort.Strings(instances)
	next := make(map[string]*target, len(instances))
	snap := &targets{byVersion: map[string][]*target{}}
	for _, raw := range instances {
		t, ok := v.cache[raw]
		if ok {
			delete(v.cache, raw)
		} else {
			e, closer, err := v.factory(raw)
			if err != nil {
				_ = v.logger.Log("instance", raw, "err", err)
				continue
			}
			in, _ := DecodeInstance(raw) // the factory decoded it already
			t = &target{instance: raw, version: in.Version, e: e, closer: closer}
		}
		next[raw] = t
		snap.all = append(snap.all, t)
		snap.byVersion[t.version] = append(snap.byVersion[t.version], t)
	}
	for _, gone := range v.cache {
		if gone.closer != nil {
			_ = gone.closer.Close()
		}
	}
	v.cache = next
	v.snap.Store(snap)
}

// pick is the target of one attempt: round-robin within the version sp
// chooses for key, else within the next weighted version that has a live
// instance, else over every instance (a version with a weight but no
// instance must not fail calls another version could answer). Without a
// split it is plain round-robin over every instance. nil: no instance.
func (v *versionedEndpointer) pick(sp *split, key string, retry bool) *target {
	snap := v.snap.Load()
	n := v.next.Add(1)
	if sp != nil {
		if ts := snap.byVersion[sp.choose(key, retry)]; len(ts) > 0 {
			return ts[n%uint64(len(ts))]
		}
		for _, version := range sp.order {
			if ts := snap.byVersion[version]; len(ts) > 0 {
				return ts[n%uint64(len(ts))]
			}
		}
	}
	if len(snap.all) == 0 {
		return nil
	}
	return snap.all[n%uint64(len(snap.all))]
}

// candidates are every target in the order pick prefers them: the
// version of first, then the split's other versions heaviest first, then
// the rest. For the slow path only (the picked instance is down).
func (v *versionedEndpointer) candidates(sp *split, first *target) []*target {
	snap := v.snap.Load()
	out := make([]*target, 0, len(snap.all))
	seen := map[string]bool{}
	add := func(version string) {
		if seen[version] {
			return
		}
		seen[version] = true
		out = append(out, snap.byVersion[version]...)
	}
	add(first.version)
	if sp != nil {
		for _, version := range sp.order {
			add(version)
		}
	}
	for _, t := range snap.all {
		add(t.version)
	}
	return out
}
