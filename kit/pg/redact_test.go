package pg

import (
	"strings"
	"testing"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"postgres://u:pw@h:5432/db?sslmode=disable", "postgres://u:xxxxx@h:5432/db?sslmode=disable"},
		{"postgresql://u:p%40ss@h/db", "postgresql://u:xxxxx@h/db"},
		{"postgres://u@h/db", "postgres://u@h/db"},
		{"postgres://h/db?password=pw&sslmode=disable", "postgres://h/db?password=xxxxx&sslmode=disable"},
		// Unparseable URLs are masked by pattern, greedily up to the last @.
		{"postgres://u:p@ss:x@h:port/db", "postgres://u:xxxxx@h:port/db"},
		{"postgres://u:pw%zz@h/db", "postgres://u:xxxxx@h/db"},
		{"host=h user=u password=pw dbname=d", "host=h user=u password=xxxxx dbname=d"},
		{"host=h password = 'p w\\' x' dbname=d", "host=h password = xxxxx dbname=d"},
		{"host=h PASSWORD=pw", "host=h PASSWORD=xxxxx"},
		// Malformed: the password's end is unknown, so all of it goes.
		{"host=h password='unterminated rest", "host=h password=xxxxx"},
		{"host=h password=two words dbname=d", "host=h password=xxxxx ..."},
		{"host=h user=u", "host=h user=u"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestScrub(t *testing.T) {
	for _, tc := range []struct{ dsn, text, secret string }{
		{"postgres://u:hunter2@h/db", `parse "postgres://u:hunter2@h/db": bad`, "hunter2"},
		{"postgres://u:hun%20ter2@h/db", `user "hun ter2" and "hun%20ter2"`, "hun"},
		{"host=h password=hunter2 tail", `missing "=" after "tail"`, "tail"},
		{"host=h password='hunter 2'", `"hunter 2"`, "hunter"},
	} {
		got := scrub(tc.text, tc.dsn)
		if strings.Contains(got, tc.secret) {
			t.Errorf("scrub(%q) for %q = %q, still shows %q", tc.text, tc.dsn, got, tc.secret)
		}
	}
	// Short fragments are left alone: masking every "a" would garble the
	// message without protecting anything.
	if got := scrub("a b", "host=h password=a"); got != "a b" {
		t.Errorf("scrub garbled %q", got)
	}
}
