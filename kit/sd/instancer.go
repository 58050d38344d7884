package sd

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/go-kit/kit/sd"
	"github.com/go-kit/kit/sd/etcdv3"
	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// resyncInterval re-reads the prefix even without watch events, a
	// safety net for anything the watch could miss across reconnects.
	// Unchanged results are not re-broadcast, so it is cheap.
	resyncInterval = 30 * time.Second
	// rewatchDelay paces re-creating a watch that etcd cancelled.
	rewatchDelay = 500 * time.Millisecond
	// readTimeout bounds one read of the prefix, and so how long
	// NewInstancer waits when etcd is down.
	readTimeout = 3 * time.Second
)

var errNotSupported = errors.New("sd: not supported here; use Registrar")

// Instancer publishes the instances of one service, as Instance JSON
// strings, to go-kit subscribers (sd.NewEndpointer, or any channel given
// to Register). It is go-kit's etcdv3.Instancer running over our own
// client through a sturdier watch: go-kit's stops for good when etcd
// cancels its watch and misses keys that already exist when etcd comes
// back after an outage at start-up.
type Instancer struct {
	inner  *etcdv3.Instancer
	cancel context.CancelFunc
	// watching is done once the watch goroutine has returned.
	watching *sync.WaitGroup
	stopOnce sync.Once
}

var _ sd.Instancer = (*Instancer)(nil)

// NewInstancer starts watching the instances of service name. If etcd is
// unreachable it starts empty (after a short bounded wait) and fills in
// once etcd answers. Stop releases it.
func NewInstancer(c *clientv3.Client, name string, logger log.Logger) (*Instancer, error) {
	if err := validateSegment("name", name); err != nil {
		return nil, err
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	logger = log.With(logger, "component", "sd.instancer", "service", name)
	ctx, cancel := context.WithCancel(context.Background())
	a := &watchClient{cli: c, ctx: ctx, logger: logger, done: &sync.WaitGroup{}}
	// go-kit's loop always starts exactly one WatchPrefix, even if
	// stopped at once, so the count is known up front.
	a.done.Add(1)
	inner, err := etcdv3.NewInstancer(a, Key(name, ""), logger)
	if err != nil {
		cancel()
		return nil, err
	}
	return &Instancer{inner: inner, cancel: cancel, watching: a.done}, nil
}

// Register implements sd.Instancer: ch receives the current state now and
// every change after. ch must be drained (or deregistered) promptly, since
// updates to all subscribers wait for it.
func (i *Instancer) Register(ch chan<- sd.Event) { i.inner.Register(ch) }

// Deregister implements sd.Instancer.
func (i *Instancer) Deregister(ch chan<- sd.Event) { i.inner.Deregister(ch) }

// Stop stops watching and waits for the watch to end. Subscribers keep
// the last state. Stop is idempotent.
func (i *Instancer) Stop() {
	i.stopOnce.Do(func() {
		i.inner.Stop()
		i.cancel()
		i.watching.Wait()
	})
}

// watchClient adapts a *clientv3.Client to the part of go-kit's
// etcdv3.Client that the Instancer uses.
type watchClient struct {
	cli       *clientv3.Client
	ctx       context.Context
	logger    log.Logger
	done      *sync.WaitGroup
	watchOnce sync.Once
}

var _ etcdv3.Client = (*watchClient)(nil)

// GetEntries returns the values under prefix. It is bounded so that a
// call during an etcd outage fails (and the last state is kept) instead
// of hanging the instancer.
func (w *watchClient) GetEntries(prefix string) ([]string, error) {
	ctx, cancel := context.WithTimeout(w.ctx, readTimeout)
	defer cancel()
	resp, err := w.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, registryError(ctx, err)
	}
	entries := make([]string, len(resp.Kvs))
	for i, kv := range resp.Kvs {
		entries[i] = string(kv.Value)
	}
	return entries, nil
}

// WatchPrefix signals ch whenever the instances under prefix may have
// changed: when a watch is (re-)established, on every event, and every
// resyncInterval. Unlike go-kit's own, it re-creates a watch that etcd
// cancels (compaction, lost leader) and returns only when the instancer
// stops.
func (w *watchClient) WatchPrefix(prefix string, ch chan struct{}) {
	first := false
	w.watchOnce.Do(func() { first = true })
	if !first {
		return
	}
	defer w.done.Done()

	resync := time.NewTicker(resyncInterval)
	defer resync.Stop()
	for w.ctx.Err() == nil {
		w.watch(prefix, ch, resync.C)
		if !sleep(w.ctx, rewatchDelay) {
			return
		}
	}
}

// watch runs one etcd watch until etcd cancels it or the instancer stops.
func (w *watchClient) watch(prefix string, ch chan struct{}, resync <-chan time.Time) {
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(w.ctx))
	defer cancel()
	// WithCreatedNotify makes the first response arrive as soon as the
	// watch exists, so keys present at that moment are read even when the
	// first GetEntries ran while etcd was down.
	events := w.cli.Watch(ctx, prefix, clientv3.WithPrefix(), clientv3.WithCreatedNotify())
	for {
		select {
		case resp, ok := <-events:
			if !ok {
				return
			}
			if err := resp.Err(); err != nil {
				level.Warn(w.logger).Log("msg", "watch cancelled, re-watching", "err", err)
				return
			}
		case <-resync:
		case <-w.ctx.Done():
			return
		}
		select {
		case ch <- struct{}{}:
		case <-w.ctx.Done():
			return
		}
	}
}

// Register is not used by the Instancer; registration is Registrar's job.
func (w *watchClient) Register(etcdv3.Service) error { return errNotSupported }

// Deregister is not used by the Instancer.
func (w *watchClient) Deregister(etcdv3.Service) error { return errNotSupported }

// LeaseID is not used by the Instancer.
func (w *watchClient) LeaseID() int64 { return 0 }
