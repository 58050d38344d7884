package contract

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// fakeT records the first failure instead of ending the test, so the
// runner's own failures can be asserted.
type fakeT struct{ failed string }

func (f *fakeT) Helper() {}
func (f *fakeT) Fatalf(format string, args ...any) {
	if f.failed == "" {
		f.failed = fmt.Sprintf(format, args...)
	}
}

func server(t *testing.T) string {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /things", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/things/t1")
		w.WriteHeader(201)
		fmt.Fprint(w, `{"id":"t1","name":"mug","count":2,"at":"2024-05-01T12:00:00Z","secret":null}`)
	})
	mux.HandleFunc("GET /things/t1", func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer tok" {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(401)
			fmt.Fprint(w, `{"status":401,"code":"UNAUTHENTICATED"}`)
			return
		}
		fmt.Fprint(w, `{"id":"t1"}`)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func thing(extra map[string]Matcher) Matcher {
	m := map[string]Matcher{"id": Equal("{id}"), "name": NonEmpty(), "count": IntValue(2), "at": Time(), "secret": Null()}
	for k, v := range extra {
		m[k] = v
	}
	return Object(m)
}

func TestRunPassesAndCaptures(t *testing.T) {
	base := server(t)
	ft := &fakeT{}
	Run(ft, base, []Case{
		{Name: "create", Method: "POST", Path: "/things", Body: `{}`, Status: 201,
			Capture: map[string]string{"id": "id"}, Shape: thing(nil), Headers: map[string]string{"Location": "/things/{id}"}},
		{Name: "anonymous", Method: "GET", Path: "/things/{id}", Status: 401, Problem: "UNAUTHENTICATED",
			Shape: Members(map[string]Matcher{"status": IntValue(401)})},
		{Name: "with token", Method: "GET", Path: "/things/{id}", Token: "tok", Status: 200},
	}, Vars{"tok": "tok"})
	if ft.failed != "" {
		t.Fatal(ft.failed)
	}
}

func TestRunCatchesBrokenPromises(t *testing.T) {
	base := server(t)
	create := Case{Name: "create", Method: "POST", Path: "/things", Body: `{}`, Status: 201, Capture: map[string]string{"id": "id"}}
	for name, c := range map[string]struct {
		c    Case
		want string
	}{
		"status":         {Case{Method: "POST", Path: "/things", Status: 200}, "status 201, want 200"},
		"missing member": {Case{Method: "POST", Path: "/things", Status: 201, Shape: thing(map[string]Matcher{"price": Int()})}, `no member "price"`},
		"extra member":   {Case{Method: "POST", Path: "/things", Status: 201, Shape: Object(map[string]Matcher{"id": String()})}, "unexpected members [at count name secret]"},
		"wrong value":    {Case{Method: "POST", Path: "/things", Status: 201, Shape: thing(map[string]Matcher{"count": IntValue(3)})}, "count: want 3"},
		"header":         {Case{Method: "POST", Path: "/things", Status: 201, Headers: map[string]string{"Location": "/x"}}, "header Location"},
		"problem code":   {Case{Method: "GET", Path: "/things/t1", Status: 401, Problem: "FORBIDDEN"}, "problem code UNAUTHENTICATED"},
		"problem member": {Case{Method: "GET", Path: "/things/t1", Status: 401, Problem: "UNAUTHENTICATED",
			Shape: Members(map[string]Matcher{"order": Null()})}, `no member "order"`},
		"unknown token": {Case{Method: "GET", Path: "/things/t1", Token: "nope", Status: 200}, `no variable "nope"`},
	} {
		ft := &fakeT{}
		Run(ft, base, []Case{create, c.c}, nil)
		if !strings.Contains(ft.failed, c.want) {
			t.Errorf("%s: failure %q, want it to mention %q", name, ft.failed, c.want)
		}
	}
}

func TestMatchers(t *testing.T) {
	vars := Vars{"x": "1"}
	for _, c := range []struct {
		m    Matcher
		v    any
		pass bool
	}{
		{UUID(), "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", true},
		{UUID(), "6F1C1A52-7D4C-4C59-9A55-2F0F2F2F2F2F", false},
		{Time(), "2024-05-01T12:00:00.5Z", true},
		{Time(), "2024-05-01T14:00:00+02:00", false},
		{Int(), 2.0, true},
		{Int(), 2.5, false},
		{Equal("a{x}"), "a1", true},
		{Nullable(String()), nil, true},
		{Nullable(String()), 1.0, false},
		{Array(Int()), []any{1.0, 2.0}, true},
		{Array(Int()), []any{1.0, "2"}, false},
		{Bool(), false, true},
		{NonEmpty(), "", false},
	} {
		if err := c.m(c.v, vars); (err == nil) != c.pass {
			t.Errorf("%v: %v, want pass=%v", c.v, err, c.pass)
		}
	}
}

// roundTripFunc is an http.RoundTripper made of a function.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// WithClient's client sends every case: a gateway test hands Run one
// that trusts its CA, or one that records the routes it exercised.
func TestRunWithClient(t *testing.T) {
	base := server(t)
	var sent []string
	client := &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		sent = append(sent, r.Method+" "+r.URL.Path)
		return http.DefaultTransport.RoundTrip(r)
	})}
	ft := &fakeT{}
	Run(ft, base, []Case{
		{Name: "create", Method: "POST", Path: "/things", Body: `{}`, Status: 201, Capture: map[string]string{"id": "id"}},
		{Name: "read", Method: "GET", Path: "/things/{id}", Token: "tok", Status: 200},
	}, Vars{"tok": "tok"}, WithClient(client))
	if ft.failed != "" {
		t.Fatal(ft.failed)
	}
	if want := []string{"POST /things", "GET /things/t1"}; strings.Join(sent, ",") != strings.Join(want, ",") {
		t.Fatalf("the client sent %v, want %v", sent, want)
	}

	// A nil client keeps the default rather than panicking.
	ft = &fakeT{}
	Run(ft, base, []Case{{Name: "read", Method: "GET", Path: "/things/t1", Token: "tok", Status: 200}}, Vars{"tok": "tok"}, WithClient(nil))
	if ft.failed != "" {
		t.Fatal(ft.failed)
	}
}
