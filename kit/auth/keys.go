package auth

import (
	"context"
	"crypto/ed25519"

	"github.com/kitshop/kitshop/kit/errs"
)

// KeySource supplies the public keys tokens are verified with.
type KeySource interface {
	// Keys returns the candidate keys for a token whose header names kid
	// ("" when it names none). An unknown kid is an Unauthenticated error;
	// failing to obtain keys at all is Unavailable, so that clients are not
	// told to throw away a token that may well be valid. The slice may be
	// shared: callers must not modify it.
	//
	// The Verifier calls Keys on every request, cached token or not, so
	// that a key the source stops trusting stops verifying: it must be
	// cheap when nothing has changed.
	Keys(ctx context.Context, kid string) ([]ed25519.PublicKey, error)
}

func unknownKey() error {
	return errs.New(errs.Unauthenticated, errs.ReasonUnauth, "token signed with an unknown key")
}

// StaticKeys is a KeySource of fixed keys: the users service verifying its
// own tokens, a pinned key file, or tests. A token without a kid may
// match any of them.
func StaticKeys(pubs ...ed25519.PublicKey) KeySource {
	return staticKeys{newKeySet(pubs)}
}

type staticKeys struct{ set keySet }

func (s staticKeys) Keys(_ context.Context, kid string) ([]ed25519.PublicKey, error) {
	if keys, ok := s.set.lookup(kid); ok {
		return keys, nil
	}
	return nil, unknownKey()
}
