package httpx

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/kitshop/kitshop/kit/errs"
)

// WriteJSON answers with v as JSON and the given status. A 204 or 304 has
// no body by definition, so v is not written for those.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	if status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status)
		return
	}
	body, err := json.Marshal(v)
	if err != nil {
		// Nothing has been written yet, so the client can still get an
		// honest 500 instead of a truncated 200.
		writeInternal(w, err)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}

func writeInternal(w http.ResponseWriter, cause error) {
	NewProblem(context.Background(), "", errs.Internalf(cause, "httpx: encoding response")).Write(w)
}
