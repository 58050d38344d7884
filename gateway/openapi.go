package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/http/httptest"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/rest"
)

// openAPIPath serves the OpenAPI 3.1 document of what the gateway routes.
const openAPIPath = "/api/v1/openapi.json"

// openAPIDocument generates the document from the very routes the
// gateway mounts (kit/rest.OpenAPI reads the compiled pb tables the codec
// uses), lists the document's own route, and says which routes need a
// token or the admin role by asking each route's guard (accessOf).
func openAPIDocument(routes []rest.Route) ([]byte, error) {
	guards := map[string]func(*http.Request) error{}
	for _, rt := range routes {
		guards[rt.Method()+" "+rt.Path()] = rt.Guard()
	}
	return rest.OpenAPI(rest.OpenAPIInfo{
		Title: "kitshop", Version: config.BuildVersion(),
		Description:  "The public HTTP/JSON API of kitshop, served by its gateway.",
		DocumentPath: openAPIPath,
		Security:     func(method, path string) rest.Access { return accessOf(guards[method+" "+path]) },
		// Any route may meet the gateway's limit, an unavailable backend
		// or its deadline.
		Problems: []int{http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
		RequestHeaders: map[string]string{
			ratelimit.HeaderAPIKey: "Names the client application for rate limiting; without it the client is its source address.",
			"X-Request-ID":         "Echoed in the response; generated when absent.",
			"traceparent":          "W3C trace context to continue (B3 headers are accepted too).",
		},
		ResponseHeaders: map[string]string{
			"X-Request-ID":          "The request's id.",
			"traceparent":           "The trace of this request.",
			"RateLimit-Limit":       "The client's tier burst.",
			"RateLimit-Remaining":   "Requests left before the limit.",
			"RateLimit-Reset":       "Seconds until the allowance is full again.",
			"X-RateLimit-Limit":     "As RateLimit-Limit.",
			"X-RateLimit-Remaining": "As RateLimit-Remaining.",
			"X-RateLimit-Reset":     "Unix time at which the allowance is full again.",
		},
	}, routes...)
}

// accessOf asks a route's guard who may call it: a guard that lets an
// anonymous request through leaves the route public, one that lets a
// customer through wants a token, and one that refuses a customer wants
// the admin role. Guards read only the request's context (kit/auth's
// UserGuard and AdminGuard), so asking costs no backend call.
func accessOf(guard func(*http.Request) error) rest.Access {
	if guard == nil {
		return rest.Access{}
	}
	ask := func(ctx context.Context) error {
		return guard(httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	}
	if ask(context.Background()) == nil {
		return rest.Access{}
	}
	customer := auth.Claims{Role: auth.RoleCustomer}
	if err := ask(auth.WithClaims(context.Background(), customer)); errs.KindOf(err) == errs.PermissionDenied {
		return rest.Access{Bearer: true, Roles: []string{auth.RoleAdmin}}
	}
	return rest.Access{Bearer: true}
}

// openAPIHandler serves doc with an ETag, so a client polling it
// downloads it once per gateway version.
func openAPIHandler(doc []byte) http.Handler {
	sum := sha256.Sum256(doc)
	etag := `"` + hex.EncodeToString(sum[:8]) + `"`
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("ETag", etag)
		h.Set("Cache-Control", "public, max-age=300")
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		h.Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
}
