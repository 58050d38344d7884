package auth

import (
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestThumbprintRFC8037 checks the kid against the worked example of
// RFC 8037, appendix A.3.
func TestThumbprintRFC8037(t *testing.T) {
	x := "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
	raw, err := base64.RawURLEncoding.DecodeString(x)
	if err != nil {
		t.Fatal(err)
	}
	jwk := PublicJWK(ed25519.PublicKey(raw))
	if jwk.Kid != "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k" {
		t.Fatalf("kid = %s", jwk.Kid)
	}
	if jwk.Kty != "OKP" || jwk.Crv != "Ed25519" || jwk.Alg != "EdDSA" || jwk.Use != "sig" || jwk.X != x {
		t.Fatalf("jwk = %+v", jwk)
	}
	pub, err := jwk.PublicKey()
	if err != nil || !pub.Equal(ed25519.PublicKey(raw)) {
		t.Fatalf("PublicKey: %v", err)
	}
}

func TestJWKRejectsOtherKeys(t *testing.T) {
	pub, _ := newKey(t)
	good := PublicJWK(pub)
	for name, k := range map[string]JWK{
		"rsa":        {Kty: "RSA", Kid: "r"},
		"x25519":     {Kty: "OKP", Crv: "X25519", X: good.X},
		"encryption": func() JWK { k := good; k.Use = "enc"; return k }(),
		"other alg":  func() JWK { k := good; k.Alg = "ES256"; return k }(),
		"bad base64": func() JWK { k := good; k.X = "***"; return k }(),
		"short":      func() JWK { k := good; k.X = "AAAA"; return k }(),
	} {
		if _, err := k.PublicKey(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	// A set mixing usable and unusable keys keeps the usable ones.
	m, err := JWKS{Keys: []JWK{{Kty: "RSA"}, good}}.keyMap()
	if err != nil || len(m) != 1 || !m[good.Kid].Equal(pub) {
		t.Fatalf("keyMap: %v %v", m, err)
	}
	if _, err := (JWKS{Keys: []JWK{{Kty: "RSA"}}}).keyMap(); err == nil {
		t.Fatal("set without usable keys accepted")
	}
}

func TestJWKSHandler(t *testing.T) {
	a, _ := newKey(t)
	b, _ := newKey(t)
	rec := httptest.NewRecorder()
	JWKSHandler(a, b).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/.well-known/jwks.json", nil))
	var set JWKS
	if err := json.Unmarshal(rec.Body.Bytes(), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 2 || set.Keys[0].Kid != KeyID(a) || set.Keys[1].Kid != KeyID(b) {
		t.Fatalf("set = %+v", set)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/jwk-set+json" {
		t.Fatalf("Content-Type %q", ct)
	}
}
