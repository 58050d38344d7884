package httpx

import (
	"encoding/json"
	"net/http/httptest"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
)

// problemBody decodes a recorded problem response, failing the test when
// it is not one.
func problemBody(t *testing.T, rec *httptest.ResponseRecorder) map[string]any {
	t.Helper()
	if ct := rec.Header().Get("Content-Type"); ct != ProblemContentType {
		t.Fatalf("Content-Type = %q, want %q (body %s)", ct, ProblemContentType, rec.Body)
	}
	var m map[string]any
	if err := json.Unmarshal(rec.Body.Bytes(), &m); err != nil {
		t.Fatalf("problem body is not JSON: %v: %s", err, rec.Body)
	}
	return m
}

// asError asserts err is a classified error with the given status and reason.
func asError(t *testing.T, err error, status int, reason string) *errs.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %d %s", status, reason)
	}
	e := errs.As(err)
	if e.HTTPStatus() != status || e.Reason != reason {
		t.Fatalf("err = %v (status %d reason %s), want status %d reason %s", err, e.HTTPStatus(), e.Reason, status, reason)
	}
	return e
}
