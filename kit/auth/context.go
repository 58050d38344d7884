package auth

import (
	"context"
	"sync/atomic"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
)

type claimsKey struct{}
type tokenKey struct{}

// WithClaims returns ctx carrying verified claims. Only code that has
// verified them (the middleware and interceptors here) should call it.
func WithClaims(ctx context.Context, c Claims) context.Context {
	return context.WithValue(ctx, claimsKey{}, c)
}

// ClaimsFrom returns the verified claims in ctx, if any.
func ClaimsFrom(ctx context.Context) (Claims, bool) {
	return typed.Opt[Claims](ctx.Value(claimsKey{}))
}

// WithToken returns ctx carrying the raw bearer token the claims came
// from, so outgoing gRPC calls can forward the caller's identity.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFrom returns the raw bearer token in ctx, or "".
func TokenFrom(ctx context.Context) string {
	t, _ := typed.Opt[string](ctx.Value(tokenKey{}))
	return t
}

// failure is why the bearer token a request carried was refused. The
// middleware and interceptors store it instead of answering, because the
// token only matters on routes that need an identity: a client holding a
// stale token must still reach login, the catalog and the JWKS.
type failure struct {
	err *errs.Error
	// reported is set once RequireUser has returned err, which tells the
	// HTTP middleware that a 401 being written answers for the token and
	// owes the client the invalid_token challenge (RFC 6750 section 3.1).
	reported atomic.Bool
}

type failureKey struct{}

func withFailure(ctx context.Context, f *failure) context.Context {
	return context.WithValue(ctx, failureKey{}, f)
}

func failureFrom(ctx context.Context) *failure {
	f, _ := typed.Opt[*failure](ctx.Value(failureKey{}))
	return f
}

// TokenError returns why the bearer token in the request was refused: an
// Unauthenticated error for a bad or expired token, Unavailable when the
// signing keys could not be obtained. It is nil when the request carried
// a valid token or none. RequireUser returns this error itself; TokenError
// is for a route that serves anonymous callers yet must not mistake a
// refused token for no token.
func TokenError(ctx context.Context) error {
	if f := failureFrom(ctx); f != nil {
		return f.err
	}
	return nil
}

// RequireUser returns the caller's claims. Without them it returns why:
// the refused token's error (401 UNAUTHENTICATED saying, for instance,
// "token expired"; or 503 when the keys were unavailable), else a 401
// UNAUTHENTICATED "authentication required" when no token came at all.
func RequireUser(ctx context.Context) (Claims, error) {
	if c, ok := ClaimsFrom(ctx); ok {
		return c, nil
	}
	if f := failureFrom(ctx); f != nil {
		f.reported.Store(true)
		return Claims{}, f.err
	}
	return Claims{}, errs.New(errs.Unauthenticated, errs.ReasonUnauth, "authentication required")
}

// RequireAdmin returns the caller's claims when they grant the admin role:
// RequireUser's error without a valid token, 403 PERMISSION_DENIED with a
// non-admin one.
func RequireAdmin(ctx context.Context) (Claims, error) {
	c, err := RequireUser(ctx)
	if err != nil {
		return Claims{}, err
	}
	if !c.IsAdmin() {
		return Claims{}, errs.New(errs.PermissionDenied, errs.ReasonForbidden, "admin role required")
	}
	return c, nil
}
