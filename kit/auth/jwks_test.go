package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
)

// jwksServer is a users-like JWKS endpoint whose key set can be rotated
// and which can be taken down.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []ed25519.PublicKey
	down    bool
	fetches atomic.Int32
}

func newJWKSServer(t *testing.T, keys ...ed25519.PublicKey) *jwksServer {
	s := &jwksServer{keys: keys}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.fetches.Add(1)
		s.mu.Lock()
		keys, down := s.keys, s.down
		s.mu.Unlock()
		if down {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		JWKSHandler(keys...).ServeHTTP(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) set(down bool, keys ...ed25519.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.down = keys, down
}

func newJWKSSource(t *testing.T, srv *jwksServer) (*jwksSource, *kittest.Clock) {
	t.Helper()
	clock := kittest.NewClock(time.Unix(1_700_000_000, 0))
	src, err := typedSource(JWKSFromURL(func(context.Context) (string, error) { return srv.URL + "/.well-known/jwks.json", nil }, srv.Client()))
	if err != nil {
		t.Fatal(err)
	}
	src.now = clock.Now
	return src, clock
}

func typedSource(ks KeySource) (*jwksSource, error) {
	s, ok := ks.(*jwksSource)
	if !ok {
		return nil, errors.New("JWKSFromURL did not return a *jwksSource")
	}
	return s, nil
}

func TestJWKSFetchCacheAndRotation(t *testing.T) {
	pubA, privA := newKey(t)
	pubB, privB := newKey(t)
	srv := newJWKSServer(t, pubA)
	src, clock := newJWKSSource(t, srv)
	v := NewVerifier(src)
	ctx := t.Context()

	if _, err := v.Verify(ctx, sign(t, privA, claimsFor(user1, RoleCustomer))); err != nil {
		t.Fatalf("key A: %v", err)
	}
	if _, err := v.Verify(ctx, sign(t, privA, claimsFor(user2, RoleCustomer))); err != nil {
		t.Fatalf("key A again: %v", err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d, want 1 (cached)", n)
	}

	// users rotates to B, still publishing A for tokens in flight.
	srv.set(false, pubA, pubB)
	clock.Advance(10 * time.Second)
	if _, err := v.Verify(ctx, sign(t, privB, claimsFor(user3, RoleAdmin))); err != nil {
		t.Fatalf("rotated key B: %v", err)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (refetch on unknown kid)", n)
	}

	// Forged tokens with unknown kids do not hammer users: at most one
	// refetch per interval.
	_, privX := newKey(t)
	for range 5 {
		_, err := v.Verify(ctx, sign(t, privX, claimsFor(user4, RoleAdmin)))
		wantUnauthenticated(t, err, errs.ReasonUnauth)
	}
	if n := srv.fetches.Load(); n != 2 {
		t.Fatalf("fetches = %d, want 2 (unknown kids within the refetch interval)", n)
	}
	clock.Advance(jwksMinRefetch)
	_, err := v.Verify(ctx, sign(t, privX, claimsFor(user4, RoleAdmin)))
	wantUnauthenticated(t, err, errs.ReasonUnauth)
	if n := srv.fetches.Load(); n != 3 {
		t.Fatalf("fetches = %d, want 3 (interval passed)", n)
	}

	// A retired key disappears once the cache ages out.
	srv.set(false, pubB)
	clock.Advance(jwksMaxAge)
	_, err = v.Verify(ctx, sign(t, privA, claimsFor(user5, RoleCustomer)))
	wantUnauthenticated(t, err, errs.ReasonUnauth)
	if _, err := v.Verify(ctx, sign(t, privB, claimsFor(user6, RoleCustomer))); err != nil {
		t.Fatalf("key B after refresh: %v", err)
	}
}

func TestJWKSUnavailable(t *testing.T) {
	pubA, privA := newKey(t)
	srv := newJWKSServer(t, pubA)
	src, clock := newJWKSSource(t, srv)
	v := NewVerifier(src)
	ctx := t.Context()
	if _, err := v.Verify(ctx, sign(t, privA, claimsFor(user1, RoleCustomer))); err != nil {
		t.Fatal(err)
	}

	// users goes down: known keys keep working, even past the max age.
	srv.set(true, pubA)
	clock.Advance(jwksMaxAge + time.Second)
	if _, err := v.Verify(ctx, sign(t, privA, claimsFor(user1, RoleCustomer))); err != nil {
		t.Fatalf("cached key while users is down: %v", err)
	}
	// An unknown kid cannot be judged: Unavailable, not 401.
	_, privB := newKey(t)
	_, err := v.Verify(ctx, sign(t, privB, claimsFor(user1, RoleCustomer)))
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("unknown kid while users is down: %v", err)
	}

	// Discovery failing is Unavailable too, and its cause stays internal.
	failing := NewVerifier(JWKSFromURL(func(context.Context) (string, error) {
		return "", errors.New("no users instance registered")
	}, nil))
	_, err = failing.Verify(ctx, sign(t, privA, claimsFor(user1, RoleCustomer)))
	if e := errs.As(err); e.Kind != errs.Unavailable || e.Message != "token signing keys are unavailable" {
		t.Fatalf("discovery failure: %v", err)
	}
}

func TestJWKSConcurrentVerify(t *testing.T) {
	pub, priv := newKey(t)
	srv := newJWKSServer(t, pub)
	v := NewVerifier(JWKSFromURL(func(context.Context) (string, error) { return srv.URL, nil }, srv.Client()))
	tok := sign(t, priv, claimsFor(user1, RoleCustomer))
	var wg sync.WaitGroup
	errc := make(chan error, 20)
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := v.Verify(context.Background(), tok); err != nil {
				errc <- err
			}
		}()
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("20 concurrent first verifications fetched %d times, want 1", n)
	}
}

// TestJWKSFetchSurvivesCallerCancel: the fetch serves every caller, so a
// caller that has already given up must not fail it for the others.
func TestJWKSFetchSurvivesCallerCancel(t *testing.T) {
	pub, priv := newKey(t)
	srv := newJWKSServer(t, pub)
	src, _ := newJWKSSource(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := src.Keys(ctx, KeyID(pub)); err != nil {
		t.Fatalf("fetch with a cancelled caller: %v", err)
	}
	if _, err := NewVerifier(src).Verify(t.Context(), sign(t, priv, claimsFor(user1, RoleCustomer))); err != nil {
		t.Fatal(err)
	}
	if n := srv.fetches.Load(); n != 1 {
		t.Fatalf("fetches = %d", n)
	}
}
