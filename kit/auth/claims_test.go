package auth

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/errs"
)

// signRaw signs an arbitrary header and payload with EdDSA, bypassing the
// typed claims, so a test can send what no well-behaved issuer would: a
// string exp, a crit header, a lifetime of a year.
func signRaw(t *testing.T, priv ed25519.PrivateKey, header, payload map[string]any) string {
	t.Helper()
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	p, err := json.Marshal(payload)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString(h) + "." + base64.RawURLEncoding.EncodeToString(p)
	return in + "." + base64.RawURLEncoding.EncodeToString(ed25519.Sign(priv, []byte(in)))
}

// rawToken builds tokens as signRaw does, starting from a header and
// payload that verify, so each case changes one thing.
type rawToken struct {
	t    *testing.T
	pub  ed25519.PublicKey
	priv ed25519.PrivateKey
	now  time.Time
}

func (r rawToken) header() map[string]any {
	return map[string]any{"alg": "EdDSA", "typ": "JWT", "kid": KeyID(r.pub)}
}

func (r rawToken) payload() map[string]any {
	return map[string]any{
		"iss": Issuer, "sub": user1, "role": RoleCustomer,
		"iat": r.now.Unix(), "exp": r.now.Add(time.Hour).Unix(),
		"jti": "5f0e8a52-0000-4000-8000-00000000000f",
	}
}

// with returns a token whose header and payload are the valid ones with
// the given members replaced; a nil value deletes the member.
func (r rawToken) with(header, payload map[string]any) string {
	h, p := r.header(), r.payload()
	for _, pair := range []struct{ dst, src map[string]any }{{h, header}, {p, payload}} {
		for k, v := range pair.src {
			if v == nil {
				delete(pair.dst, k)
				continue
			}
			pair.dst[k] = v
		}
	}
	return signRaw(r.t, r.priv, h, p)
}

// refusedTokens are tokens signed by the trusted key (pub, priv) that a
// Verifier with default options must refuse as UNAUTHENTICATED: each
// breaks one rule of the token format (see Verify). Several of them were
// accepted before these rules were enforced, and a non-UUID sub even made
// the users service answer 500.
func refusedTokens(t *testing.T, pub ed25519.PublicKey, priv ed25519.PrivateKey) map[string]string {
	t.Helper()
	r := rawToken{t: t, pub: pub, priv: priv, now: time.Now()}
	now := r.now
	claims := func(p map[string]any) string { return r.with(nil, p) }
	header := func(h map[string]any) string { return r.with(h, nil) }

	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	es256 := jwt.NewWithClaims(jwt.SigningMethodES256, jwt.MapClaims(r.payload()))
	es256.Header["kid"] = KeyID(pub)
	es256Token, err := es256.SignedString(ecKey)
	if err != nil {
		t.Fatal(err)
	}

	tokens := map[string]string{
		// sub: the user id, a UUID in canonical form.
		"sub not a UUID":        claims(map[string]any{"sub": "u1"}),
		"sub upper-case UUID":   claims(map[string]any{"sub": "6A1F0C2E-0000-4000-8000-000000000001"}),
		"sub urn UUID":          claims(map[string]any{"sub": "urn:uuid:6a1f0c2e-0000-4000-8000-000000000001"}),
		"sub with a NUL":        claims(map[string]any{"sub": user1 + "\x00"}),
		"sub missing":           claims(map[string]any{"sub": nil}),
		"sub not a string":      claims(map[string]any{"sub": 42}),
		"exp a numeric string":  claims(map[string]any{"exp": "9999999999"}),
		"exp a string":          claims(map[string]any{"exp": "tomorrow"}),
		"exp a boolean":         claims(map[string]any{"exp": true}),
		"exp null":              claims(map[string]any{"exp": json.RawMessage("null")}),
		"exp missing":           claims(map[string]any{"exp": nil}),
		"exp before iat":        claims(map[string]any{"exp": now.Unix() - 10, "iat": now.Unix()}),
		"exp past int64":        claims(map[string]any{"exp": json.RawMessage("1e300")}),
		"iat a numeric string":  claims(map[string]any{"iat": "1700000000"}),
		"iat missing":           claims(map[string]any{"iat": nil}),
		"iat in the future":     claims(map[string]any{"iat": now.Add(5 * time.Minute).Unix(), "exp": now.Add(time.Hour).Unix()}),
		"nbf a numeric string":  claims(map[string]any{"nbf": "1700000000"}),
		"nbf in the future":     claims(map[string]any{"nbf": now.Add(10 * time.Minute).Unix()}),
		"lifetime over 24h":     claims(map[string]any{"exp": now.Add(24*time.Hour + 2*time.Minute).Unix()}),
		"lifetime of a century": claims(map[string]any{"exp": now.AddDate(100, 0, 0).Unix()}),
		"iss wrong":             claims(map[string]any{"iss": "kitshop-evil"}),
		"iss missing":           claims(map[string]any{"iss": nil}),
		// RFC 7519 4.1.3: a token meant for others is refused by a
		// verifier that names no audience of its own.
		"aud present, none configured": claims(map[string]any{"aud": "kitshop-gateway"}),
		"role unknown":                 claims(map[string]any{"role": "superuser"}),
		"role missing":                 claims(map[string]any{"role": nil}),
		"role not a string":            claims(map[string]any{"role": []string{RoleAdmin}}),
		// RFC 7515 4.1.11: no extension is understood here, so any crit
		// header means the token cannot be processed as its issuer meant.
		"crit unknown extension":  header(map[string]any{"crit": []string{"x-kitshop-bound"}, "x-kitshop-bound": true}),
		"crit empty":              header(map[string]any{"crit": []string{}}),
		"crit names a registered": header(map[string]any{"crit": []string{"kid"}}),
		"typ not JWT":             header(map[string]any{"typ": "reset+jwt"}),
		"kid not a string":        header(map[string]any{"kid": 7}),
		"alg Ed25519 spelling":    header(map[string]any{"alg": "Ed25519"}),
		"alg ES256":               es256Token,
	}
	return tokens
}

func TestVerifyRefusesMalformedClaims(t *testing.T) {
	pub, priv := newKey(t)
	v := NewVerifier(StaticKeys(pub))
	r := rawToken{t: t, pub: pub, priv: priv, now: time.Now()}
	// The baseline every refused token departs from does verify, so each
	// refusal below is due to the one thing its case changes.
	if c, err := v.Verify(t.Context(), r.with(nil, nil)); err != nil || c.Subject != user1 {
		t.Fatalf("baseline token: %+v %v", c, err)
	}
	for name, tok := range refusedTokens(t, pub, priv) {
		t.Run(name, func(t *testing.T) {
			_, err := v.Verify(t.Context(), tok)
			wantUnauthenticated(t, err, errs.ReasonUnauth)
			if v.cache.Len() != 1 {
				t.Fatalf("cache holds %d tokens: a refused one was cached", v.cache.Len())
			}
		})
	}
}

// TestVerifyAcceptsEdges: what the rules allow right at their limits.
func TestVerifyAcceptsEdges(t *testing.T) {
	pub, priv := newKey(t)
	v := NewVerifier(StaticKeys(pub))
	r := rawToken{t: t, pub: pub, priv: priv, now: time.Now()}
	now := r.now
	for name, tok := range map[string]string{
		"lifetime exactly 24h":     r.with(nil, map[string]any{"exp": now.Add(24 * time.Hour).Unix()}),
		"iat within clock skew":    r.with(nil, map[string]any{"iat": now.Add(clockSkew / 2).Unix()}),
		"no typ":                   r.with(map[string]any{"typ": nil}, nil),
		"typ lower-case jwt":       r.with(map[string]any{"typ": "jwt"}, nil),
		"admin role":               r.with(nil, map[string]any{"role": RoleAdmin}),
		"nbf in the past":          r.with(nil, map[string]any{"nbf": now.Add(-time.Minute).Unix()}),
		"unknown private claim":    r.with(nil, map[string]any{"x-kitshop-trace": "abc"}),
		"unknown non-crit header":  r.with(map[string]any{"x-kitshop-hint": "abc"}, nil),
		"jti missing (not needed)": r.with(nil, map[string]any{"jti": nil}),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := v.Verify(t.Context(), tok); err != nil {
				t.Fatal(err)
			}
		})
	}

	// NumericDate may be fractional (RFC 7519 section 2). At a fixed
	// instant: iat and exp an hour apart around 2100-01-01.
	fractional := r.with(nil, map[string]any{"iat": json.RawMessage("4102441200.25"), "exp": json.RawMessage("4102444800.5")})
	at := NewVerifier(StaticKeys(pub), withClock(func() time.Time { return time.Unix(4102441300, 0) }))
	if _, err := at.Verify(t.Context(), fractional); err != nil {
		t.Fatalf("fractional NumericDate: %v", err)
	}
}

func TestVerifyAudience(t *testing.T) {
	pub, priv := newKey(t)
	r := rawToken{t: t, pub: pub, priv: priv, now: time.Now()}
	v := NewVerifier(StaticKeys(pub), VerifyAudience("kitshop-products"))
	for name, aud := range map[string]any{
		"missing":      nil,
		"other":        "kitshop-payments",
		"other list":   []string{"kitshop-payments", "kitshop-orders"},
		"empty list":   []string{},
		"not a string": 7,
		"prefix only":  "kitshop-product",
	} {
		t.Run("refuses "+name, func(t *testing.T) {
			p := map[string]any{"aud": aud}
			if aud == nil {
				p = nil
			}
			_, err := v.Verify(t.Context(), r.with(nil, p))
			wantUnauthenticated(t, err, errs.ReasonUnauth)
		})
	}
	for name, aud := range map[string]any{
		"exact":   "kitshop-products",
		"in list": []string{"kitshop-payments", "kitshop-products"},
	} {
		t.Run("accepts "+name, func(t *testing.T) {
			if _, err := v.Verify(t.Context(), r.with(nil, map[string]any{"aud": aud})); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestVerifyMaxLifetime(t *testing.T) {
	pub, priv := newKey(t)
	r := rawToken{t: t, pub: pub, priv: priv, now: time.Now()}
	v := NewVerifier(StaticKeys(pub), MaxTokenLifetime(2*time.Hour))
	exp := func(d time.Duration) string {
		return r.with(nil, map[string]any{"exp": r.now.Add(d).Unix()})
	}
	if _, err := v.Verify(t.Context(), exp(2*time.Hour)); err != nil {
		t.Fatalf("lifetime at the maximum: %v", err)
	}
	_, err := v.Verify(t.Context(), exp(2*time.Hour+time.Second))
	wantUnauthenticated(t, err, errs.ReasonUnauth)
	if msg := errs.As(err).Message; msg != "invalid token" {
		t.Fatalf("message %q", msg)
	}
}

// TestVerifierOptionZeroValues: the zero values a flag would pass mean
// "the default", never "no check".
func TestVerifierOptionZeroValues(t *testing.T) {
	pub, priv := newKey(t)
	r := rawToken{t: t, pub: pub, priv: priv, now: time.Now()}
	v := NewVerifier(StaticKeys(pub), VerifyAudience(""), MaxTokenLifetime(0), MaxTokenLifetime(-time.Hour))
	if _, err := v.Verify(t.Context(), r.with(nil, map[string]any{"exp": r.now.Add(DefaultMaxTokenLifetime).Unix()})); err != nil {
		t.Fatalf("default lifetime: %v", err)
	}
	_, err := v.Verify(t.Context(), r.with(nil, map[string]any{"exp": r.now.Add(DefaultMaxTokenLifetime + time.Minute).Unix()}))
	wantUnauthenticated(t, err, errs.ReasonUnauth)
	_, err = v.Verify(t.Context(), r.with(nil, map[string]any{"aud": ""}))
	wantUnauthenticated(t, err, errs.ReasonUnauth)
}
