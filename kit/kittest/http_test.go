package kittest

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
)

// echo answers with a JSON object describing the request, or with what
// the X-Answer header asks for.
func echo(t *testing.T) HTTPClient {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.Header.Get("X-Answer") {
		case "empty":
			w.WriteHeader(http.StatusNoContent)
		case "text":
			_, _ = w.Write([]byte("plain words"))
		case "problem":
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte(`{"status":404,"code":"USER_NOT_FOUND","title":"Not Found"}`))
		default:
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("X-Seen-Path", r.URL.Path)
			_, _ = io.WriteString(w, `{"method":"`+r.Method+`","auth":"`+r.Header.Get("Authorization")+
				`","type":"`+r.Header.Get("Content-Type")+`","body_len":`+strconv.Itoa(len(body))+`}`)
		}
	}))
	t.Cleanup(func() {
		srv.Close()
		http.DefaultClient.CloseIdleConnections()
	})
	return HTTPClient{BaseURL: srv.URL}
}

func TestHTTPClientSends(t *testing.T) {
	c := echo(t)
	r := c.JSON(t, "POST", "/api/v1/things", "tok", `{"a":1}`)
	ExpectStatus(t, r, http.StatusOK)
	if r.Body["method"] != "POST" || r.Body["auth"] != "Bearer tok" || r.Body["type"] != "application/json" ||
		r.Body["body_len"] != float64(7) || r.Header.Get("X-Seen-Path") != "/api/v1/things" {
		t.Fatalf("server saw %v, headers %v", r.Body, r.Header)
	}
	r = c.Do(t, "GET", "/x", "", http.Header{"Content-Type": {"text/plain"}}, "")
	if r.Body["auth"] != "" || r.Body["type"] != "text/plain" || r.Body["body_len"] != float64(0) {
		t.Fatalf("server saw %v", r.Body)
	}
	r = c.Do(t, "DELETE", "/x", "", http.Header{"X-Answer": {"empty"}}, "")
	if r.Status != http.StatusNoContent || r.Body != nil {
		t.Fatalf("empty answer read as %d %v", r.Status, r.Body)
	}
	wantFatal(t, func(tb testing.TB) { c.Do(tb, "GET", "/x", "", http.Header{"X-Answer": {"text"}}, "") },
		"GET /x: body is not a JSON object", "plain words")
	wantFatal(t, func(tb testing.TB) { HTTPClient{BaseURL: "http://" + FreeAddr(t)}.Do(tb, "GET", "/x", "", nil, "") },
		"GET /x", "refused")
}

func TestExpectProblem(t *testing.T) {
	c := echo(t)
	problem := c.Do(t, "GET", "/u", "", http.Header{"X-Answer": {"problem"}}, "")
	ExpectProblem(t, problem, http.StatusNotFound, "USER_NOT_FOUND")

	wantFatal(t, func(tb testing.TB) { ExpectProblem(tb, problem, http.StatusBadRequest, "USER_NOT_FOUND") }, "status 404, want 400")
	wantFatal(t, func(tb testing.TB) { ExpectProblem(tb, problem, http.StatusNotFound, "OTHER") }, "want code OTHER")
	ok := c.JSON(t, "GET", "/u", "", "")
	wantFatal(t, func(tb testing.TB) { ExpectStatus(tb, ok, http.StatusCreated) }, "status 200, want 201")
	// A 404 that is not a problem document fails even with the right status.
	plain := HTTPResponse{Status: 404, Header: http.Header{"Content-Type": {"application/json"}}, Body: map[string]any{"code": "USER_NOT_FOUND", "status": float64(404)}}
	wantFatal(t, func(tb testing.TB) { ExpectProblem(tb, plain, 404, "USER_NOT_FOUND") }, "want application/problem+json")
	// The body's status must agree with the response's.
	skewed := HTTPResponse{Status: 404, Header: problem.Header, Body: map[string]any{"code": "USER_NOT_FOUND", "status": float64(500)}}
	wantFatal(t, func(tb testing.TB) { ExpectProblem(tb, skewed, 404, "USER_NOT_FOUND") }, "want code USER_NOT_FOUND")
}
