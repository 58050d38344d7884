package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
)

// clockSkew is tolerated between the users service's clock and a
// verifier's, for exp and iat.
const clockSkew = 30 * time.Second

// maxTokenBytes bounds what is parsed; real tokens are a few hundred bytes.
const maxTokenBytes = 8 << 10

// Verifier checks kitshop access tokens. It is safe for concurrent use.
type Verifier struct {
	keys   KeySource
	parser *jwt.Parser
}

// NewVerifier returns a Verifier trusting the keys from keys.
func NewVerifier(keys KeySource) *Verifier {
	return &Verifier{keys: keys, parser: newParser(time.Now)}
}

func newParser(now func() time.Time) *jwt.Parser {
	return jwt.NewParser(
		// EdDSA only: "none", HMAC (the public key used as an HMAC secret)
		// and every other algorithm are refused before any key is used.
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(now),
	)
}

// Verify checks token's signature, algorithm (EdDSA only), issuer,
// expiry and issue time, and requires a subject and a known role. A bad
// token is an Unauthenticated error (reason TOKEN_EXPIRED when it merely
// expired, else UNAUTHENTICATED); keys that cannot be fetched give
// Unavailable. Error messages never include the token.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if token == "" || len(token) > maxTokenBytes {
		return Claims{}, invalid(errors.New("empty or oversized token"))
	}
	var c Claims
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if _, err := typed.Cast[*jwt.SigningMethodEd25519](t.Method); err != nil {
			// WithValidMethods already refused it; never hand a key to
			// another algorithm regardless.
			return nil, errors.New("unexpected signing method")
		}
		kid := ""
		if raw, ok := t.Header["kid"]; ok {
			s, err := typed.Cast[string](raw)
			if err != nil {
				return nil, errors.New("kid header is not a string")
			}
			kid = s
		}
		keys, err := v.keys.Keys(ctx, kid)
		if err != nil {
			return nil, err
		}
		set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, 0, len(keys))}
		for _, k := range keys {
			set.Keys = append(set.Keys, ed25519.PublicKey(k))
		}
		return set, nil
	})
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Kind != errs.Unauthenticated {
			return Claims{}, e
		}
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, errs.Wrap(errs.Unauthenticated, ReasonTokenExpired, err, "token expired")
		}
		return Claims{}, invalid(err)
	}
	if c.IssuedAt == nil {
		return Claims{}, invalid(errors.New("token has no issue time"))
	}
	if c.Subject == "" {
		return Claims{}, invalid(errors.New("token has no subject"))
	}
	if !ValidRole(c.Role) {
		return Claims{}, invalid(errors.New("token has an unknown role"))
	}
	return c, nil
}

func invalid(cause error) error {
	return errs.Wrap(errs.Unauthenticated, errs.ReasonUnauth, cause, "invalid token")
}
