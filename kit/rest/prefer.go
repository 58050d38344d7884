package rest

import (
	"net/http"
	"strings"
)

// Prefers reports whether h's Prefer headers (RFC 7240) ask for the
// preference named token ("respond-async"), in any case, with or without
// a value or parameters ("wait=10; x=y"). Preferences are comma-separated
// and may come in several headers; a comma inside a quoted value does not
// split them. A hook turns the answer into a request field:
//
//	Hook: func(r *http.Request, req *pb.CreateOrderRequest, _ rest.Members) error {
//		req.RespondAsync = rest.Prefers(r.Header, "respond-async")
//		return nil
//	},
func Prefers(h http.Header, token string) bool {
	for _, line := range h.Values("Prefer") {
		for _, pref := range splitPreferences(line) {
			name := pref
			if i := strings.IndexAny(name, "=;"); i >= 0 {
				name = name[:i]
			}
			if strings.EqualFold(strings.TrimSpace(name), token) {
				return true
			}
		}
	}
	return false
}

// splitPreferences splits a Prefer header value at the commas outside
// quoted strings.
func splitPreferences(s string) []string {
	var out []string
	quoted, escaped, start := false, false, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case escaped:
			escaped = false
		case quoted && c == '\\':
			escaped = true
		case c == '"':
			quoted = !quoted
		case c == ',' && !quoted:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}
