package pg

import (
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// mask replaces secrets. It is the same text net/url's Redacted uses, so a
// redacted URL reads the same whichever path produced it.
const mask = "xxxxx"

var (
	// urlUserinfo matches the user:password@ part of a postgres URL even when
	// net/url cannot parse it. The password part is greedy up to the last '@'
	// on purpose: over-masking a malformed URL is harmless, leaking is not.
	urlUserinfo = regexp.MustCompile(`(?i)^(postgres(?:ql)?://[^:/?#@]*:)(.*)@`)
	// urlPasswordParam matches ?password=... / &password=... in a URL.
	urlPasswordParam = regexp.MustCompile(`(?i)([?&]password=)([^&#]*)`)
	// kvPassword matches password=... in a key=value DSN: a quoted value
	// (with backslash escapes), an unterminated quote running to the end, or
	// a bare word.
	kvPassword = regexp.MustCompile(`(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'|'.*$|\S*)`)
	// kvPasswordRest matches from password= to the end: in a string that
	// failed to parse, where the password ends is anyone's guess.
	kvPasswordRest = regexp.MustCompile(`(?is)(\bpassword\s*=).*$`)
)

func isURL(dsn string) bool {
	l := strings.ToLower(dsn)
	return strings.HasPrefix(l, "postgres://") || strings.HasPrefix(l, "postgresql://")
}

// Redact returns dsn, a postgres:// URL or a key=value connection string,
// with every password masked, so it can be logged or put in an error.
// Malformed input is masked too, as well as can be done without parsing it.
func Redact(dsn string) string {
	if !isURL(dsn) {
		return redactKV(dsn)
	}
	if u, err := url.Parse(dsn); err == nil {
		q := u.Query()
		if q.Has("password") {
			q.Set("password", mask)
			u.RawQuery = q.Encode()
		}
		return u.Redacted()
	}
	s := urlUserinfo.ReplaceAllString(dsn, "${1}"+mask+"@")
	return urlPasswordParam.ReplaceAllString(s, "${1}"+mask)
}

// redactKV masks password values in a key=value string. When a word
// without '=' follows the password, the string is malformed (an unquoted
// space in the password, most likely) and where the password ends is
// anyone's guess, so everything after password= is masked.
func redactKV(dsn string) string {
	if m := kvPassword.FindStringSubmatchIndex(dsn); m != nil {
		for _, w := range strings.Fields(dsn[m[1]:]) {
			if !strings.Contains(w, "=") {
				return kvPasswordRest.ReplaceAllString(dsn, "${1}"+mask+" ...")
			}
		}
	}
	return kvPassword.ReplaceAllString(dsn, "${1}"+mask)
}

// secrets lists the password as it may appear in an error text about dsn:
// raw, unescaped, and split at spaces (a parser that stumbled over an
// unquoted space quotes the remainder in its message).
func secrets(dsn string) []string {
	var raw []string
	if isURL(dsn) {
		if u, err := url.Parse(dsn); err == nil {
			if pw, ok := u.User.Password(); ok {
				raw = append(raw, pw)
			}
			raw = append(raw, u.Query()["password"]...)
		}
		if m := urlUserinfo.FindStringSubmatch(dsn); m != nil {
			raw = append(raw, m[2])
		}
		for _, m := range urlPasswordParam.FindAllStringSubmatch(dsn, -1) {
			raw = append(raw, m[2])
		}
	} else {
		for _, m := range kvPassword.FindAllStringSubmatch(dsn, -1) {
			raw = append(raw, m[2], strings.Trim(m[2], "'"))
		}
		// A malformed string's parser may quote any word after password=.
		if m := kvPasswordRest.FindString(dsn); m != "" {
			_, rest, _ := strings.Cut(m, "=")
			for _, w := range strings.Fields(rest) {
				raw = append(raw, strings.Trim(w, `'"`))
			}
		}
	}
	var out []string
	for _, s := range raw {
		out = append(out, s)
		if u, err := url.PathUnescape(s); err == nil {
			out = append(out, u)
		}
		out = append(out, strings.Fields(s)...)
	}
	// Longest first, so a secret is masked whole before its fragments are.
	var kept []string
	for _, s := range out {
		if len(s) >= 3 {
			kept = append(kept, s)
		}
	}
	slices.SortFunc(kept, func(a, b string) int { return len(b) - len(a) })
	return kept
}

// scrub removes dsn's password from text, an error message that may quote
// the DSN in whole or in part.
func scrub(text, dsn string) string {
	for _, s := range secrets(dsn) {
		text = strings.ReplaceAll(text, s, mask)
	}
	return text
}

// redactedError carries a cause whose message may quote the DSN. Error()
// is scrubbed; Unwrap still reaches the cause so errors.As finds *pq.Error.
// Only causes that come from talking to the server are kept: those never
// contain the password, but the scrub is cheap insurance.
type redactedError struct {
	msg   string
	cause error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.cause }
