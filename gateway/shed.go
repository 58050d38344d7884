package main

import (
	"net/http"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/mw"
)

// shed bounds the requests the gateway works on at once, as every service
// bounds its calls: over the limit a request is answered 503 OVERLOADED
// at once (with Retry-After) instead of queueing behind the others, so an
// overloaded gateway stays fast to refuse and never makes a healthy but
// busy backend look slow enough to trip its breaker.
func shed(s *mw.Shedder, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		release, ok := s.Admit()
		if !ok {
			httpx.WriteProblem(w, r, mw.ErrOverloaded())
			return
		}
		defer release()
		next.ServeHTTP(w, r)
	})
}
