package console

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/kitshop/kitshop/kit/kittest"
)

// Nobody logged in gets 401 (or is sent to the storefront's login), a
// customer gets 403, and neither page says anything about the platform.
func TestOnlyAdminsSeeTheConsole(t *testing.T) {
	kittest.CheckGoroutines(t)
	p := newPlatform(t)
	p.instance("users", "v1.2.3", http.StatusOK)
	srv := consoleServer(t, p.config(prometheus.NewRegistry()))

	a := get(t, srv, "/console", "")
	if a.status != http.StatusUnauthorized {
		t.Fatalf("no identity: status %d, want 401", a.status)
	}
	a = get(t, srv, "/console", "customer")
	if a.status != http.StatusForbidden {
		t.Fatalf("customer: status %d, want 403", a.status)
	}
	if strings.Contains(a.body, "v1.2.3") || strings.Contains(a.body, "users") {
		t.Fatalf("the 403 page shows platform data:\n%s", a.body)
	}
	wantContains(t, a.body, "403 Forbidden", "admins only")
	if a.header.Get("Content-Security-Policy") == "" {
		t.Fatal("the 403 page has no CSP")
	}

	// A script asking for JSON gets the platform's problem+json.
	a = get(t, srv, "/console", "customer", "Accept", "application/json")
	var prob map[string]any
	if err := json.Unmarshal([]byte(a.body), &prob); err != nil || a.status != http.StatusForbidden || prob["code"] != "PERMISSION_DENIED" {
		t.Fatalf("customer asking for JSON: %d %q", a.status, a.body)
	}

	cfg := p.config(prometheus.NewRegistry())
	cfg.LoginURL = "/login"
	redirecting := consoleServer(t, cfg)
	a = get(t, redirecting, "/console", "")
	if a.status != http.StatusSeeOther || a.header.Get("Location") != "/login?next=%2Fconsole" {
		t.Fatalf("no identity with a login page: %d to %q, want 303 to /login?next=%%2Fconsole", a.status, a.header.Get("Location"))
	}
	if a = get(t, redirecting, "/console", "customer"); a.status != http.StatusForbidden {
		t.Fatalf("customer with a login page: %d, want 403", a.status)
	}
}

// The console is read-only and serves only its page and its assets.
func TestMethodsAndPaths(t *testing.T) {
	kittest.CheckGoroutines(t)
	srv := consoleServer(t, Config{Identify: fakeIdentify})
	req, _ := http.NewRequest(http.MethodPost, srv.URL+"/console", strings.NewReader("x=1"))
	req.Header.Set(headerRole, "admin")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" {
		t.Fatalf("POST: %d Allow %q, want 405 with Allow", resp.StatusCode, resp.Header.Get("Allow"))
	}
	if a := get(t, srv, "/console/nothing", "admin"); a.status != http.StatusNotFound {
		t.Fatalf("unknown page: %d", a.status)
	}
	if a := get(t, srv, "/console/static/", "admin"); a.status != http.StatusNotFound {
		t.Fatalf("asset listing: %d, want 404", a.status)
	}
	if a := get(t, srv, "/console/static/../console.go", "admin"); a.status != http.StatusNotFound && a.status != http.StatusMovedPermanently {
		t.Fatalf("path escape: %d", a.status)
	}
	http.DefaultClient.CloseIdleConnections()
}

// Assets are served with their types, cacheable for long under their
// hashed URL, to anyone (the error pages use them).
func TestAssets(t *testing.T) {
	kittest.CheckGoroutines(t)
	srv := consoleServer(t, Config{Identify: fakeIdentify})
	page := get(t, srv, "/console", "admin")
	for _, m := range regexp.MustCompile(`(?:href|src)="(/console/static/[^"]+)"`).FindAllStringSubmatch(page.body, -1) {
		path := strings.ReplaceAll(m[1], "&amp;", "&")
		a := get(t, srv, path, "")
		if a.status != http.StatusOK || a.body == "" {
			t.Fatalf("%s: %d", path, a.status)
		}
		ct := a.header.Get("Content-Type")
		if !strings.HasPrefix(ct, "text/css") && !strings.HasPrefix(ct, "text/javascript") {
			t.Fatalf("%s: Content-Type %q", path, ct)
		}
		if !strings.Contains(a.header.Get("Cache-Control"), "immutable") {
			t.Fatalf("%s: Cache-Control %q", path, a.header.Get("Cache-Control"))
		}
	}
	if a := get(t, srv, "/console/static/console.css", ""); a.header.Get("Cache-Control") != "no-cache" {
		t.Fatalf("unversioned asset: Cache-Control %q, want no-cache", a.header.Get("Cache-Control"))
	}
}

// Every page carries a strict CSP, and nothing inline that it would have
// to allow: no inline script, style element, style attribute or event
// handler attribute.
func TestStrictCSPAndNoInlineScript(t *testing.T) {
	kittest.CheckGoroutines(t)
	srv := consoleServer(t, Config{Identify: fakeIdentify})
	for _, role := range []string{"admin", "customer", ""} {
		a := get(t, srv, "/console", role)
		csp := a.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'"} {
			if !strings.Contains(csp, want) {
				t.Fatalf("role %q: CSP %q lacks %q", role, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Fatalf("CSP allows inline code: %q", csp)
		}
		if a.header.Get("X-Content-Type-Options") != "nosniff" {
			t.Fatalf("role %q: no nosniff", role)
		}
		assertNoInlineCode(t, a.body)
	}
}

var (
	scriptTag   = regexp.MustCompile(`(?is)<script\b([^>]*)>(.*?)</script>`)
	styleTag    = regexp.MustCompile(`(?i)<style\b`)
	inlineAttrs = regexp.MustCompile(`(?i)<[^>]+\s(style|on[a-z]+)\s*=`)
	jsURL       = regexp.MustCompile(`(?i)(href|src)\s*=\s*"\s*javascript:`)
)

func assertNoInlineCode(t *testing.T, body string) {
	t.Helper()
	for _, m := range scriptTag.FindAllStringSubmatch(body, -1) {
		if !strings.Contains(m[1], "src=") || strings.TrimSpace(m[2]) != "" {
			t.Fatalf("inline script: %s", m[0])
		}
	}
	if styleTag.MatchString(body) || inlineAttrs.MatchString(body) || jsURL.MatchString(body) {
		t.Fatalf("inline style or handler in:\n%s", body)
	}
}
