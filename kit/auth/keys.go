package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
)

// KeySource supplies the public keys tokens are verified with.
type KeySource interface {
	// Keys returns the candidate keys for a token whose header names kid
	// ("" when it names none). An unknown kid is an Unauthenticated error;
	// failing to obtain keys at all is Unavailable, so that clients are not
	// told to throw away a token that may well be valid.
	Keys(ctx context.Context, kid string) ([]ed25519.PublicKey, error)
}

func unknownKey() error {
	return errs.New(errs.Unauthenticated, errs.ReasonUnauth, "token signed with an unknown key")
}

// StaticKeys is a KeySource of fixed keys: the users service verifying its
// own tokens, or tests. A token without a kid may match any of them.
func StaticKeys(pubs ...ed25519.PublicKey) KeySource {
	s := staticKeys{byID: make(map[string]ed25519.PublicKey, len(pubs))}
	for _, p := range pubs {
		s.byID[KeyID(p)] = p
		s.all = append(s.all, p)
	}
	return s
}

type staticKeys struct {
	byID map[string]ed25519.PublicKey
	all  []ed25519.PublicKey
}

func (s staticKeys) Keys(_ context.Context, kid string) ([]ed25519.PublicKey, error) {
	if kid == "" {
		if len(s.all) == 0 {
			return nil, unknownKey()
		}
		return s.all, nil
	}
	if k, ok := s.byID[kid]; ok {
		return []ed25519.PublicKey{k}, nil
	}
	return nil, unknownKey()
}

// JWKS fetching limits.
const (
	// jwksMinRefetch bounds refetches caused by unknown kids, so a flood
	// of forged tokens cannot turn into a flood of requests to users.
	jwksMinRefetch = 5 * time.Second
	// jwksMaxAge makes a verifier drop a key users stopped publishing
	// (a retired or compromised key) even when no unknown kid shows up.
	jwksMaxAge = 5 * time.Minute
	// jwksFetchTimeout bounds one fetch.
	jwksFetchTimeout = 5 * time.Second
	// jwksMaxBytes bounds the document; a real one is a few hundred bytes.
	jwksMaxBytes = 1 << 20
)

// JWKSFromURL is a KeySource that fetches a JWKS document over HTTP and
// caches it. url is asked for the address on every fetch, so the caller
// can resolve a users instance through discovery; client nil means
// http.DefaultClient.
//
// The cache is refetched when a token names a kid it does not hold (a key
// rotation), at most once every few seconds, and when it is older than a
// few minutes. A failed fetch keeps the keys already known.
func JWKSFromURL(url func(ctx context.Context) (string, error), client *http.Client) KeySource {
	if client == nil {
		client = http.DefaultClient
	}
	return &jwksSource{url: url, client: client, now: time.Now}
}

type jwksSource struct {
	url    func(ctx context.Context) (string, error)
	client *http.Client
	now    func() time.Time

	// fetchMu serialises fetches; mu guards the cache so lookups of known
	// keys never wait for a fetch in progress.
	fetchMu sync.Mutex
	mu      sync.RWMutex
	keys    map[string]ed25519.PublicKey
	fetched time.Time // last successful fetch
	tried   time.Time // last attempt, successful or not
	lastErr error
}

func (s *jwksSource) Keys(ctx context.Context, kid string) ([]ed25519.PublicKey, error) {
	if keys, ok := s.lookup(kid, true); ok {
		return keys, nil
	}
	s.fetchMu.Lock()
	defer s.fetchMu.Unlock()
	// Another caller may have fetched while this one waited.
	if keys, ok := s.lookup(kid, true); ok {
		return keys, nil
	}
	s.mu.RLock()
	recent := !s.tried.IsZero() && s.now().Sub(s.tried) < jwksMinRefetch
	s.mu.RUnlock()
	if !recent {
		s.refresh(ctx)
	}
	// Stale keys are better than none while users is unreachable.
	if keys, ok := s.lookup(kid, false); ok {
		return keys, nil
	}
	s.mu.RLock()
	lastErr := s.lastErr
	s.mu.RUnlock()
	if lastErr != nil {
		// The kid may belong to a rotation this verifier cannot see yet:
		// the token is not known to be bad.
		return nil, errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, lastErr, "token signing keys are unavailable")
	}
	return nil, unknownKey()
}

// lookup finds kid in the cache; fresh requires the cache to be younger
// than jwksMaxAge.
func (s *jwksSource) lookup(kid string, fresh bool) ([]ed25519.PublicKey, bool) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.keys == nil || (fresh && s.now().Sub(s.fetched) >= jwksMaxAge) {
		return nil, false
	}
	if kid == "" {
		all := make([]ed25519.PublicKey, 0, len(s.keys))
		for _, k := range s.keys {
			all = append(all, k)
		}
		// A stable order keeps verification deterministic.
		slices.SortFunc(all, func(a, b ed25519.PublicKey) int { return slices.Compare(a, b) })
		return all, len(all) > 0
	}
	k, ok := s.keys[kid]
	if !ok {
		return nil, false
	}
	return []ed25519.PublicKey{k}, true
}

func (s *jwksSource) refresh(ctx context.Context) {
	keys, err := s.fetch(ctx)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tried = s.now()
	s.lastErr = err
	if err == nil {
		s.keys, s.fetched = keys, s.tried
	}
}

func (s *jwksSource) fetch(ctx context.Context) (map[string]ed25519.PublicKey, error) {
	// The result serves every caller, so one caller giving up (a client
	// disconnecting) must not fail the fetch and poison the cache for the
	// refetch interval; the fetch has its own bound instead.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), jwksFetchTimeout)
	defer cancel()
	url, err := s.url(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: resolving the JWKS URL: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		return nil, fmt.Errorf("auth: fetching JWKS from %s: status %d", url, resp.StatusCode)
	}
	var set JWKS
	if err := json.NewDecoder(io.LimitReader(resp.Body, jwksMaxBytes)).Decode(&set); err != nil {
		return nil, fmt.Errorf("auth: decoding JWKS from %s: %w", url, err)
	}
	return set.keyMap()
}
