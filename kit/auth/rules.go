package auth

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/typed"
	"github.com/kitshop/kitshop/kit/valid"
)

// The rules below are what kitshop adds to golang-jwt's checks (signature,
// alg allow-list, iss, exp, nbf, iat not in the future, aud when
// configured). Each refuses something golang-jwt lets through and a
// handler downstream would otherwise have to cope with.

// maxNumericDate bounds exp, iat and nbf (in seconds; about the year
// 36800). Beyond it the float-to-int64 conversion golang-jwt does is
// implementation-defined: 1e300 becomes the minimum int64 on amd64 and the
// maximum on arm64.
const maxNumericDate = 1 << 40

// checkStrictJSON refuses a token whose header or payload is not strict
// JSON (RFC 7493): encoding/json, which golang-jwt uses, lets the last of
// two members of one name win, so {"role":"customer","role":"admin"}
// would read as an admin to it and as a customer to a stricter reader.
func checkStrictJSON(token string) error {
	parts := strings.SplitN(token, ".", 4)
	if len(parts) != 3 {
		return errors.New("token is not three base64url segments")
	}
	for _, part := range parts[:2] {
		raw, err := base64.RawURLEncoding.Strict().DecodeString(part)
		if err != nil {
			return errors.New("token segment is not base64url")
		}
		if !jsontext.Value(raw).IsValid() {
			return errors.New("token header or payload is not strict JSON (duplicate member?)")
		}
	}
	return nil
}

// checkHeader refuses header parameters this verifier cannot honour. It
// runs before any key is looked up, so such tokens never cause a JWKS
// fetch. It returns the kid ("" when the header names none).
func checkHeader(header map[string]any) (string, error) {
	// RFC 7515 section 4.1.11: a recipient must reject a token whose crit
	// lists an extension it does not understand. kitshop understands
	// none, and an empty or malformed crit is invalid in itself.
	if _, ok := header["crit"]; ok {
		return "", errors.New("crit header: no extension is supported")
	}
	// A typ other than JWT marks a token for another purpose (RFC 8725
	// section 3.11), which must not pass for an access token even if the
	// same key signed it. Media types compare case-insensitively.
	if raw, ok := header["typ"]; ok {
		typ, err := typed.Cast[string](raw)
		if err != nil || !strings.EqualFold(typ, "JWT") {
			return "", errors.New("typ header is not JWT")
		}
	}
	raw, ok := header["kid"]
	if !ok {
		return "", nil
	}
	kid, err := typed.Cast[string](raw)
	if err != nil {
		return "", errors.New("kid header is not a string")
	}
	return kid, nil
}

// checkClaims applies the rules on claims golang-jwt does not know. The
// lifetime bound makes a token minted with a leaked key expire with the
// rotation that retires the key, rather than years later.
func (cfg verifierConfig) checkClaims(c Claims) error {
	switch {
	case c.IssuedAt == nil:
		return errors.New("token has no issue time")
	case c.ExpiresAt == nil: // golang-jwt requires it too; kept for clarity
		return errors.New("token has no expiry")
	case !c.ExpiresAt.After(c.IssuedAt.Time):
		return errors.New("token expires before it was issued")
	case c.ExpiresAt.Sub(c.IssuedAt.Time) > cfg.maxLifetime:
		return fmt.Errorf("token lifetime exceeds %v", cfg.maxLifetime)
	case cfg.audience == "" && len(c.Audience) > 0:
		return errors.New("token has an audience and this verifier is none of it")
	case !isCanonicalID(c.Subject):
		// Every consumer uses sub as a user id: in a Postgres uuid column,
		// in ownership checks comparing strings. Only the canonical
		// spelling is one id with one spelling.
		return errors.New("token subject is not a user id")
	case !ValidRole(c.Role):
		return errors.New("token has an unknown role")
	}
	return nil
}

// isCanonicalID reports whether id is a UUID in lower-case hyphenated
// form, the only form the users service issues.
func isCanonicalID(id string) bool {
	return valid.IsID(id) && id == strings.ToLower(id)
}

// strictClaims decodes Claims, first refusing NumericDate claims that are
// not JSON numbers: golang-jwt reads "exp": "9999999999" (a string) as a
// number, and a claim that can be sent as either type is one that two
// parsers may read differently.
type strictClaims struct {
	Claims
}

func (s *strictClaims) UnmarshalJSON(b []byte) error {
	var dates struct {
		Exp json.RawMessage `json:"exp"`
		Iat json.RawMessage `json:"iat"`
		Nbf json.RawMessage `json:"nbf"`
	}
	if err := json.Unmarshal(b, &dates); err != nil {
		return err
	}
	for _, d := range []struct {
		name string
		raw  json.RawMessage
	}{{"exp", dates.Exp}, {"iat", dates.Iat}, {"nbf", dates.Nbf}} {
		if d.raw == nil {
			continue // absent; whether that is allowed is checked later
		}
		if err := checkNumericDate(d.raw); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
	}
	return json.Unmarshal(b, &s.Claims)
}

// checkNumericDate accepts a JSON number of seconds (fractions allowed,
// RFC 7519 section 2) in [0, maxNumericDate].
func checkNumericDate(raw json.RawMessage) error {
	s := strings.TrimSpace(string(raw))
	if s == "" || (s[0] != '-' && (s[0] < '0' || s[0] > '9')) {
		return errors.New("not a number")
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || f > maxNumericDate {
		return errors.New("out of range")
	}
	return nil
}

// strictClaims must stay a jwt.Claims (through the embedded
// RegisteredClaims) for ParseWithClaims to validate its times.
var _ jwt.Claims = (*strictClaims)(nil)
