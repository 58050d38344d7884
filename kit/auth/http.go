package auth

import (
	"net/http"
	"strings"

	"github.com/kitshop/kitshop/kit/errs"
)

// BearerToken extracts the token of an "Authorization: Bearer <token>"
// value. ok is false when the value uses no or another scheme; a Bearer
// scheme with an empty token yields ok and "" (which fails verification).
func BearerToken(authorization string) (token string, ok bool) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(authorization), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	return strings.TrimSpace(rest), true
}

// Middleware authenticates HTTP requests that carry a bearer token: a
// valid one puts its claims (and the raw token, for forwarding) in the
// request context. A request without a bearer token, or whose token fails
// verification, passes through without claims: each route decides with
// RequireUser or RequireAdmin, so public routes need no separate wiring
// and a stale token never locks a client out of them (login included).
//
// On a protected route, a refused token is answered through RequireUser's
// error: 401 UNAUTHENTICATED with the challenge
// `Bearer error="invalid_token", error_description="..."` (RFC 6750), or
// 503 when the signing keys were unavailable.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := BearerToken(r.Header.Get("Authorization"))
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		claims, err := v.Verify(r.Context(), token)
		if err != nil {
			f := &failure{err: errs.As(err)}
			next.ServeHTTP(&challengeWriter{ResponseWriter: w, failure: f}, r.WithContext(withFailure(r.Context(), f)))
			return
		}
		ctx := WithToken(WithClaims(r.Context(), claims), token)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// challengeWriter gives a 401 that answers for a refused token (RequireUser
// returned the token's error) the invalid_token challenge. kit/httpx
// writes a bare "Bearer" challenge on every 401 it sends, right for a
// request without credentials (RFC 6750 section 3.1), so that one is
// upgraded; a challenge a handler chose itself is left alone. Other 401s,
// such as a login's INVALID_CREDENTIALS, keep theirs: the token was not
// why they failed.
type challengeWriter struct {
	http.ResponseWriter
	failure *failure
}

func (c *challengeWriter) WriteHeader(code int) {
	if code == http.StatusUnauthorized && c.failure.reported.Load() && c.failure.err.Kind == errs.Unauthenticated {
		h := c.Header()
		if v := h.Get("WWW-Authenticate"); v == "" || v == "Bearer" {
			h.Set("WWW-Authenticate", invalidTokenChallenge(c.failure.err.Message))
		}
	}
	c.ResponseWriter.WriteHeader(code)
}

// Flush keeps streaming handlers working behind the middleware.
func (c *challengeWriter) Flush() {
	_ = http.NewResponseController(c.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the underlying writer's
// optional features (deadlines, hijacking).
func (c *challengeWriter) Unwrap() http.ResponseWriter { return c.ResponseWriter }

// invalidTokenChallenge is the RFC 6750 challenge for a refused token.
// error_description may hold only printable ASCII other than '"' and '\'
// (RFC 6750 section 3); anything else is dropped rather than escaped.
func invalidTokenChallenge(description string) string {
	desc := strings.Map(func(r rune) rune {
		if r < 0x20 || r > 0x7e || r == '"' || r == '\\' {
			return -1
		}
		return r
	}, description)
	if desc == "" {
		return `Bearer error="invalid_token"`
	}
	return `Bearer error="invalid_token", error_description="` + desc + `"`
}

// UserGuard is a route guard (kit/rest Spec.Guard) for routes that need a
// caller: RequireUser's error without valid claims in the request's
// context, before anything else of the request is read. Behind the
// gateway it answers the 401 without a call to any backend.
func UserGuard(r *http.Request) error {
	_, err := RequireUser(r.Context())
	return err
}

// AdminGuard is UserGuard for admin routes: 401 without a valid token,
// 403 with a token of another role.
func AdminGuard(r *http.Request) error {
	_, err := RequireAdmin(r.Context())
	return err
}
