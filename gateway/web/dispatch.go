package web

import (
	"net/http"
	"strings"
)

// ForAPI reports whether r is for the JSON API (API.md) rather than for
// the storefront, which the gateway serves on every other path: its path
// is under /api/ (however many slashes lead it, so that "//api/..." is
// the API's 404, not a page's redirect into the API), or its client is an
// API client wherever it points. An API client sends a bearer token (the
// storefront's pages never do: their identity is the session cookie) or
// asks for JSON and not HTML. It gets API.md's problem+json 404 for an
// unknown route, never a web page.
func ForAPI(r *http.Request) bool {
	if strings.HasPrefix(strings.TrimLeft(r.URL.Path, "/"), "api/") || r.Header.Get("Authorization") != "" {
		return true
	}
	accept := r.Header.Get("Accept")
	return strings.Contains(accept, "json") && !strings.Contains(accept, "text/html")
}
