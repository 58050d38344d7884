package config

import (
	"net/url"
	"regexp"
	"strings"
)

// redactedPassword replaces a password in a printed URL or DSN.
const redactedPassword = "xxxxx"

// dsnPassword finds password settings in a libpq key=value connection
// string, quoted (password='it\'s') or not.
var dsnPassword = regexp.MustCompile(`(?i)\b((?:ssl)?password\s*=\s*)('(?:[^'\\]|\\.)*'|\S*)`)

// RedactURL returns s fit for logs: the password of a URL's userinfo, any
// password query parameter (libpq accepts ?password=) and any password=
// setting of a key=value DSN are replaced. A string that is neither is
// returned unchanged if it cannot hold a secret, or withheld entirely when
// it looks like a URL that did not parse: better an unhelpful log line
// than a leaked credential.
func RedactURL(s string) string {
	if s == "" {
		return ""
	}
	if !strings.Contains(s, "://") {
		return dsnPassword.ReplaceAllString(s, "${1}"+redactedPassword)
	}
	u, err := url.Parse(s)
	if err != nil {
		return "[unparseable URL withheld]"
	}
	if q := u.Query(); q.Has("password") || q.Has("sslpassword") {
		for _, k := range []string{"password", "sslpassword"} {
			if q.Has(k) {
				q.Set(k, redactedPassword)
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}
