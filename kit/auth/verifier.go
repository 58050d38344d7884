package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
)

// clockSkew is tolerated between the users service's clock and a
// verifier's, for exp and iat.
const clockSkew = 30 * time.Second

// maxTokenBytes bounds what is parsed; real tokens are a few hundred bytes.
const maxTokenBytes = 8 << 10

// verifiedCacheSize bounds the verified-token cache: about 1 KiB a token,
// so at most ~10 MiB, whatever the number of distinct tokens seen.
const verifiedCacheSize = 10_000

// Verifier checks kitshop access tokens. It is safe for concurrent use.
//
// Verifying an Ed25519 signature costs tens of microseconds, more than
// the rest of a request's middleware together, and a client sends the
// same token with every request for its hour of life. So a token that
// verified once is remembered (bounded LRU) until it expires; each reuse
// still checks that its signing key is trusted, so a key that the users
// service stops publishing stops its tokens at once, cache or not.
type Verifier struct {
	keys   KeySource
	parser *jwt.Parser
	now    func() time.Time
	cache  *lru.Cache[string, verified]
}

type verified struct {
	claims  Claims
	kid     string
	expires time.Time
}

// NewVerifier returns a Verifier trusting the keys from keys.
func NewVerifier(keys KeySource) *Verifier {
	return newVerifier(keys, time.Now)
}

func newVerifier(keys KeySource, now func() time.Time) *Verifier {
	cache, err := lru.New[string, verified](verifiedCacheSize)
	if err != nil {
		panic(err) // only for a non-positive size, a constant here
	}
	return &Verifier{keys: keys, parser: newParser(now), now: now, cache: cache}
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
// token is an Unauthenticated error with reason UNAUTHENTICATED, as
// API.md gives for a missing, invalid or expired token alike; its Message
// ("token expired", "invalid token", ...) tells the cases apart for the
// client. Keys that cannot be fetched give Unavailable. Error messages
// never include the token.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if token == "" || len(token) > maxTokenBytes {
		return Claims{}, invalid(errors.New("empty or oversized token"))
	}
	if hit, ok := v.cache.Get(token); ok {
		if v.now().Before(hit.expires) {
			if _, err := v.keys.Keys(ctx, hit.kid); err == nil {
				return hit.claims, nil
			}
		}
		// Expired or its key is no longer trusted: verify afresh, which
		// gives the right error.
		v.cache.Remove(token)
	}
	c, kid, err := v.verify(ctx, token)
	if err != nil {
		return Claims{}, err
	}
	v.cache.Add(token, verified{claims: c, kid: kid, expires: c.ExpiresAt.Add(clockSkew)})
	return c, nil
}

// verify does the full check and reports the key id the token named.
func (v *Verifier) verify(ctx context.Context, token string) (Claims, string, error) {
	var c Claims
	var kid string
	_, err := v.parser.ParseWithClaims(token, &c, func(t *jwt.Token) (any, error) {
		if _, err := typed.Cast[*jwt.SigningMethodEd25519](t.Method); err != nil {
			// WithValidMethods already refused it; never hand a key to
			// another algorithm regardless.
			return nil, errors.New("unexpected signing method")
		}
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
			return Claims{}, "", e
		}
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, "", errs.Wrap(errs.Unauthenticated, errs.ReasonUnauth, err, "token expired")
		}
		return Claims{}, "", invalid(err)
	}
	if c.IssuedAt == nil {
		return Claims{}, "", invalid(errors.New("token has no issue time"))
	}
	if c.Subject == "" {
		return Claims{}, "", invalid(errors.New("token has no subject"))
	}
	if !ValidRole(c.Role) {
		return Claims{}, "", invalid(errors.New("token has an unknown role"))
	}
	return c, kid, nil
}

func invalid(cause error) error {
	return errs.Wrap(errs.Unauthenticated, errs.ReasonUnauth, cause, "invalid token")
}
