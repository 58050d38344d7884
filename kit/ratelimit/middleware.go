package ratelimit

import (
	"net/http"
	"strconv"
	"time"

	"github.com/kitshop/kitshop/kit/httpx"
)

// Response headers, in net/http's canonical form so that SetHeaders can
// assign them without re-canonicalising ("RateLimit-Limit" on the wire is
// the same header: names are case-insensitive).
const (
	headerLimit      = "Ratelimit-Limit"
	headerRemaining  = "Ratelimit-Remaining"
	headerReset      = "Ratelimit-Reset"
	headerXLimit     = "X-Ratelimit-Limit"
	headerXRemaining = "X-Ratelimit-Remaining"
	headerXReset     = "X-Ratelimit-Reset"
	headerRetryAfter = "Retry-After"
)

// ExposedHeaders are the response headers a browser client may want to
// read; a CORS layer should list them in Access-Control-Expose-Headers.
func ExposedHeaders() []string {
	return []string{"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset",
		"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"}
}

// Middleware limits each client (see Identify) to its tier. Every request
// it judges gets the rate-limit headers (see Decision.SetHeaders). A
// client with no token left gets 429 RATE_LIMITED with Retry-After; an
// X-API-Key that is not a configured key gets 401 INVALID_API_KEY, the
// attempt charged to the source address, so that an unknown key is
// answered 429 too once that address has spent its anonymous allowance.
// Neither reaches next. Requests for which Config.Skip says true pass
// through untouched.
//
// Put it early in the chain, before anything that costs work (auth, body
// decoding, backend calls), and after request ids and tracing so that
// its problems carry a trace id.
func (l *Limiter) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if l.skip != nil && l.skip(r) {
			next.ServeHTTP(w, r)
			return
		}
		c, idErr := l.Identify(r)
		d := l.Allow(c)
		d.SetHeaders(w.Header())
		if !d.Allowed {
			httpx.WriteProblem(w, r, ErrRateLimited.With(httpx.MetaRetryAfter, d.retryAfterSeconds()))
			return
		}
		if idErr != nil {
			httpx.WriteProblem(w, r, idErr)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// SetHeaders writes d as response headers:
//   - RateLimit-Limit and X-RateLimit-Limit: Limit;
//   - RateLimit-Remaining and X-RateLimit-Remaining: Remaining;
//   - RateLimit-Reset: whole seconds until the bucket is full again,
//     rounded up; X-RateLimit-Reset: that moment as a Unix time, rounded
//     up;
//   - when the request was refused, Retry-After: whole seconds until a
//     token is there, rounded up, at least 1.
func (d Decision) SetHeaders(h http.Header) {
	limit := strconv.Itoa(d.Limit)
	remaining := strconv.Itoa(d.Remaining)
	// One backing array for all the header values: this runs on every
	// request, and a slice per header was most of its allocations.
	vals := [7]string{limit, remaining, strconv.FormatInt(ceilSeconds(d.Reset), 10),
		limit, remaining, strconv.FormatInt(ceilUnix(d.At.Add(d.Reset)), 10)}
	all := vals[:]
	h[headerLimit] = all[0:1:1]
	h[headerRemaining] = all[1:2:2]
	h[headerReset] = all[2:3:3]
	h[headerXLimit] = all[3:4:4]
	h[headerXRemaining] = all[4:5:5]
	h[headerXReset] = all[5:6:6]
	if !d.Allowed {
		all[6] = strconv.FormatInt(d.retryAfterSeconds(), 10)
		h[headerRetryAfter] = all[6:7:7]
	}
}

// retryAfterSeconds is Retry-After's value: at least 1, since "0" invites
// an immediate retry that would be refused again.
func (d Decision) retryAfterSeconds() int64 {
	return max(1, ceilSeconds(d.RetryAfter))
}

// ceilSeconds is d in whole seconds, rounded up: waiting that long is
// always enough.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	s := int64(d / time.Second)
	if d%time.Second != 0 {
		s++
	}
	return s
}

// ceilUnix is t as a Unix time, rounded up to the next whole second.
func ceilUnix(t time.Time) int64 {
	u := t.Unix()
	if t.Nanosecond() > 0 {
		u++
	}
	return u
}
