package kittest

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// HTTPClient sends requests to one server under test (an httptest.Server
// or a real process) and reads the responses whole.
type HTTPClient struct {
	// BaseURL is prefixed to every path, e.g. "http://127.0.0.1:8080".
	BaseURL string
}

// HTTPResponse is a response read to the end.
type HTTPResponse struct {
	Status int
	Header http.Header
	// Body is the body decoded as a JSON object; nil when the body is empty.
	Body map[string]any
}

// Do sends method BaseURL+path with body and header, adding
// "Authorization: Bearer token" unless token is empty. It fails the test
// when the request cannot be made or the body is neither empty nor a
// JSON object, since every kitshop API answers with one or the other.
func (c HTTPClient) Do(t testing.TB, method, path, token string, header http.Header, body string) HTTPResponse {
	t.Helper()
	req, err := http.NewRequest(method, c.BaseURL+path, strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	r := HTTPResponse{Status: resp.StatusCode, Header: resp.Header}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &r.Body); err != nil {
			t.Fatalf("%s %s: body is not a JSON object: %q", method, path, raw)
		}
	}
	return r
}

// JSON is Do with a JSON body ("Content-Type: application/json").
func (c HTTPClient) JSON(t testing.TB, method, path, token, body string) HTTPResponse {
	t.Helper()
	return c.Do(t, method, path, token, http.Header{"Content-Type": {"application/json"}}, body)
}

// ExpectStatus fails the test unless r has status.
func ExpectStatus(t testing.TB, r HTTPResponse, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %v", r.Status, status, r.Body)
	}
}

// ExpectProblem fails the test unless r is an application/problem+json
// response with status whose body carries the same status and the
// machine-readable code.
func ExpectProblem(t testing.TB, r HTTPResponse, status int, code string) {
	t.Helper()
	ExpectStatus(t, r, status)
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	if r.Body["code"] != code || r.Body["status"] != float64(status) {
		t.Fatalf("problem %v, want code %s", r.Body, code)
	}
}
