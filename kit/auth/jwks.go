package auth

import (
	"context"
	"crypto/ed25519"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/kit/errs"
)

// JWKSFromURL is a KeySource that fetches the users service's JWKS
// document over HTTP and caches it.
//
// url is asked for the address on every fetch, so the caller can resolve
// a users instance through discovery. client is the HTTP client to fetch
// with; nil means http.DefaultClient. Pass an mTLS client whose TLS
// configuration accepts only a peer certificate naming the users service,
// so that an address planted in the registry cannot serve keys: when
// client's transport is an *http.Transport with a TLSClientConfig, every
// URL must be https, so a plain-http address cannot bypass that check (a
// transport wrapped in another RoundTripper is not inspected: url must
// then return https URLs by itself).
// Redirects are never followed: the keys come from the address url named
// or from nowhere. Each fetch is bounded by JWKSFetchTimeout and its
// document by JWKSMaxBytes.
//
// # Key rotation window
//
// While users' JWKS can be fetched, a key users stops publishing stops
// verifying tokens within JWKSRefreshInterval (default 60 s), cached
// tokens included: a key set older than that is refetched before it is
// used again, and from half that age on, use triggers a background
// refetch, so under steady traffic no request waits for one.
//
// A token naming a kid not in the cache (a new key) triggers a fetch,
// shared by every request waiting for it. Fetches of any cause start at
// most once per JWKSMinRefetch (default 5 s), so tokens naming random
// kids cannot hammer users; within that interval after a fetch an unknown
// kid is refused (401). users should therefore publish a new key before
// it signs with it (ideally JWKSRefreshInterval before).
//
// While the JWKS cannot be fetched, the keys last fetched keep verifying
// (a users outage must not log everyone out); a refetch is retried every
// JWKSMinRefetch, and a token naming an unknown kid is answered 503, not
// 401, as it may well be valid. During such an outage a retired key also
// keeps verifying, until a fetch succeeds.
func JWKSFromURL(url func(ctx context.Context) (string, error), client *http.Client, opts ...JWKSOption) KeySource {
	cfg := newJWKSConfig(opts)
	return &jwksSource{fetcher: newJWKSFetcher(url, client, cfg.maxBytes), cfg: cfg}
}

type jwksSource struct {
	fetcher jwksFetcher
	cfg     jwksConfig

	// current is read without a lock on every request (the fast path);
	// it is replaced, never modified, under mu.
	current atomic.Pointer[snapshot]

	mu       sync.Mutex
	tried    time.Time // when the last fetch started
	lastErr  error     // the last fetch's error; nil once one succeeds
	inFlight *flight   // the fetch under way, shared by every caller
	running  sync.WaitGroup
}

// snapshot is a fetched key set and when the fetch that got it started:
// the keys were published at that moment or later.
type snapshot struct {
	keys    keySet
	fetched time.Time
}

// flight is one fetch; done is closed when its outcome is recorded.
type flight struct{ done chan struct{} }

func (s *jwksSource) Keys(ctx context.Context, kid string) ([]ed25519.PublicKey, error) {
	// Fast path: a known kid in a set young enough to need nothing.
	if snap := s.current.Load(); snap != nil && s.cfg.now().Sub(snap.fetched) < s.cfg.refreshInterval/2 {
		if keys, ok := snap.keys.lookup(kid); ok {
			return keys, nil
		}
	}

	s.mu.Lock()
	keys, found := s.lookup(kid)
	wait := s.planLocked(found)
	s.mu.Unlock()
	if wait != nil {
		select {
		case <-wait.done:
		case <-ctx.Done():
			// The fetch goes on for the others; this caller gave up. Its
			// Canceled or DeadlineExceeded, never a 401 for a token that
			// may be valid.
			return nil, errs.As(ctx.Err())
		}
		keys, found = s.lookup(kid)
	}
	if found {
		return keys, nil
	}
	s.mu.Lock()
	lastErr := s.lastErr
	s.mu.Unlock()
	if lastErr != nil {
		// The kid may belong to a rotation this verifier cannot see yet:
		// the token is not known to be bad. Expected: the keys' source is
		// down, not this service, and anyone can send a token with an
		// unknown kid; counted against this service, a handful of forged
		// tokens would open its callers' breakers.
		return nil, errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, lastErr, "token signing keys are unavailable").AsExpected()
	}
	return nil, unknownKey()
}

// lookup finds kid in the current set, however old.
func (s *jwksSource) lookup(kid string) ([]ed25519.PublicKey, bool) {
	snap := s.current.Load()
	if snap == nil {
		return nil, false
	}
	return snap.keys.lookup(kid)
}

// planLocked starts a fetch when one is due and returns the fetch the
// caller must wait for, or nil when the current set (found says whether
// it holds the kid) is the answer.
func (s *jwksSource) planLocked(found bool) *flight {
	now := s.cfg.now()
	snap := s.current.Load()
	// Apart from a set too old to use, every fetch, whatever its cause,
	// waits for this: at most one per minRefetch reaches users.
	fetchDue := now.Sub(s.tried) >= s.cfg.minRefetch
	switch {
	case found && now.Sub(snap.fetched) < s.cfg.refreshInterval:
		// Usable; past half its age, refresh it before it must be.
		if now.Sub(snap.fetched) >= s.cfg.refreshInterval/2 && fetchDue {
			s.startLocked(now)
		}
		return nil
	case found && s.lastErr != nil:
		// Too old, but users could not be reached last time: the old keys
		// rather than none, and retry in the background.
		if fetchDue {
			s.startLocked(now)
		}
		return nil
	case found:
		// Too old to trust unseen: the fetch decides, due or not (the last
		// one, which succeeded, started at least refreshInterval ago).
		return s.startLocked(now)
	case s.inFlight != nil:
		// A fetch under way may bring the kid.
		return s.inFlight
	case snap == nil:
		// Nothing fetched yet. After a failure, callers get Unavailable
		// at once until a retry is due, rather than each waiting.
		if s.lastErr != nil && !fetchDue {
			return nil
		}
		return s.startLocked(now)
	case fetchDue:
		// An unknown kid: perhaps a new key.
		return s.startLocked(now)
	default:
		// An unknown kid soon after a fetch: the set just fetched is the
		// answer, which a flood of random kids cannot change.
		return nil
	}
}

// startLocked starts a fetch, or returns the one under way.
func (s *jwksSource) startLocked(now time.Time) *flight {
	if s.inFlight != nil {
		return s.inFlight
	}
	f := &flight{done: make(chan struct{})}
	s.inFlight = f
	s.tried = now
	s.running.Add(1)
	// Its own goroutine: the fetch serves every caller, so it must not
	// die with the one that happened to start it (a client disconnecting
	// would fail it for all), and a background refresh has no caller.
	go s.run(f, now)
	return f
}

func (s *jwksSource) run(f *flight, started time.Time) {
	defer s.running.Done()
	keys, err := s.fetcher.fetch(s.cfg.fetchTimeout)
	s.mu.Lock()
	s.lastErr = err
	old := s.current.Load()
	cur := old
	if err == nil {
		cur = &snapshot{keys: indexKeys(keys), fetched: started}
		s.current.Store(cur)
	}
	s.inFlight = nil
	s.mu.Unlock()
	close(f.done)
	s.logOutcome(old, cur, err)
}

// logOutcome reports a failed fetch, and a successful one only when the
// published kids changed, so a steady state logs nothing.
func (s *jwksSource) logOutcome(old, cur *snapshot, err error) {
	if err != nil {
		_ = level.Warn(s.cfg.logger).Log("msg", "fetching token signing keys (JWKS) failed; keeping the keys fetched before", "err", err)
		return
	}
	kids := cur.keys.kids()
	if old == nil || !slices.Equal(old.keys.kids(), kids) {
		_ = level.Info(s.cfg.logger).Log("msg", "token signing keys (JWKS) changed", "kids", strings.Join(kids, ","))
	}
}
