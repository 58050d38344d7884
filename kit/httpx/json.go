package httpx

import (
	"bytes"
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
	body, err := MarshalJSON(v)
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

// MarshalJSON is json.Marshal without HTML escaping: kitshop bodies are
// application/json, never embedded in HTML, so "must be >= 0" and
// "Tom & Jerry" are sent as written rather than as "\u003e=" and "\u0026".
// Types with their own MarshalJSON should build their output with it too,
// since the encoder copies a Marshaler's bytes as they are.
func MarshalJSON(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte{'\n'}), nil
}

func writeInternal(w http.ResponseWriter, cause error) {
	NewProblem(context.Background(), "", errs.Internalf(cause, "httpx: encoding response")).Write(w)
}
