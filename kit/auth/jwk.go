package auth

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// JWK is a JSON Web Key (RFC 7517) for an Ed25519 public key (RFC 8037).
type JWK struct {
	Kty string `json:"kty"`
	Crv string `json:"crv,omitempty"`
	X   string `json:"x,omitempty"`
	Kid string `json:"kid,omitempty"`
	Alg string `json:"alg,omitempty"`
	Use string `json:"use,omitempty"`
}

// JWKS is a JSON Web Key Set, as served at /.well-known/jwks.json.
type JWKS struct {
	Keys []JWK `json:"keys"`
}

// PublicJWK describes pub as a signing JWK whose kid is its RFC 7638
// thumbprint, so issuer and verifiers derive the same kid from the key
// alone, with no registry of names.
func PublicJWK(pub ed25519.PublicKey) JWK {
	x := base64.RawURLEncoding.EncodeToString(pub)
	return JWK{Kty: "OKP", Crv: "Ed25519", X: x, Kid: thumbprint(x), Alg: "EdDSA", Use: "sig"}
}

// KeyID is the kid of pub: PublicJWK(pub).Kid. The users service puts it
// in the header of every token it signs.
func KeyID(pub ed25519.PublicKey) string {
	return thumbprint(base64.RawURLEncoding.EncodeToString(pub))
}

// thumbprint is RFC 7638 for an OKP key: SHA-256 over the required
// members in lexicographic order with no whitespace, base64url-encoded.
func thumbprint(x string) string {
	// x is base64url, so it needs no JSON escaping.
	sum := sha256.Sum256([]byte(`{"crv":"Ed25519","kty":"OKP","x":"` + x + `"}`))
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// PublicKey returns the Ed25519 key a JWK describes. Keys of other types,
// curves or uses are errors, so a JWKS that also lists RSA keys (or
// encryption keys) never has them tried for EdDSA.
func (k JWK) PublicKey() (ed25519.PublicKey, error) {
	if k.Kty != "OKP" || k.Crv != "Ed25519" {
		return nil, fmt.Errorf("auth: JWK %q is %s/%s, not OKP/Ed25519", k.Kid, k.Kty, k.Crv)
	}
	if k.Use != "" && k.Use != "sig" {
		return nil, fmt.Errorf("auth: JWK %q is for %q, not signatures", k.Kid, k.Use)
	}
	if k.Alg != "" && k.Alg != "EdDSA" {
		return nil, fmt.Errorf("auth: JWK %q is for alg %q, not EdDSA", k.Kid, k.Alg)
	}
	raw, err := base64.RawURLEncoding.DecodeString(k.X)
	if err != nil {
		return nil, fmt.Errorf("auth: JWK %q: x is not base64url: %w", k.Kid, err)
	}
	if len(raw) != ed25519.PublicKeySize {
		return nil, fmt.Errorf("auth: JWK %q: x is %d bytes, want %d", k.Kid, len(raw), ed25519.PublicKeySize)
	}
	return ed25519.PublicKey(raw), nil
}

// keyMap indexes the usable keys of a set by kid (the thumbprint when a
// key names none). It fails only when no key is usable.
func (s JWKS) keyMap() (map[string]ed25519.PublicKey, error) {
	keys := make(map[string]ed25519.PublicKey, len(s.Keys))
	var errs []error
	for _, k := range s.Keys {
		pub, err := k.PublicKey()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		kid := k.Kid
		if kid == "" {
			kid = KeyID(pub)
		}
		keys[kid] = pub
	}
	if len(keys) == 0 {
		return nil, fmt.Errorf("auth: JWKS has no usable Ed25519 key: %w", errors.Join(errs...))
	}
	return keys, nil
}

// JWKSHandler serves pubs as a JWKS document, for the users service's
// GET /.well-known/jwks.json. During a key rotation it lists the old key
// and the new one, so tokens signed with either verify.
func JWKSHandler(pubs ...ed25519.PublicKey) http.Handler {
	set := JWKS{Keys: make([]JWK, 0, len(pubs))}
	for _, p := range pubs {
		set.Keys = append(set.Keys, PublicJWK(p))
	}
	body, _ := json.Marshal(set) // strings only: cannot fail
	return http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/jwk-set+json")
		// No longer than a verifier's own refresh interval
		// (DefaultJWKSRefreshInterval): a cache between users and a
		// verifier must not stretch the window in which a retired key
		// still verifies.
		w.Header().Set("Cache-Control", "public, max-age=60")
		_, _ = w.Write(body)
	})
}
