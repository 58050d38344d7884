package web

import (
	"crypto/subtle"
	"net/http"
)

// contentSecurityPolicy allows the pages nothing but their own origin's
// script, style and connections: no inline script or style at all, no
// framing, forms posting only here.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'; object-src 'none'"

// securityHeaders sets what every storefront response carries.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("X-Frame-Options", "DENY")
		if r.TLS != nil {
			h.Set("Strict-Transport-Security", "max-age=31536000")
		}
		next.ServeHTTP(w, r)
	})
}

// csrfField names the synchronizer token in every form.
const csrfField = "csrf"

// csrfOK checks a state-changing request's synchronizer token against its
// session's. A request with no session (fresh) fails: its form cannot
// have come from a page of ours, since every page sets one. Two layers
// guard: http.CrossOriginProtection (in Pages) refuses a cross-origin
// browser request from its Sec-Fetch-Site or Origin header, and this
// token stops anything that gets past it (an old browser, a same-site
// page on another port).
func (s *Server) csrfOK(w http.ResponseWriter, r *http.Request, sess *session, fresh bool) bool {
	if fresh {
		return false
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	got := r.PostFormValue(csrfField)
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(sess.CSRF)) == 1
}

// maxFormBytes bounds a form body; the largest, checkout's, is < 2 KiB.
const maxFormBytes = 64 << 10

func (s *Server) crossOriginRefused(w http.ResponseWriter, r *http.Request) {
	s.renderError(w, r, nil, http.StatusForbidden, "This form did not come from this site, so it was refused.")
}
