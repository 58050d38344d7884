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

// jwksServer is a users-like JWKS endpoint whose key set can be rotated,
// which can be taken down, and whose answers can be held back.
type jwksServer struct {
	*httptest.Server
	mu      sync.Mutex
	keys    []ed25519.PublicKey
	down    bool
	gate    chan struct{} // when set, each answer waits for it to close
	fetches atomic.Int32
	started chan struct{} // receives (without blocking) when a request arrives
}

func newJWKSServer(t *testing.T, keys ...ed25519.PublicKey) *jwksServer {
	s := &jwksServer{keys: keys, started: make(chan struct{}, 100)}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *jwksServer) serve(w http.ResponseWriter, r *http.Request) {
	s.fetches.Add(1)
	select {
	case s.started <- struct{}{}:
	default:
	}
	s.mu.Lock()
	keys, down, gate := s.keys, s.down, s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	if down {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	JWKSHandler(keys...).ServeHTTP(w, r)
}

func (s *jwksServer) set(down bool, keys ...ed25519.PublicKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys, s.down = keys, down
}

// hold makes answers wait until the returned release is called.
func (s *jwksServer) hold(t *testing.T) (release func()) {
	gate := make(chan struct{})
	s.mu.Lock()
	s.gate = gate
	s.mu.Unlock()
	var once sync.Once
	release = func() { once.Do(func() { close(gate) }) }
	t.Cleanup(release)
	return release
}

// newJWKSSource is JWKSFromURL on srv with a fake clock. Its cleanup waits
// for background fetches, so none outlives the test.
func newJWKSSource(t *testing.T, srv *jwksServer, opts ...JWKSOption) (*jwksSource, *kittest.Clock) {
	t.Helper()
	clock := kittest.NewClock(time.Unix(1_700_000_000, 0))
	opts = append([]JWKSOption{jwksClock(clock.Now)}, opts...)
	src, err := typedSource(JWKSFromURL(func(context.Context) (string, error) { return srv.URL + "/.well-known/jwks.json", nil }, srv.Client(), opts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.running.Wait)
	return src, clock
}

func typedSource(ks KeySource) (*jwksSource, error) {
	s, ok := ks.(*jwksSource)
	if !ok {
		return nil, errors.New("JWKSFromURL did not return a *jwksSource")
	}
	return s, nil
}

func wantFetches(t *testing.T, srv *jwksServer, want int32, why string) {
	t.Helper()
	if n := srv.fetches.Load(); n != want {
		t.Fatalf("fetches = %d, want %d (%s)", n, want, why)
	}
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
	wantFetches(t, srv, 1, "cached")

	// users rotates to B, still publishing A for tokens in flight.
	srv.set(false, pubA, pubB)
	clock.Advance(10 * time.Second)
	if _, err := v.Verify(ctx, sign(t, privB, claimsFor(user3, RoleAdmin))); err != nil {
		t.Fatalf("rotated key B: %v", err)
	}
	wantFetches(t, srv, 2, "refetch on an unknown kid")

	// Forged tokens with unknown kids do not hammer users: at most one
	// refetch per interval.
	_, privX := newKey(t)
	clock.Advance(DefaultJWKSMinRefetch)
	for range 5 {
		_, err := v.Verify(ctx, sign(t, privX, claimsFor(user4, RoleAdmin)))
		wantUnauthenticated(t, err, errs.ReasonUnauth)
	}
	wantFetches(t, srv, 3, "one refetch for five unknown kids within the interval")
	clock.Advance(DefaultJWKSMinRefetch - time.Millisecond)
	_, err := v.Verify(ctx, sign(t, privX, claimsFor(user4, RoleAdmin)))
	wantUnauthenticated(t, err, errs.ReasonUnauth)
	wantFetches(t, srv, 3, "interval not yet passed")
	clock.Advance(time.Millisecond)
	_, err = v.Verify(ctx, sign(t, privX, claimsFor(user4, RoleAdmin)))
	wantUnauthenticated(t, err, errs.ReasonUnauth)
	wantFetches(t, srv, 4, "interval passed")
}

// TestJWKSRetiredKeyStopsWithinRefreshInterval: once users stops
// publishing a key, its tokens, cached ones included, stop verifying
// within the refresh interval, whether or not traffic kept the cache warm.
func TestJWKSRetiredKeyStopsWithinRefreshInterval(t *testing.T) {
	for _, traffic := range []bool{true, false} {
		name := map[bool]string{true: "steady traffic", false: "idle"}[traffic]
		t.Run(name, func(t *testing.T) {
			pubA, privA := newKey(t)
			pubB, _ := newKey(t)
			srv := newJWKSServer(t, pubA, pubB)
			src, clock := newJWKSSource(t, srv)
			v := NewVerifier(src)
			token := sign(t, privA, claimsFor(user1, RoleCustomer))
			if _, err := v.Verify(t.Context(), token); err != nil {
				t.Fatal(err)
			}
			fetchedAt := clock.Now()
			srv.set(false, pubB) // A is retired just after the fetch

			accepted := time.Duration(0)
			for clock.Now().Sub(fetchedAt) <= DefaultJWKSRefreshInterval {
				if traffic || clock.Now().Sub(fetchedAt) == DefaultJWKSRefreshInterval {
					_, err := v.Verify(t.Context(), token)
					src.running.Wait() // let a background refresh land
					if err != nil {
						wantUnauthenticated(t, err, errs.ReasonUnauth)
						break
					}
					accepted = clock.Now().Sub(fetchedAt)
				}
				clock.Advance(time.Second)
			}
			if _, err := v.Verify(t.Context(), token); errs.KindOf(err) != errs.Unauthenticated {
				t.Fatalf("retired key still accepted after %v: %v", clock.Now().Sub(fetchedAt), err)
			}
			if accepted >= DefaultJWKSRefreshInterval {
				t.Fatalf("retired key accepted %v after the fetch", accepted)
			}
			// Under traffic, the background refresh at half the interval
			// is what retires the key: no request waited for a fetch.
			if traffic && accepted != DefaultJWKSRefreshInterval/2 {
				t.Fatalf("retired key last accepted at %v, want %v (background refresh)", accepted, DefaultJWKSRefreshInterval/2)
			}
			wantFetches(t, srv, 2, "one refresh")
		})
	}
}

// TestJWKSBackgroundRefreshDoesNotBlock: past half the refresh interval,
// a request is answered from the cache while a refresh runs.
func TestJWKSBackgroundRefreshDoesNotBlock(t *testing.T) {
	pub, priv := newKey(t)
	srv := newJWKSServer(t, pub)
	src, clock := newJWKSSource(t, srv)
	v := NewVerifier(src)
	token := sign(t, priv, claimsFor(user1, RoleCustomer))
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatal(err)
	}
	release := srv.hold(t)
	clock.Advance(DefaultJWKSRefreshInterval / 2)
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatalf("verify during a background refresh: %v", err)
	}
	<-srv.started // the refresh did start, and is still held
	for range 3 { // more requests neither wait nor start another fetch
		if _, err := v.Verify(t.Context(), token); err != nil {
			t.Fatal(err)
		}
	}
	release()
	src.running.Wait()
	wantFetches(t, srv, 2, "one background refresh")
}

func TestJWKSUnavailable(t *testing.T) {
	pubA, privA := newKey(t)
	srv := newJWKSServer(t, pubA)
	src, clock := newJWKSSource(t, srv)
	v := NewVerifier(src)
	ctx := t.Context()
	token := sign(t, privA, claimsFor(user1, RoleCustomer))
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatal(err)
	}

	// users goes down: known keys keep working past the refresh interval.
	srv.set(true, pubA)
	clock.Advance(DefaultJWKSRefreshInterval)
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("cached key while users is down: %v", err)
	}
	wantFetches(t, srv, 2, "the overdue refresh was tried")
	// Retries are spaced, and run in the background.
	for range 3 {
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
	}
	wantFetches(t, srv, 2, "no retry within the interval")
	clock.Advance(DefaultJWKSMinRefetch)
	release := srv.hold(t)
	if _, err := v.Verify(ctx, token); err != nil {
		t.Fatalf("stale key during a held retry: %v", err)
	}
	release()
	src.running.Wait()
	wantFetches(t, srv, 3, "one retry after the interval")

	// An unknown kid cannot be judged: Unavailable, not 401.
	_, privB := newKey(t)
	clock.Advance(DefaultJWKSMinRefetch)
	_, err := v.Verify(ctx, sign(t, privB, claimsFor(user1, RoleCustomer)))
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("unknown kid while users is down: %v", err)
	}
	// ...and not this service's failure: forged tokens with made-up kids
	// must not open its callers' breakers.
	if errs.IsInfrastructure(err) {
		t.Fatalf("keys unavailable counts against the verifying service: %v", err)
	}

	// users is back, rotated to B: the next retry picks it up and A is
	// gone.
	pubB := privB.Public().(ed25519.PublicKey)
	srv.set(false, pubB)
	clock.Advance(DefaultJWKSMinRefetch)
	if _, err := v.Verify(ctx, sign(t, privB, claimsFor(user2, RoleCustomer))); err != nil {
		t.Fatalf("key B once users is back: %v", err)
	}
	if _, err := v.Verify(ctx, token); errs.KindOf(err) != errs.Unauthenticated {
		t.Fatalf("retired key A once users is back: %v", err)
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

// TestJWKSFirstFetchFailureIsNotRetriedPerRequest: with no keys yet and
// users unreachable, requests get Unavailable at once until a retry is
// due, instead of each one waiting for its own fetch.
func TestJWKSFirstFetchFailureIsNotRetriedPerRequest(t *testing.T) {
	pub, priv := newKey(t)
	srv := newJWKSServer(t)
	srv.set(true)
	src, clock := newJWKSSource(t, srv)
	v := NewVerifier(src)
	token := sign(t, priv, claimsFor(user1, RoleCustomer))
	for range 5 {
		if _, err := v.Verify(t.Context(), token); errs.KindOf(err) != errs.Unavailable {
			t.Fatalf("users down, no keys yet: %v", err)
		}
	}
	wantFetches(t, srv, 1, "one attempt")
	srv.set(false, pub)
	clock.Advance(DefaultJWKSMinRefetch)
	if _, err := v.Verify(t.Context(), token); err != nil {
		t.Fatalf("after users came up: %v", err)
	}
	wantFetches(t, srv, 2, "one retry")
}

func TestJWKSConcurrentVerify(t *testing.T) {
	pub, priv := newKey(t)
	srv := newJWKSServer(t, pub)
	src, _ := newJWKSSource(t, srv)
	v := NewVerifier(src)
	tok := sign(t, priv, claimsFor(user1, RoleCustomer))
	release := srv.hold(t)
	errc := runConcurrently(20, func() error { _, err := v.Verify(context.Background(), tok); return err }, func() {
		<-srv.started
		release()
	})
	for err := range errc {
		t.Fatal(err)
	}
	wantFetches(t, srv, 1, "20 concurrent first verifications share one fetch")
}

// TestJWKSUnknownKidFloodSharesOneFetch: concurrent tokens naming random
// kids cause one fetch between them, however many arrive while it runs.
func TestJWKSUnknownKidFloodSharesOneFetch(t *testing.T) {
	pub, priv := newKey(t)
	srv := newJWKSServer(t, pub)
	src, clock := newJWKSSource(t, srv)
	v := NewVerifier(src)
	if _, err := v.Verify(t.Context(), sign(t, priv, claimsFor(user1, RoleCustomer))); err != nil {
		t.Fatal(err)
	}
	clock.Advance(DefaultJWKSMinRefetch)
	forged := make([]string, 50)
	for i := range forged {
		_, p := newKey(t)
		forged[i] = sign(t, p, claimsFor(user1, RoleAdmin))
	}
	var next atomic.Int32
	release := srv.hold(t)
	errc := runConcurrently(len(forged), func() error {
		_, err := v.Verify(context.Background(), forged[next.Add(1)-1])
		if errs.KindOf(err) != errs.Unauthenticated {
			return err
		}
		return nil
	}, func() {
		<-srv.started
		release()
	})
	for err := range errc {
		t.Fatalf("forged token: %v", err)
	}
	wantFetches(t, srv, 2, "one fetch for 50 unknown kids")
}

// runConcurrently runs f n times at once, calls between while they run,
// and returns the non-nil errors once all have finished.
func runConcurrently(n int, f func() error, between func()) <-chan error {
	var wg sync.WaitGroup
	errc := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil {
				errc <- err
			}
		}()
	}
	between()
	wg.Wait()
	close(errc)
	return errc
}

// TestJWKSWaitHonoursCallerContext: a caller waiting for a fetch leaves
// when its own context ends, with that context's error (not a 401), and
// the fetch still lands for everyone else.
func TestJWKSWaitHonoursCallerContext(t *testing.T) {
	pub, priv := newKey(t)
	srv := newJWKSServer(t, pub)
	src, _ := newJWKSSource(t, srv)
	release := srv.hold(t)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		<-srv.started
		cancel()
	}()
	_, err := NewVerifier(src).Verify(ctx, sign(t, priv, claimsFor(user1, RoleCustomer)))
	if errs.KindOf(err) != errs.Canceled {
		t.Fatalf("caller gave up: %v, want Canceled", err)
	}
	release()
	src.running.Wait()
	if _, err := NewVerifier(src).Verify(t.Context(), sign(t, priv, claimsFor(user1, RoleCustomer))); err != nil {
		t.Fatal(err)
	}
	wantFetches(t, srv, 1, "the abandoned fetch served the next caller")
}

// TestJWKSFetchSurvivesCallerCancel: the fetch serves every caller, so a
// caller that has already given up must not fail it for the others.
func TestJWKSFetchSurvivesCallerCancel(t *testing.T) {
	pub, priv := newKey(t)
	srv := newJWKSServer(t, pub)
	src, _ := newJWKSSource(t, srv)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, _ = src.Keys(ctx, KeyID(pub))
	src.running.Wait()
	if _, err := NewVerifier(src).Verify(t.Context(), sign(t, priv, claimsFor(user1, RoleCustomer))); err != nil {
		t.Fatal(err)
	}
	wantFetches(t, srv, 1, "the cancelled caller's fetch was kept")
}

// TestJWKSNoGoroutineOutlivesFetches: background refreshes end with their
// fetch.
func TestJWKSNoGoroutineOutlivesFetches(t *testing.T) {
	kittest.CheckGoroutines(t)
	pub, priv := newKey(t)
	srv := newJWKSServer(t, pub)
	src, clock := newJWKSSource(t, srv)
	v := NewVerifier(src)
	token := sign(t, priv, claimsFor(user1, RoleCustomer))
	for range 10 {
		if _, err := v.Verify(t.Context(), token); err != nil {
			t.Fatal(err)
		}
		clock.Advance(DefaultJWKSRefreshInterval / 2)
	}
	src.running.Wait()
	srv.CloseClientConnections()
}

// TestJWKSDefaults pins the promises made in the README: a retired key
// stops within a minute, a fetch never holds a request for 2 s.
func TestJWKSDefaults(t *testing.T) {
	cfg := newJWKSConfig(nil)
	if cfg.refreshInterval > time.Minute {
		t.Errorf("refresh interval %v, promised at most 1m", cfg.refreshInterval)
	}
	if cfg.fetchTimeout >= 2*time.Second {
		t.Errorf("fetch timeout %v, promised under 2s", cfg.fetchTimeout)
	}
	if cfg.minRefetch < time.Second || cfg.minRefetch >= cfg.refreshInterval/2 {
		t.Errorf("min refetch %v: must space fetches, yet leave room for the background refresh", cfg.minRefetch)
	}
	if cfg.maxBytes > 1<<20 {
		t.Errorf("max bytes %d", cfg.maxBytes)
	}
	for name, opt := range map[string]JWKSOption{
		"zero interval": JWKSRefreshInterval(0), "zero refetch": JWKSMinRefetch(-1),
		"zero timeout": JWKSFetchTimeout(0), "zero bytes": JWKSMaxBytes(0), "nil logger": JWKSLogger(nil),
	} {
		if got := newJWKSConfig([]JWKSOption{opt}); got.refreshInterval != cfg.refreshInterval || got.minRefetch != cfg.minRefetch ||
			got.fetchTimeout != cfg.fetchTimeout || got.maxBytes != cfg.maxBytes || got.logger == nil {
			t.Errorf("%s changed the defaults", name)
		}
	}
}
