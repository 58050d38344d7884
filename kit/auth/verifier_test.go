package auth

import (
	"encoding/base64"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/errs"
)

func TestVerifyValidToken(t *testing.T) {
	pub, priv := newKey(t)
	v := NewVerifier(StaticKeys(pub))
	c, err := v.Verify(t.Context(), sign(t, priv, claimsFor(user1, RoleAdmin)))
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	if c.UserID() != user1 || !c.IsAdmin() || c.Issuer != Issuer {
		t.Fatalf("claims %+v", c)
	}

	// Without a kid, any configured key may match.
	tok := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claimsFor(user2, RoleCustomer))
	s, err := tok.SignedString(priv)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := newKey(t)
	if c, err := NewVerifier(StaticKeys(other, pub)).Verify(t.Context(), s); err != nil || c.Subject != user2 {
		t.Fatalf("kid-less token: %+v %v", c, err)
	}
}

func wantUnauthenticated(t *testing.T, err error, reason string) {
	t.Helper()
	if err == nil {
		t.Fatal("token accepted")
	}
	e := errs.As(err)
	if e.Kind != errs.Unauthenticated || e.Reason != reason || e.HTTPStatus() != 401 {
		t.Fatalf("err = %v (kind %v reason %s), want Unauthenticated %s", err, e.Kind, e.Reason, reason)
	}
}

func TestVerifyRejects(t *testing.T) {
	pub, priv := newKey(t)
	_, wrongPriv := newKey(t)
	v := NewVerifier(StaticKeys(pub))
	mod := func(f func(*Claims)) Claims {
		c := claimsFor(user1, RoleCustomer)
		f(&c)
		return c
	}

	expired := expiredClaimsFor(user1, RoleCustomer)
	// Expired is UNAUTHENTICATED like any bad token (API.md); only the
	// message, which clients see, says why.
	_, err := v.Verify(t.Context(), sign(t, priv, expired))
	wantUnauthenticated(t, err, errs.ReasonUnauth)
	if msg := errs.As(err).Message; msg != "token expired" {
		t.Fatalf("expired token message = %q", msg)
	}

	// Signed by another key but claiming ours as kid.
	forged := jwt.NewWithClaims(jwt.SigningMethodEdDSA, claimsFor(user1, RoleAdmin))
	forged.Header["kid"] = KeyID(pub)
	s, _ := forged.SignedString(wrongPriv)
	_, err = v.Verify(t.Context(), s)
	wantUnauthenticated(t, err, errs.ReasonUnauth)

	// Signed by an unknown key with its own kid.
	_, err = v.Verify(t.Context(), sign(t, wrongPriv, claimsFor(user1, RoleAdmin)))
	wantUnauthenticated(t, err, errs.ReasonUnauth)

	for name, c := range map[string]Claims{
		"wrong issuer":   mod(func(c *Claims) { c.Issuer = "evil" }),
		"no issuer":      mod(func(c *Claims) { c.Issuer = "" }),
		"no subject":     mod(func(c *Claims) { c.Subject = "" }),
		"unknown role":   mod(func(c *Claims) { c.Role = "superuser" }),
		"no role":        mod(func(c *Claims) { c.Role = "" }),
		"no expiry":      mod(func(c *Claims) { c.ExpiresAt = nil }),
		"no issue time":  mod(func(c *Claims) { c.IssuedAt = nil }),
		"issued in 2099": mod(func(c *Claims) { c.IssuedAt = jwt.NewNumericDate(time.Now().Add(time.Hour)) }),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), sign(t, priv, c))
			wantUnauthenticated(t, err, errs.ReasonUnauth)
		})
	}

	for name, tok := range map[string]string{
		"empty":     "",
		"garbage":   "not.a.jwt",
		"two parts": "abc.def",
		"oversized": strings.Repeat("a", maxTokenBytes+1),
	} {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tok)
			wantUnauthenticated(t, err, errs.ReasonUnauth)
		})
	}
}

func TestVerifyRejectsAlgNone(t *testing.T) {
	pub, _ := newKey(t)
	tok := jwt.NewWithClaims(jwt.SigningMethodNone, claimsFor(user1, RoleAdmin))
	tok.Header["kid"] = KeyID(pub)
	s, err := tok.SignedString(jwt.UnsafeAllowNoneSignatureType)
	if err != nil {
		t.Fatal(err)
	}
	_, err = NewVerifier(StaticKeys(pub)).Verify(t.Context(), s)
	wantUnauthenticated(t, err, errs.ReasonUnauth)
}

// TestVerifyRejectsHS256KeyConfusion is the classic attack: sign with
// HMAC using the (public!) verification key as the secret, hoping the
// verifier feeds its key to whatever algorithm the header names.
func TestVerifyRejectsHS256KeyConfusion(t *testing.T) {
	pub, _ := newKey(t)
	for _, secret := range [][]byte{
		[]byte(pub),
		[]byte(base64.RawURLEncoding.EncodeToString(pub)),
	} {
		tok := jwt.NewWithClaims(jwt.SigningMethodHS256, claimsFor(user1, RoleAdmin))
		tok.Header["kid"] = KeyID(pub)
		s, err := tok.SignedString(secret)
		if err != nil {
			t.Fatal(err)
		}
		_, err = NewVerifier(StaticKeys(pub)).Verify(t.Context(), s)
		wantUnauthenticated(t, err, errs.ReasonUnauth)
	}
}

func TestVerifyKeySourceUnavailable(t *testing.T) {
	_, priv := newKey(t)
	_, err := NewVerifier(keysDown()).Verify(t.Context(), sign(t, priv, claimsFor(user1, RoleAdmin)))
	if errs.KindOf(err) != errs.Unavailable {
		t.Fatalf("err = %v, want Unavailable (a valid token must not be called invalid)", err)
	}
}

func TestRequireUserAndAdmin(t *testing.T) {
	ctx := t.Context()
	if _, err := RequireUser(ctx); errs.As(err).HTTPStatus() != 401 {
		t.Fatalf("RequireUser without claims: %v", err)
	}
	if _, err := RequireAdmin(ctx); errs.As(err).HTTPStatus() != 401 {
		t.Fatalf("RequireAdmin without claims: %v", err)
	}
	cust := WithClaims(ctx, claimsFor(user1, RoleCustomer))
	if c, err := RequireUser(cust); err != nil || c.Subject != user1 {
		t.Fatalf("RequireUser: %+v %v", c, err)
	}
	_, err := RequireAdmin(cust)
	if e := errs.As(err); e == nil || e.HTTPStatus() != 403 || e.Reason != errs.ReasonForbidden {
		t.Fatalf("RequireAdmin as customer: %v", err)
	}
	if _, err := RequireAdmin(WithClaims(ctx, claimsFor(admin1, RoleAdmin))); err != nil {
		t.Fatalf("RequireAdmin as admin: %v", err)
	}
	if TokenFrom(ctx) != "" || TokenFrom(WithToken(ctx, "t")) != "t" {
		t.Fatal("token context round trip")
	}
}
