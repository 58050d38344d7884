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
//
// Registration follows readiness: SetServing(false) takes the key out of
// the registry while keeping the lease alive, and SetServing(true) puts it
// back, so an instance whose database is down receives no traffic through
// discovery and returns without a new lease once it recovers.
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

	// kick wakes Run when SetServing changed what it should publish.
	kick chan struct{}

	mu           sync.Mutex
	inst         Instance
	lease        clientv3.LeaseID // current lease, clientv3.NoLease if none
	running      bool
	deregistered bool
	serving      bool // whether the key should be in the registry
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
		kick:       make(chan struct{}, 1),
		inst:       inst,
		serving:    true,
	}
}

// SetServing says whether the instance should be discoverable: false
// removes its key from the registry (the lease lives on), true puts it
// back. It never blocks, so it can be a health.Readiness.SubscribeServing
// listener; Run applies the change in the background, retrying while etcd
// is unreachable. A new Registrar is serving.
func (r *Registrar) SetServing(serving bool) {
	r.mu.Lock()
	changed := r.serving != serving
	r.serving = serving
	r.mu.Unlock()
	if changed {
		select {
		case r.kick <- struct{}{}:
		default: // a wake-up is already pending; Run reads the latest state
		}
	}
}

func (r *Registrar) wantServing() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.serving
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

	retryMax := r.retryMax()
	wait := retryBase
	for attempt := 1; ; attempt++ {
		lease, old, keepalive, err := r.grant(ctx)
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
		r.hold(ctx, lease, old, keepalive)
		if ctx.Err() != nil {
			return nil
		}
		level.Warn(r.logger).Log("msg", "registration lost (lease expired or revoked), registering again")
	}
}

// retryMax caps the backoff between attempts: well inside one TTL, so a
// registration lost to an etcd outage comes back soon after etcd does.
func (r *Registrar) retryMax() time.Duration {
	return min(max(r.ttl/2, 500*time.Millisecond), 5*time.Second)
}

// grant obtains a fresh lease and starts keeping it alive. The keepalive
// channel closes when the lease is lost or ctx ends. old is the lease it
// replaces, if any.
func (r *Registrar) grant(ctx context.Context) (lease, old clientv3.LeaseID, keepalive <-chan *clientv3.LeaseKeepAliveResponse, err error) {
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	g, err := r.client.Grant(opCtx, int64((r.ttl+time.Second-1)/time.Second))
	if err != nil {
		return 0, 0, nil, err
	}
	r.mu.Lock()
	if r.deregistered {
		// Deregister ran while we were granting and could not know this
		// lease: revoke it ourselves.
		r.mu.Unlock()
		r.revokeQuietly(g.ID)
		return 0, 0, nil, context.Canceled
	}
	old, r.lease = r.lease, g.ID
	r.mu.Unlock()

	keepalive, err = r.client.KeepAlive(ctx, g.ID)
	if err != nil {
		return 0, 0, nil, err
	}
	return g.ID, old, keepalive, nil
}

// hold keeps the key in the registry under lease while the instance is
// serving and out of it while it is not, until the lease is lost or ctx
// ends. Failed puts and deletes are retried with backoff.
func (r *Registrar) hold(ctx context.Context, lease, old clientv3.LeaseID, keepalive <-chan *clientv3.LeaseKeepAliveResponse) {
	published := false
	backoff := retryBase
	var retry *time.Timer
	var retryC <-chan time.Time
	defer func() {
		if retry != nil {
			retry.Stop()
		}
	}()
	for {
		if want := r.wantServing(); want != published && retryC == nil {
			if err := r.publish(ctx, lease, want); err != nil {
				if ctx.Err() != nil {
					return
				}
				d := jitter(backoff)
				level.Warn(r.logger).Log("msg", "updating the registry failed, retrying", "serving", want, "retry_in", d, "err", err)
				retry = time.NewTimer(d)
				retryC = retry.C
				backoff = min(2*backoff, r.retryMax())
			} else {
				published, backoff = want, retryBase
				r.published(lease, want)
			}
		}
		if old != clientv3.NoLease && published == r.wantServing() {
			// The key has moved to the new lease, or is meant to be gone:
			// the old lease, if etcd still has it (it extends leases when
			// it restarts), holds nothing worth keeping.
			r.revokeQuietly(old)
			old = clientv3.NoLease
		}
		select {
		case _, ok := <-keepalive:
			if !ok {
				return
			}
		case <-r.kick:
		case <-retryC:
			retryC = nil
		case <-ctx.Done():
			return
		}
	}
}

// publish puts the instance under lease (serving) or deletes its key.
func (r *Registrar) publish(ctx context.Context, lease clientv3.LeaseID, serving bool) error {
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	if !serving {
		_, err := r.client.Delete(opCtx, r.key)
		return err
	}
	r.mu.Lock()
	if r.inst.RegisteredAt.IsZero() {
		r.inst.RegisteredAt = time.Now().UTC()
	}
	value, err := json.Marshal(r.inst)
	r.mu.Unlock()
	if err != nil {
		return errs.Internalf(err, "sd: encode instance")
	}
	// A Deregister racing with this put revokes lease, which removes the
	// key or makes the put fail: no key outlives a deregistration.
	_, err = r.client.Put(opCtx, r.key, string(value), clientv3.WithLease(lease))
	return err
}

// published logs a change that reached the registry.
func (r *Registrar) published(lease clientv3.LeaseID, serving bool) {
	if !serving {
		level.Warn(r.logger).Log("msg", "not ready: left the registry (lease kept)")
		return
	}
	first := false
	r.registeredOnce.Do(func() {
		first = true
		close(r.registered)
	})
	if first {
		level.Info(r.logger).Log("msg", "registered", "lease", int64(lease), "ttl", r.ttl)
	} else {
		level.Info(r.logger).Log("msg", "registered again", "lease", int64(lease))
	}
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

// sleep waits for d and reports false if ctx ended first. Every wait in
// the package uses it: re-registering, re-watching, a retry's backoff.
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
