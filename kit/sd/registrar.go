package sd

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/errs"
)

// DefaultTTL is the lease TTL when none is given: a dead process drops out
// of discovery within this long.
const DefaultTTL = 10 * time.Second

const (
	// opTimeout bounds each etcd call made while (re)registering. etcd
	// calls wait for a connection, so without it a grant during an outage
	// would hang instead of backing off.
	opTimeout = 5 * time.Second
	// retryBase is the first wait after a failed registration attempt.
	retryBase = 200 * time.Millisecond
)

// Registrar keeps one Instance registered under a lease for as long as Run
// runs. Unlike go-kit's etcdv3 registrar, it notices when the lease is lost
// (etcd was unreachable for longer than the TTL, or the lease was revoked)
// and registers again, retrying with capped backoff until etcd is back
// (go-kit/kit#1043).
type Registrar struct {
	client *clientv3.Client
	key    string
	ttl    time.Duration
	logger log.Logger

	registered     chan struct{}
	registeredOnce sync.Once

	// quit ends Run's work; Deregister triggers it so that Run can never
	// re-register a deregistered instance.
	quitCtx context.Context
	quit    context.CancelFunc

	mu           sync.Mutex
	inst         Instance
	lease        clientv3.LeaseID // current lease, clientv3.NoLease if none
	running      bool
	deregistered bool
}

// NewRegistrar returns a Registrar for inst with the given lease TTL
// (DefaultTTL when zero; etcd rounds it up to whole seconds and to its own
// minimum). Nothing happens until Run.
func NewRegistrar(c *clientv3.Client, inst Instance, ttl time.Duration, logger log.Logger) *Registrar {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if logger == nil {
		logger = log.NewNopLogger()
	}
	quitCtx, quit := context.WithCancel(context.Background())
	return &Registrar{
		client:     c,
		key:        Key(inst.Name, inst.ID),
		ttl:        ttl,
		logger:     log.With(logger, "component", "sd.registrar", "key", Key(inst.Name, inst.ID)),
		registered: make(chan struct{}),
		quitCtx:    quitCtx,
		quit:       quit,
		inst:       inst,
	}
}

// Key is the etcd key the instance is registered under.
func (r *Registrar) Key() string { return r.key }

// Registered is closed once the instance has been registered for the
// first time.
func (r *Registrar) Registered() <-chan struct{} { return r.registered }

// Run registers the instance and keeps it registered, re-registering
// whenever the lease is lost. It returns nil when ctx is done or
// Deregister has been called, and an error only for an invalid instance,
// a second call, or a closed etcd client.
//
// Cancelling ctx without Deregister stops the keepalives but leaves the
// key in place until its lease expires, exactly as if the process had
// died; a graceful shutdown calls Deregister.
func (r *Registrar) Run(ctx context.Context) error {
	if err := validateSegment("name", r.inst.Name); err != nil {
		return err
	}
	if err := validateSegment("id", r.inst.ID); err != nil {
		return err
	}
	r.mu.Lock()
	if r.running {
		r.mu.Unlock()
		return errors.New("sd: Registrar.Run called twice")
	}
	r.running = true
	deregistered := r.deregistered
	r.mu.Unlock()
	if deregistered {
		return nil
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(r.quitCtx, cancel)
	defer stop()

	retryMax := min(max(r.ttl/2, 500*time.Millisecond), 5*time.Second)
	wait := retryBase
	for attempt := 1; ; attempt++ {
		keepalive, err := r.register(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if r.client.Ctx().Err() != nil {
				return errors.New("sd: etcd client closed while registering")
			}
			d := jitter(wait)
			level.Warn(r.logger).Log("msg", "registration failed, retrying", "attempt", attempt, "retry_in", d, "err", err)
			if !sleep(ctx, d) {
				return nil
			}
			wait = min(2*wait, retryMax)
			continue
		}
		attempt, wait = 0, retryBase
		r.registeredOnce.Do(func() { close(r.registered) })

		for range keepalive {
			// Each response is a renewed lease; only its end matters.
		}
		if ctx.Err() != nil {
			return nil
		}
		level.Warn(r.logger).Log("msg", "registration lost (lease expired or revoked), registering again")
	}
}

// register grants a fresh lease, puts the instance under it and starts
// keeping it alive. The keepalive channel closes when the lease is lost
// or ctx ends.
func (r *Registrar) register(ctx context.Context) (<-chan *clientv3.LeaseKeepAliveResponse, error) {
	r.mu.Lock()
	if r.inst.RegisteredAt.IsZero() {
		r.inst.RegisteredAt = time.Now().UTC()
	}
	value, err := json.Marshal(r.inst)
	old := r.lease
	r.mu.Unlock()
	if err != nil {
		return nil, errs.Internalf(err, "sd: encode instance")
	}

	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	grant, err := r.client.Grant(opCtx, int64((r.ttl+time.Second-1)/time.Second))
	if err != nil {
		return nil, err
	}
	if _, err := r.client.Put(opCtx, r.key, string(value), clientv3.WithLease(grant.ID)); err != nil {
		// The put may have been applied even though we saw an error;
		// revoking makes sure no key outlives this attempt unattended.
		r.revokeQuietly(grant.ID)
		return nil, err
	}

	r.mu.Lock()
	if r.deregistered {
		// Deregister ran while we were putting and could not know this
		// lease: remove the key ourselves.
		r.mu.Unlock()
		r.revokeQuietly(grant.ID)
		return nil, context.Canceled
	}
	r.lease = grant.ID
	r.mu.Unlock()

	keepalive, err := r.client.KeepAlive(ctx, grant.ID)
	if err != nil {
		return nil, err
	}
	level.Info(r.logger).Log("msg", "registered", "lease", int64(grant.ID), "ttl", r.ttl)
	if old != clientv3.NoLease {
		// The key has moved to the new lease; the old one, if etcd still
		// has it, holds nothing and only waits to expire.
		r.revokeQuietly(old)
	}
	return keepalive, nil
}

// Deregister removes the instance from the registry at once by revoking
// its lease, and stops Run from registering it again. It may be called
// before Run has registered (nothing is then registered) and more than
// once. If etcd cannot be reached the error is returned, and the key
// still disappears when its lease expires since keepalives have stopped.
func (r *Registrar) Deregister(ctx context.Context) error {
	r.mu.Lock()
	r.deregistered = true
	lease := r.lease
	r.mu.Unlock()
	r.quit()
	if lease == clientv3.NoLease {
		return nil
	}
	if _, err := r.client.Revoke(ctx, lease); err != nil && !errors.Is(err, rpctypes.ErrLeaseNotFound) {
		return registryError(ctx, err)
	}
	r.mu.Lock()
	if r.lease == lease {
		r.lease = clientv3.NoLease
	}
	r.mu.Unlock()
	level.Info(r.logger).Log("msg", "deregistered")
	return nil
}

// revokeQuietly revokes a lease on a best-effort basis: failures only
// mean the lease lives out its TTL.
func (r *Registrar) revokeQuietly(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	_, _ = r.client.Revoke(ctx, id)
}

// jitter spreads retries of many instances after an etcd restart (±20%).
func jitter(d time.Duration) time.Duration {
	return time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
}

// sleep waits for d and reports false if ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
