package main

import (
	"net/http"
	"time"

	"github.com/rs/cors"

	"github.com/kitshop/kitshop/kit/ratelimit"
)

// corsMaxAge is how long a browser may cache a preflight's answer.
const corsMaxAge = 10 * time.Minute

// withCORS lets the browser pages of origins call the API (rs/cors: the
// preflight, Vary and the exposed headers are easy to get subtly wrong by
// hand). No origins: no CORS headers at all, so browsers keep the
// same-origin rule. Credentials are not allowed: the API's identity is a
// bearer token, never an ambient cookie.
func withCORS(origins []string, next http.Handler) http.Handler {
	if len(origins) == 0 {
		return next
	}
	return cors.New(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPatch},
		AllowedHeaders: []string{"Authorization", "Content-Type", "Idempotency-Key", "Prefer",
			"X-API-Key", "X-Request-ID", "traceparent", "tracestate", "b3"},
		ExposedHeaders: append([]string{"Location", "Retry-After", "Warning", "Idempotent-Replayed", "X-Request-ID", "traceparent"},
			ratelimit.ExposedHeaders()...),
		MaxAge: int(corsMaxAge / time.Second),
	}).Handler(next)
}
