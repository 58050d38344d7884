package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
)

// issuer mints access tokens the way the users service does, with a key
// the verifier it hands out trusts.
type issuer struct {
	key      ed25519.PrivateKey
	verifier *auth.Verifier
}

func newIssuer(t testing.TB) *issuer {
	t.Helper()
	pub, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return &issuer{key: key, verifier: auth.NewVerifier(auth.StaticKeys(pub))}
}

func (i *issuer) token(t testing.TB, role string) string {
	t.Helper()
	now := time.Now()
	claims := auth.Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Subject: uuid.NewString(), Issuer: auth.Issuer,
			IssuedAt: jwt.NewNumericDate(now), ExpiresAt: jwt.NewNumericDate(now.Add(time.Hour)),
		},
		Role: role,
	}
	s, err := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claims).SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
