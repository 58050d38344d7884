package auth

import (
	"context"
	"crypto/ed25519"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/errs"
)

// swappableKeys is a KeySource whose trusted keys a test can change.
type swappableKeys struct {
	mu    sync.Mutex
	inner KeySource
}

func (s *swappableKeys) set(k KeySource) { s.mu.Lock(); s.inner = k; s.mu.Unlock() }

func (s *swappableKeys) Keys(ctx context.Context, kid string) ([]ed25519.PublicKey, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.inner.Keys(ctx, kid)
}

func TestVerifyCacheStillHonoursExpiry(t *testing.T) {
	pub, priv := newKey(t)
	now := time.Now()
	clock := func() time.Time { return now }
	v := NewVerifier(StaticKeys(pub), withClock(clock))
	c := claimsFor(user1, RoleCustomer)
	token := sign(t, priv, c)

	for i := 0; i < 2; i++ { // the second call is served from the cache
		got, err := v.Verify(context.Background(), token)
		if err != nil || got.Subject != user1 {
			t.Fatalf("verify #%d: %+v, %v", i, got, err)
		}
	}
	if v.cache.Len() != 1 {
		t.Fatalf("cache holds %d tokens, want 1", v.cache.Len())
	}
	now = c.ExpiresAt.Add(clockSkew + time.Second)
	_, err := v.Verify(context.Background(), token)
	if e := errs.As(err); e == nil || e.Reason != errs.ReasonUnauth || e.Message != "token expired" {
		t.Fatalf("cached token past expiry: %v", err)
	}
}

func TestVerifyCacheDropsTokensOfUntrustedKeys(t *testing.T) {
	oldPub, oldPriv := newKey(t)
	newPub, _ := newKey(t)
	keys := &swappableKeys{inner: StaticKeys(oldPub)}
	v := NewVerifier(keys)
	token := sign(t, oldPriv, claimsFor(user1, RoleAdmin))
	if _, err := v.Verify(context.Background(), token); err != nil {
		t.Fatal(err)
	}
	keys.set(StaticKeys(newPub)) // the old key is rotated out
	if _, err := v.Verify(context.Background(), token); errs.KindOf(err) != errs.Unauthenticated {
		t.Fatalf("token of a removed key still accepted: %v", err)
	}
}

// TestVerifyCacheDropsKidlessTokensOfUntrustedKeys: a token without a kid
// resolves to every trusted key, so "its kid still resolves" is no proof
// that the key which signed it is still trusted; the cache must check
// the key itself.
func TestVerifyCacheDropsKidlessTokensOfUntrustedKeys(t *testing.T) {
	oldPub, oldPriv := newKey(t)
	newPub, _ := newKey(t)
	keys := &swappableKeys{inner: StaticKeys(newPub, oldPub)}
	v := NewVerifier(keys)
	token, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claimsFor(user1, RoleAdmin)).SignedString(oldPriv)
	if err != nil {
		t.Fatal(err)
	}
	for range 2 { // the second call is served from the cache
		if _, err := v.Verify(context.Background(), token); err != nil {
			t.Fatal(err)
		}
	}
	keys.set(StaticKeys(newPub)) // the old key is rotated out
	if _, err := v.Verify(context.Background(), token); errs.KindOf(err) != errs.Unauthenticated {
		t.Fatalf("kid-less token of a removed key still accepted: %v", err)
	}
}

func TestVerifyCacheNeverStoresFailures(t *testing.T) {
	pub, _ := newKey(t)
	_, otherPriv := newKey(t)
	v := NewVerifier(StaticKeys(pub))
	forged := sign(t, otherPriv, claimsFor(user1, RoleAdmin))
	for i := 0; i < 2; i++ {
		if _, err := v.Verify(context.Background(), forged); errs.KindOf(err) != errs.Unauthenticated {
			t.Fatalf("forged token #%d: %v", i, err)
		}
	}
	if v.cache.Len() != 0 {
		t.Fatal("a rejected token was cached")
	}
}
