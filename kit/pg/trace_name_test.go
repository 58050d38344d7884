package pg

import (
	"strings"
	"testing"
)

func TestStatementNames(t *testing.T) {
	for query, want := range map[string]string{
		"SELECT id, name FROM products WHERE id = $1":                                                       "sql select products",
		"  -- why\n\tselect 1":                                                                              "sql select",
		"INSERT INTO orders (id, user_id) VALUES ($1, $2)":                                                  "sql insert orders",
		"UPDATE sagas\n\t\tSET state = $3 WHERE id = $1 AND version = $2":                                   "sql update sagas",
		"UPDATE ONLY sagas SET x = 1":                                                                       "sql update sagas",
		"DELETE FROM idempotency_keys WHERE expires_at < $1":                                                "sql delete idempotency_keys",
		"SELECT EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)":                          "sql select pg_catalog.pg_namespace",
		`SELECT * FROM "Orders"."Items" i JOIN x ON true`:                                                   "sql select orders.items",
		"WITH moved AS (DELETE FROM outbox WHERE id = $1 RETURNING *) INSERT INTO sent SELECT * FROM moved": "sql insert sent",
		"WITH s AS (SELECT id FROM sagas) UPDATE orders o SET status = $1 FROM s":                           "sql update orders",
		"SELECT count(*) FROM (SELECT 1 FROM users) u":                                                      "sql select",
		"SELECT * FROM users WHERE email = 'FROM x'":                                                        "sql select users",
		"BEGIN":                                 "sql begin",
		"LISTEN orders_events":                  "sql listen",
		"/* c */ CREATE SCHEMA IF NOT EXISTS x": "sql create",
		"":                                      "sql",
	} {
		if got := describe(query).name; got != want {
			t.Errorf("%q is named %q, want %q", query, got, want)
		}
	}
}

// The text on a span has the statement's placeholders but none of the
// values a literal could carry.
func TestStatementTextKeepsNoValue(t *testing.T) {
	q := "SELECT *\n\tFROM users  WHERE email = 'ada@example.com' AND note = E'it\\'s secret' " +
		"AND pin = $$1234$$ AND code = $tag$hidden$tag$ AND quote = 'o''neil' AND id = $1 AND \"odd\"\"col\" = $2 -- 'nope'"
	got := describe(q).text
	want := `SELECT * FROM users WHERE email = '?' AND note = '?' AND pin = '?' AND code = '?' AND quote = '?' AND id = $1 AND "odd""col" = $2`
	if got != want {
		t.Errorf("text\n%s\nwant\n%s", got, want)
	}
	for _, secret := range []string{"ada@", "secret", "1234", "hidden", "neil", "nope"} {
		if strings.Contains(got, secret) {
			t.Errorf("text %q keeps %q", got, secret)
		}
	}
	long := describe("SELECT '" + strings.Repeat("x", 10) + "', " + strings.Repeat("a, ", 3000) + "b").text
	if len(long) > maxStatementText+len("…") || !strings.HasSuffix(long, "…") {
		t.Errorf("a long statement's text is %d bytes, want it cut to %d", len(long), maxStatementText)
	}
}
