package ratelimit

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// DefaultMaxClients is Config.MaxClients when unset: at a few hundred
// bytes per bucket, about 30 MB at most.
const DefaultMaxClients = 100_000

// Config configures a Limiter.
type Config struct {
	// Tiers by name (DefaultTiers, or LoadTiers); it must have Anonymous.
	// Nil means DefaultTiers().
	Tiers map[string]Tier
	// APIKeys maps each configured key to its tier (see ParseAPIKeys).
	// Every tier must be the one of that name in Tiers.
	APIKeys map[string]Tier
	// TrustedProxies are the peers whose X-Forwarded-For is believed (see
	// ParseTrustedProxies). Empty: the direct peer is always the client.
	TrustedProxies []netip.Prefix
	// MaxClients bounds the number of buckets kept; 0 means
	// DefaultMaxClients. Beyond it the least recently used are dropped.
	MaxClients int
	// Registerer receives the limiter's metrics (see metrics.go); nil
	// registers none.
	Registerer prometheus.Registerer
	// Skip exempts requests from the Middleware: no charge, no headers.
	// Typically the platform endpoints (/health/*, /metrics). Nil: none.
	Skip func(*http.Request) bool
	// Now is the clock; nil means time.Now. Tests inject their own.
	Now func() time.Time
}

// Limiter is the gateway's per-client rate limiter. It is safe for
// concurrent use. Build it with New.
type Limiter struct {
	tiers     []Tier // by tier index, sorted by name
	anonymous int    // index of the Anonymous tier
	// keys maps a configured API key to its index in keyClients.
	keys       map[string]uint32
	keyClients []Client
	proxies    proxies

	shards []shard
	mask   uint64
	seed   uint64

	share   atomic.Pointer[shareState]
	shareMu sync.Mutex // serialises SetShare

	now     func() time.Time
	skip    func(*http.Request) bool
	metrics *metricSet
}

// shareState is what one share (live gateway count) makes of the tiers.
type shareState struct {
	n   int
	gen uint64
	// at is when the share changed: buckets refill at the new rate from
	// then on, even though each is adjusted only when next used.
	at time.Time
	// limits and bursts are each tier's local rate (tokens/s) and bucket
	// size under this share, by tier index.
	limits []rate.Limit
	bursts []int
	// idle is the longest time any tier's local bucket takes to refill
	// from empty: a bucket unused that long is full, so it is evicted.
	idle time.Duration
}

// New builds a Limiter from cfg, validating it.
func New(cfg Config) (*Limiter, error) {
	tiers := cfg.Tiers
	if tiers == nil {
		tiers = DefaultTiers()
	}
	if err := validateTiers(tiers); err != nil {
		return nil, err
	}
	maxClients := cfg.MaxClients
	if maxClients == 0 {
		maxClients = DefaultMaxClients
	}
	if maxClients < 0 {
		return nil, fmt.Errorf("ratelimit: MaxClients must be >= 0, got %d", maxClients)
	}
	l := &Limiter{
		proxies: slices.Clone(proxies(cfg.TrustedProxies)),
		seed:    rand.Uint64(),
		now:     cfg.Now,
		skip:    cfg.Skip,
	}
	if l.now == nil {
		l.now = time.Now
	}
	for i, p := range l.proxies {
		l.proxies[i] = p.Masked()
	}

	names := make([]string, 0, len(tiers))
	for name := range tiers {
		names = append(names, name)
	}
	slices.Sort(names)
	index := make(map[string]int, len(names))
	for i, name := range names {
		l.tiers = append(l.tiers, tiers[name])
		index[name] = i
	}
	l.anonymous = index[Anonymous]

	if err := l.addKeys(cfg.APIKeys, tiers, index); err != nil {
		return nil, err
	}

	n := shardCount(maxClients)
	l.shards = make([]shard, n)
	l.mask = uint64(n - 1)
	for i := range l.shards {
		l.shards[i].init(maxClients / n)
	}

	m, err := newMetrics(cfg.Registerer, l.tiers)
	if err != nil {
		return nil, err
	}
	l.metrics = m
	l.share.Store(l.shareFor(1, 1, time.Time{}))
	m.share.Set(1)
	return l, nil
}

// addKeys indexes the configured API keys. Keys are sorted first so that
// a key's index, which only tests and debugging ever see, is stable.
func (l *Limiter) addKeys(keys map[string]Tier, tiers map[string]Tier, index map[string]int) error {
	sorted := make([]string, 0, len(keys))
	for k := range keys {
		sorted = append(sorted, k)
	}
	slices.Sort(sorted)
	if len(sorted) > math.MaxUint32-1 {
		return errors.New("ratelimit: too many API keys")
	}
	l.keys = make(map[string]uint32, len(sorted))
	for i, k := range sorted {
		t := keys[k]
		if err := validAPIKey(k); err != nil {
			return fmt.Errorf("ratelimit: API key %d of %d: %w", i+1, len(sorted), err)
		}
		if known, ok := tiers[t.Name]; !ok || known != t {
			return fmt.Errorf("ratelimit: an API key's tier %q is not among the tiers", t.Name)
		}
		l.keys[k] = uint32(i)
		l.keyClients = append(l.keyClients, Client{
			key:   bucketKey{apiKey: uint32(i) + 1},
			tier:  index[t.Name],
			label: apiKeyLabel(k),
		})
	}
	return nil
}

// SetShare tells the limiter how many gateway instances are live (the
// gateway learns it from etcd), n < 1 counting as 1: this instance is
// live even before it sees itself registered. Every bucket then refills
// at rate/n and holds ceil(burst/n) tokens, so that n instances together
// admit about each tier's allowance. Existing buckets are adjusted when
// next used, as from the moment of the change, keeping their tokens up to
// the new burst.
func (l *Limiter) SetShare(n int) {
	n = max(n, 1)
	l.shareMu.Lock()
	defer l.shareMu.Unlock()
	cur := l.share.Load()
	if cur.n == n {
		return
	}
	l.share.Store(l.shareFor(n, cur.gen+1, l.now()))
	l.metrics.share.Set(float64(n))
}

// Share is the live instance count last given to SetShare (1 at first).
func (l *Limiter) Share() int { return l.share.Load().n }

func (l *Limiter) shareFor(n int, gen uint64, at time.Time) *shareState {
	st := &shareState{n: n, gen: gen, at: at}
	for _, t := range l.tiers {
		perSecond := t.PerMinute / 60 / float64(n)
		// Rounding up keeps a burst of at least one token per instance;
		// the cluster then allows up to n-1 more than the tier's burst,
		// a price worth paying over refusing a tier outright.
		burst := (t.Burst + n - 1) / n
		st.limits = append(st.limits, rate.Limit(perSecond))
		st.bursts = append(st.bursts, burst)
		st.idle = max(st.idle, tokensDuration(float64(burst), rate.Limit(perSecond)))
	}
	return st
}

// tokenEpsilon is far below one token and far above float64 noise in a
// token count of up to maxBurst.
const tokenEpsilon = 1e-6

// Decision is the outcome of charging a client one request. The figures
// are for the cluster, as the client sees it (see the package doc).
type Decision struct {
	// Allowed is false when the client's bucket had no token left.
	Allowed bool
	// Tier is the name of the client's tier.
	Tier string
	// Limit is the tier's burst: the most requests a client can make at
	// once, cluster-wide.
	Limit int
	// Remaining is the client's tokens on this instance times the share,
	// rounded down and at most Limit; 0 when this instance would refuse
	// the next request now.
	Remaining int
	// Reset is how long until the bucket is full again if unused.
	Reset time.Duration
	// RetryAfter, when !Allowed, is how long until one token is there.
	RetryAfter time.Duration
	// At is when the decision was taken (the limiter's clock).
	At time.Time
}

// Allow charges c one request and says whether it may proceed. It takes
// one shard lock and allocates nothing for a client it already knows.
func (l *Limiter) Allow(c Client) Decision {
	s := &l.shards[shardIndex(c.key, l.seed, l.mask)]
	s.mu.Lock()
	// Time and share are read under the lock, so that within a shard both
	// only move forward: a bucket never sees an older share than it has
	// (SetShare's generations only grow) nor a clock behind its last use,
	// which rate.Limiter would count as refill twice.
	now := l.now()
	st := l.share.Load()
	idleEvicted := s.evictIdle(now, st.idle)
	capEvicted, added := 0, false
	b := s.buckets[c.key]
	switch {
	case b == nil:
		if len(s.buckets) >= s.cap {
			s.remove(s.oldest())
			capEvicted = 1
		}
		b = &bucket{key: c.key, tier: c.tier, gen: st.gen,
			lim: rate.NewLimiter(st.limits[c.tier], st.bursts[c.tier])}
		s.buckets[c.key] = b
		s.pushFront(b)
		added = true
	case b.gen != st.gen:
		// As from the moment of the change, or from the bucket's last use
		// if that came later (it read the clock just before the change):
		// never before it, which would refill twice.
		at := st.at
		if at.Before(b.lastUsed) {
			at = b.lastUsed
		}
		b.lim.SetLimitAt(at, st.limits[b.tier])
		b.lim.SetBurstAt(at, st.bursts[b.tier])
		b.gen = st.gen
	}
	ok := b.lim.AllowN(now, 1)
	tokens := b.lim.TokensAt(now)
	s.touch(b, now)
	s.mu.Unlock()

	l.metrics.record(c.tier, ok, added, idleEvicted, capEvicted)
	return l.decide(c.tier, st, ok, tokens, now)
}

func (l *Limiter) decide(tier int, st *shareState, ok bool, tokens float64, now time.Time) Decision {
	t := l.tiers[tier]
	limit, burst := st.limits[tier], st.bursts[tier]
	d := Decision{
		Allowed: ok,
		Tier:    t.Name,
		Limit:   t.Burst,
		Reset:   tokensDuration(float64(burst)-tokens, limit),
		At:      now,
	}
	// tokens >= 1 is exactly rate.Limiter's test for the next request.
	// The epsilon absorbs float noise in refilled tokens (19.999999999999996
	// is 20), which would otherwise show one less than there is.
	if tokens >= 1 {
		d.Remaining = min(int(math.Floor(tokens*float64(st.n)+tokenEpsilon)), t.Burst)
	}
	if !ok {
		d.RetryAfter = tokensDuration(1-tokens, limit)
	}
	return d
}

// tokensDuration is how long limit takes to add tokens, to the nearest
// nanosecond. Not rounded up: float noise (1/(10/60) is 6.000000000000001)
// would otherwise turn a 6 s wait into a 7 s header.
func tokensDuration(tokens float64, limit rate.Limit) time.Duration {
	if tokens <= 0 {
		return 0
	}
	d := math.Round(tokens / float64(limit) * float64(time.Second))
	if d >= math.MaxInt64 {
		return math.MaxInt64
	}
	return time.Duration(d)
}

// Len is the number of buckets held, after dropping the idle ones.
func (l *Limiter) Len() int {
	total, evicted := 0, 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		evicted += s.evictIdle(l.now(), l.share.Load().idle)
		total += len(s.buckets)
		s.mu.Unlock()
	}
	l.metrics.swept(evicted)
	return total
}
