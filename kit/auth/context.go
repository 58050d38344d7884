package auth

import (
	"context"

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
	c, err := typed.Cast[Claims](ctx.Value(claimsKey{}))
	return c, err == nil
}

// WithToken returns ctx carrying the raw bearer token the claims came
// from, so outgoing gRPC calls can forward the caller's identity.
func WithToken(ctx context.Context, token string) context.Context {
	return context.WithValue(ctx, tokenKey{}, token)
}

// TokenFrom returns the raw bearer token in ctx, or "".
func TokenFrom(ctx context.Context) string {
	t, err := typed.Cast[string](ctx.Value(tokenKey{}))
	if err != nil {
		return ""
	}
	return t
}

// RequireUser returns the caller's claims, or a 401 UNAUTHENTICATED error
// when the request carried no valid token.
func RequireUser(ctx context.Context) (Claims, error) {
	c, ok := ClaimsFrom(ctx)
	if !ok {
		return Claims{}, errs.New(errs.Unauthenticated, errs.ReasonUnauth, "authentication required")
	}
	return c, nil
}

// RequireAdmin returns the caller's claims when they grant the admin role:
// 401 without a valid token, 403 PERMISSION_DENIED with a non-admin one.
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
