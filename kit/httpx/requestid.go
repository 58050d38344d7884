package httpx

import (
	"net/http"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/logx"
)

// HeaderRequestID carries the request id, echoed or generated.
const HeaderRequestID = "X-Request-ID"

// maxRequestIDLen bounds an incoming id: it is logged on every line and
// forwarded to every service, so a client must not be able to inflate it.
const maxRequestIDLen = 128

// RequestID gives every request an id: the caller's X-Request-ID when it is
// acceptable (1 to 128 visible ASCII characters), else a new UUID. The id
// is stored in the request context (logx.WithRequestID) and set on the response before the
// next handler runs, so even a panic's 500 carries it.
func RequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get(HeaderRequestID)
		if !ValidRequestID(id) {
			id = uuid.NewString()
		}
		w.Header().Set(HeaderRequestID, id)
		next.ServeHTTP(w, r.WithContext(logx.WithRequestID(r.Context(), id)))
	})
}

// ValidRequestID reports whether id may be used as given: 1 to 128
// characters, all visible ASCII. Anything else (spaces, control characters,
// non-ASCII) could forge log fields or break header forwarding.
func ValidRequestID(id string) bool {
	if id == "" || len(id) > maxRequestIDLen {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}
