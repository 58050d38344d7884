// Package authtest mints access tokens as the users service does, for
// tests of the services that verify them. It lives beside kit/auth rather
// than in kit/kittest, which kit/auth's own tests import.
package authtest

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
)

// Issuer signs tokens with a fresh Ed25519 key that its Verifier trusts.
type Issuer struct {
	Key      ed25519.PrivateKey
	Verifier *auth.Verifier
}

// NewIssuer returns an Issuer with a key of its own.
func NewIssuer(t testing.TB) *Issuer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &Issuer{Key: key, Verifier: auth.NewVerifier(auth.StaticKeys(pub))}
}

// Token is a valid hour-long access token for sub with role, naming the
// key by its kid as users does.
func (i *Issuer) Token(t testing.TB, sub, role string) string {
	t.Helper()
	now := time.Now()
	// An Ed25519 private key ends with its public key.
	return Mint(t, i.Key, auth.KeyID(ed25519.PublicKey(i.Key[32:])), sub, role, now, now.Add(time.Hour))
}

// Mint signs an access token with any key, kid ("" for none), subject,
// role and lifetime: for tests that forge, expire or misname tokens too.
func Mint(t testing.TB, key ed25519.PrivateKey, kid, sub, role string, iat, exp time.Time) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: sub, Issuer: auth.Issuer, ID: uuid.NewString(),
			IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp),
		},
		Role: role,
	})
	if kid != "" {
		tok.Header["kid"] = kid
	}
	signed, err := tok.SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return signed
}
