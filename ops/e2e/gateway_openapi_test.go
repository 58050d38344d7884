package e2e

import (
	"encoding/json"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// frontRoutes are API.md's endpoint tables, plus the document itself:
// what the gateway serves under /api/v1, each with who may call it
// ("" anyone, "user" a bearer token, "admin" the admin role).
var frontRoutes = map[string]string{
	"POST /api/v1/users":             "",
	"POST /api/v1/auth/login":        "",
	"GET /api/v1/users/me":           "user",
	"PATCH /api/v1/users/me":         "user",
	"GET /api/v1/users/{}":           "user",
	"GET /api/v1/products":           "",
	"GET /api/v1/products/{}":        "",
	"POST /api/v1/products":          "admin",
	"PATCH /api/v1/products/{}":      "admin",
	"POST /api/v1/products/{}/stock": "admin",
	"POST /api/v1/orders":            "user",
	"GET /api/v1/orders/{}":          "user",
	"GET /api/v1/orders":             "user",
	"POST /api/v1/orders/{}/cancel":  "user",
	"POST /api/v1/orders/{}/ship":    "admin",
	"GET /api/v1/payments/{}":        "user",
	"GET /api/v1/openapi.json":       "",
}

// frontParam is a path parameter in an OpenAPI path template.
var frontParam = regexp.MustCompile(`\{[^}]*\}`)

// openAPI: GET /api/v1/openapi.json is an OpenAPI 3.1 document whose
// operations are exactly API.md's routes, each with the access API.md
// gives it, and each of them was exercised with success by the other
// subtests (through the recording client); no request that succeeded
// under /api/v1 went to a route the document does not have.
func (s *storefront) openAPI(t *testing.T) {
	r := s.send(t, http.MethodGet, "/api/v1/openapi.json", "", "").want(t, http.StatusOK)
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("content type %q", ct)
	}
	var doc struct {
		OpenAPI string                               `json:"openapi"`
		Paths   map[string]map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(r.Raw, &doc); err != nil {
		t.Fatalf("the document is not JSON of the expected shape: %v", err)
	}
	if !strings.HasPrefix(doc.OpenAPI, "3.1") {
		t.Errorf("openapi %q, want 3.1", doc.OpenAPI)
	}
	documented := map[string]string{}
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if !slices.Contains([]string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}, method) {
				continue // path-level members such as parameters
			}
			documented[strings.ToUpper(method)+" "+frontParam.ReplaceAllString(path, "{}")] = frontAccess(op)
		}
	}
	for route, access := range frontRoutes {
		got, ok := documented[route]
		switch {
		case !ok:
			t.Errorf("%s is not in the document", route)
		case got != access:
			t.Errorf("%s: the document says access %q, API.md %q", route, got, access)
		}
	}
	for route := range documented {
		if _, ok := frontRoutes[route]; !ok {
			t.Errorf("the document has %s, which API.md does not", route)
		}
	}

	exchanges := s.rec.exchanges()
	for route := range frontRoutes {
		if !slices.ContainsFunc(exchanges, func(x frontExchange) bool { return x.status < 300 && frontMatches(route, x) }) {
			t.Errorf("no subtest exercised %s successfully", route)
		}
	}
	for _, x := range exchanges {
		// CORS preflights are answered for any path, before routing.
		if x.status >= 300 || !strings.HasPrefix(x.path, "/api/") || x.method == http.MethodOptions {
			continue
		}
		if !slices.ContainsFunc(slices.Collect(maps.Keys(documented)), func(route string) bool { return frontMatches(route, x) }) {
			t.Errorf("%s %s succeeded (%d) but is not in the document", x.method, x.path, x.status)
		}
	}
}

// frontAccess reads an operation's security: "" for none, "admin" when it
// requires the admin role, "user" for any bearer token.
func frontAccess(op map[string]any) string {
	sec, _ := op["security"].([]any)
	if len(sec) == 0 {
		return ""
	}
	for _, req := range sec {
		m, _ := req.(map[string]any)
		for _, roles := range m {
			if list, _ := roles.([]any); slices.Contains(list, any("admin")) {
				return "admin"
			}
		}
	}
	return "user"
}

// frontMatches reports whether an exchange went to route ("GET
// /api/v1/orders/{}"): the method, and the path with each {} one
// segment.
func frontMatches(route string, x frontExchange) bool {
	method, tmpl, _ := strings.Cut(route, " ")
	if x.method != method {
		return false
	}
	want, got := strings.Split(tmpl, "/"), strings.Split(x.path, "/")
	if len(want) != len(got) {
		return false
	}
	for i := range want {
		if want[i] != "{}" && want[i] != got[i] || want[i] == "{}" && got[i] == "" {
			return false
		}
	}
	return true
}

// cors: a gateway configured with an origin answers that origin's
// preflight with the allow headers, and another origin's without any;
// the actual responses expose the API's headers to the allowed origin
// only.
func (s *storefront) cors(t *testing.T) {
	preflight := func(origin string) frontReply {
		req, err := http.NewRequest(http.MethodOptions, s.base+"/api/v1/orders", nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", http.MethodPost)
		req.Header.Set("Access-Control-Request-Headers", "authorization,content-type,idempotency-key")
		return s.do(t, req)
	}
	r := preflight(frontOrigin)
	if r.Status >= 300 {
		t.Fatalf("preflight status %d: %s", r.Status, r.Raw)
	}
	h := r.Header
	if h.Get("Access-Control-Allow-Origin") != frontOrigin || !strings.Contains(h.Get("Access-Control-Allow-Methods"), "POST") ||
		!frontContainsFold(h.Get("Access-Control-Allow-Headers"), "authorization", "content-type", "idempotency-key") ||
		h.Get("Access-Control-Max-Age") == "" || h.Get("Access-Control-Allow-Credentials") != "" {
		t.Errorf("preflight from %s: %v", frontOrigin, h)
	}
	r = preflight("https://evil.example")
	for name := range r.Header {
		if strings.HasPrefix(name, "Access-Control-") {
			t.Errorf("preflight from another origin: %s: %s", name, r.Header.Get(name))
		}
	}

	for origin, allowed := range map[string]bool{frontOrigin: true, "https://evil.example": false} {
		r := s.send(t, http.MethodGet, "/api/v1/products?page_size=1", "", "", "Origin", origin).want(t, http.StatusOK)
		got := r.Header.Get("Access-Control-Allow-Origin")
		if allowed != (got == origin) || !allowed && got != "" {
			t.Errorf("GET from %s: Access-Control-Allow-Origin %q", origin, got)
		}
		if allowed && !frontContainsFold(r.Header.Get("Access-Control-Expose-Headers"), "x-request-id", "location", "retry-after", "ratelimit-remaining") {
			t.Errorf("GET from %s: Access-Control-Expose-Headers %q", origin, r.Header.Get("Access-Control-Expose-Headers"))
		}
		if !strings.Contains(strings.Join(r.Header.Values("Vary"), ","), "Origin") {
			t.Errorf("GET from %s: Vary %q, want Origin (a cache must not serve one origin's answer to another)", origin, r.Header.Values("Vary"))
		}
	}
}

// frontContainsFold reports whether the comma-separated list has every want,
// ignoring case.
func frontContainsFold(list string, want ...string) bool {
	var have []string
	for _, v := range strings.Split(list, ",") {
		have = append(have, strings.ToLower(strings.TrimSpace(v)))
	}
	for _, w := range want {
		if !slices.Contains(have, strings.ToLower(w)) {
			return false
		}
	}
	return true
}
