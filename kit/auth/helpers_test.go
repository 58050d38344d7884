package auth

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
)

func newKey(t *testing.T) (ed25519.PublicKey, ed25519.PrivateKey) {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return pub, priv
}

// claimsFor is a valid claim set for sub with role.
func claimsFor(sub, role string) Claims {
	now := time.Now()
	return Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    Issuer,
			Subject:   sub,
			IssuedAt:  jwt.NewNumericDate(now),
			ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Role: role,
	}
}

// expiredClaimsFor is claimsFor(sub, role) as it was two hours ago: it
// expired an hour ago, well past the tolerated clock skew.
func expiredClaimsFor(sub, role string) Claims {
	c := claimsFor(sub, role)
	c.IssuedAt = jwt.NewNumericDate(time.Now().Add(-2 * time.Hour))
	c.ExpiresAt = jwt.NewNumericDate(time.Now().Add(-time.Hour))
	return c
}

// keysDown is a KeySource that cannot reach its keys, as when the users
// service's JWKS is unreachable; the cause names an internal address.
func keysDown() KeySource {
	return keySourceFunc(func(context.Context, string) ([]ed25519.PublicKey, error) {
		return nil, errs.Wrap(errs.Unavailable, errs.ReasonUnavailable, errors.New("dial tcp 10.0.0.7:8081: refused"), "token signing keys are unavailable")
	})
}

type keySourceFunc func(context.Context, string) ([]ed25519.PublicKey, error)

func (f keySourceFunc) Keys(ctx context.Context, kid string) ([]ed25519.PublicKey, error) {
	return f(ctx, kid)
}

// sign issues a token the way the users service does: EdDSA with the
// key's thumbprint as kid.
func sign(t *testing.T, priv ed25519.PrivateKey, c Claims) string {
	t.Helper()
	pub, err := typed.Cast[ed25519.PublicKey](priv.Public())
	if err != nil {
		t.Fatal(err)
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, c)
	tok.Header["kid"] = KeyID(pub)
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Subjects of test tokens: user ids are UUIDs, and a token whose sub is
// anything else is refused.
const (
	user1  = "6a1f0c2e-0000-4000-8000-000000000001"
	user2  = "6a1f0c2e-0000-4000-8000-000000000002"
	user3  = "6a1f0c2e-0000-4000-8000-000000000003"
	user4  = "6a1f0c2e-0000-4000-8000-000000000004"
	user5  = "6a1f0c2e-0000-4000-8000-000000000005"
	user6  = "6a1f0c2e-0000-4000-8000-000000000006"
	admin1 = "6a1f0c2e-0000-4000-8000-0000000000a1"
	admin2 = "6a1f0c2e-0000-4000-8000-0000000000a2"
)
