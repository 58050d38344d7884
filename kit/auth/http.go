package auth

import (
	"net/http"
	"strings"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
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
// request context; an invalid one is answered with a 401 problem and a
// WWW-Authenticate challenge (RFC 6750). A request without a bearer token
// passes through without claims: each route decides with RequireUser or
// RequireAdmin, so public routes need no separate wiring.
func (v *Verifier) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := BearerToken(r.Header.Get("Authorization"))
		if !ok {
			next.ServeHTTP(w, r)
			return
		}
		claims, err := v.Verify(r.Context(), token)
		if err != nil {
			if errs.KindOf(err) == errs.Unauthenticated {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			}
			httpx.WriteProblem(w, r, err)
			return
		}
		ctx := WithToken(WithClaims(r.Context(), claims), token)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}
