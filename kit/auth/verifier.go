package auth

import (
	"context"
	"crypto/ed25519"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
)

// clockSkew is tolerated between the users service's clock and a
// verifier's, for exp, nbf and iat.
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
// still asks the KeySource whether the very key that verified it is still
// trusted, so a key that the users service stops publishing stops its
// tokens as soon as the KeySource notices (see JWKSFromURL), cache or not.
type Verifier struct {
	keys   KeySource
	cfg    verifierConfig
	parser *jwt.Parser
	cache  *lru.Cache[string, verified]
}

type verified struct {
	claims  Claims
	kid     string
	key     ed25519.PublicKey // the key whose signature verified
	expires time.Time
}

// NewVerifier returns a Verifier trusting the keys from keys. With no
// options it accepts tokens without aud and with lifetimes up to
// DefaultMaxTokenLifetime.
func NewVerifier(keys KeySource, opts ...VerifierOption) *Verifier {
	cfg := newVerifierConfig(opts)
	cache, err := lru.New[string, verified](verifiedCacheSize)
	if err != nil {
		panic(err) // only for a non-positive size, a constant here
	}
	return &Verifier{keys: keys, cfg: cfg, parser: newParser(cfg), cache: cache}
}

func newParser(cfg verifierConfig) *jwt.Parser {
	opts := []jwt.ParserOption{
		// EdDSA only: "none", HMAC (the public key used as an HMAC secret)
		// and every other algorithm are refused before any key is used.
		jwt.WithValidMethods([]string{jwt.SigningMethodEdDSA.Alg()}),
		jwt.WithIssuer(Issuer),
		jwt.WithIssuedAt(),
		jwt.WithExpirationRequired(),
		jwt.WithLeeway(clockSkew),
		jwt.WithTimeFunc(cfg.now),
		// One spelling per token: base64url without padding and with
		// the unused low bits zero (RFC 7515 section 2 and RFC 4648
		// section 3.5), so a token cannot be varied to slip past a
		// denylist or the verified-token cache.
		jwt.WithStrictDecoding(),
	}
	if cfg.audience != "" {
		opts = append(opts, jwt.WithAudience(cfg.audience))
	}
	return jwt.NewParser(opts...)
}

// Verify checks a token and returns its claims. A token verifies when:
//   - its header names alg EdDSA, no crit, typ JWT if any, and a kid the
//     KeySource trusts (or none, when the source allows that);
//   - its signature verifies with that key;
//   - iss is kitshop-users; sub is a user id (a canonical UUID); role is
//     customer or admin;
//   - exp, iat (and nbf, if present) are JSON numbers; iat is not in the
//     future and exp not in the past (30 s of clock skew either way); exp
//     is after iat, by at most the maximum lifetime (24 h by default);
//   - aud names the configured audience, or is absent when none is.
//
// A bad token is an Unauthenticated error with reason UNAUTHENTICATED, as
// API.md gives for a missing, invalid or expired token alike; its Message
// ("token expired", "invalid token", ...) tells the cases apart for the
// client. Keys that cannot be fetched give Unavailable. Error messages
// never include the token.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if token == "" || len(token) > maxTokenBytes {
		return Claims{}, invalid(errors.New("empty or oversized token"))
	}
	if hit, ok := v.cache.Get(token); ok {
		if v.cfg.now().Before(hit.expires) && v.stillTrusted(ctx, hit) {
			return hit.claims, nil
		}
		// Expired or its key is no longer trusted: verify afresh, which
		// gives the right error.
		v.cache.Remove(token)
	}
	if err := checkStrictJSON(token); err != nil {
		return Claims{}, invalid(err)
	}
	c, kid, key, err := v.verify(ctx, token)
	if err != nil {
		return Claims{}, err
	}
	v.cache.Add(token, verified{claims: c, kid: kid, key: key, expires: c.ExpiresAt.Add(clockSkew)})
	return c, nil
}

// stillTrusted reports whether the key that verified hit is still among
// the keys the source offers for its kid. Checking the key itself, not
// just that the kid resolves, matters for tokens without a kid: they
// resolve to every key, including ones published after the signing key
// was withdrawn.
func (v *Verifier) stillTrusted(ctx context.Context, hit verified) bool {
	keys, err := v.keys.Keys(ctx, hit.kid)
	if err != nil {
		return false
	}
	return slices.ContainsFunc(keys, func(k ed25519.PublicKey) bool { return k.Equal(hit.key) })
}

// verify does the full check and reports the kid the token named and the
// key that verified it.
func (v *Verifier) verify(ctx context.Context, token string) (Claims, string, ed25519.PublicKey, error) {
	var sc strictClaims
	var kid string
	var keys []ed25519.PublicKey
	parsed, err := v.parser.ParseWithClaims(token, &sc, func(t *jwt.Token) (any, error) {
		if _, err := typed.Cast[*jwt.SigningMethodEd25519](t.Method); err != nil {
			// WithValidMethods already refused it; never hand a key to
			// another algorithm regardless.
			return nil, errors.New("unexpected signing method")
		}
		var err error
		if kid, err = checkHeader(t.Header); err != nil {
			return nil, err
		}
		if keys, err = v.keys.Keys(ctx, kid); err != nil {
			return nil, err
		}
		set := jwt.VerificationKeySet{Keys: make([]jwt.VerificationKey, 0, len(keys))}
		for _, k := range keys {
			set.Keys = append(set.Keys, k)
		}
		return set, nil
	})
	if err != nil {
		var e *errs.Error
		if errors.As(err, &e) && e.Kind != errs.Unauthenticated {
			return Claims{}, "", nil, e
		}
		if errors.Is(err, jwt.ErrTokenExpired) {
			return Claims{}, "", nil, errs.Wrap(errs.Unauthenticated, errs.ReasonUnauth, err, "token expired")
		}
		return Claims{}, "", nil, invalid(err)
	}
	if err := v.cfg.checkClaims(sc.Claims); err != nil {
		return Claims{}, "", nil, invalid(err)
	}
	return sc.Claims, kid, signingKey(parsed, keys), nil
}

// signingKey returns which of keys made parsed's (already verified)
// signature. With one candidate, the usual case since tokens name their
// kid, that is the one; a kid-less token is checked against each again.
func signingKey(parsed *jwt.Token, keys []ed25519.PublicKey) ed25519.PublicKey {
	if len(keys) == 1 {
		return keys[0]
	}
	input := parsed.Raw[:strings.LastIndexByte(parsed.Raw, '.')]
	for _, k := range keys {
		if ed25519.Verify(k, []byte(input), parsed.Signature) {
			return k
		}
	}
	return nil // unreachable: the parser verified with one of them
}

func invalid(cause error) error {
	return errs.Wrap(errs.Unauthenticated, errs.ReasonUnauth, cause, "invalid token")
}
