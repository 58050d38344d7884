package page

import (
	"encoding/base64"
	"errors"
	"math"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
)

type cursor struct {
	Name *string `json:"n,omitempty"`
	ID   string  `json:"i"`
}

func encode(t *testing.T, c cursor, bind string) string {
	t.Helper()
	tok, err := EncodeToken(c, bind)
	if err != nil {
		t.Fatalf("EncodeToken: %v", err)
	}
	return tok
}

// wantInvalid asserts err is the 400 INVALID_PAGE_TOKEN naming page_token.
func wantInvalid(t *testing.T, what string, err error) {
	t.Helper()
	e := errs.As(err)
	switch {
	case err == nil:
		t.Errorf("%s: accepted, want INVALID_PAGE_TOKEN", what)
	case e.Kind != errs.InvalidArgument || e.Reason != ReasonInvalidToken || e.HTTPStatus() != 400:
		t.Errorf("%s: err = %v (status %d), want 400 %s", what, err, e.HTTPStatus(), ReasonInvalidToken)
	case len(e.Fields) != 1 || e.Fields[0].Field != "page_token":
		t.Errorf("%s: fields %+v, want one on page_token", what, e.Fields)
	case !errors.Is(err, ErrInvalidToken):
		t.Errorf("%s: errors.Is(err, ErrInvalidToken) = false", what)
	}
}

func TestTokenRoundTrip(t *testing.T) {
	name := "Ünïcode \"quoted\" <name>"
	for _, bind := range []string{"", Fingerprint("q", "c")} {
		for _, in := range []cursor{{ID: "a"}, {Name: &name, ID: "b"}} {
			tok := encode(t, in, bind)
			if _, err := base64.RawURLEncoding.DecodeString(tok); err != nil {
				t.Fatalf("token %q is not unpadded base64url: %v", tok, err)
			}
			out, err := DecodeToken[cursor](tok, bind)
			if err != nil || out.ID != in.ID || (out.Name == nil) != (in.Name == nil) ||
				(in.Name != nil && *out.Name != *in.Name) {
				t.Errorf("bind %q: %+v came back as %+v, %v", bind, in, out, err)
			}
		}
	}
	// Scalars are cursors too.
	tok, err := EncodeToken(int64(42), "")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := DecodeToken[int64](tok, ""); err != nil || n != 42 {
		t.Errorf("int64 cursor: %d, %v", n, err)
	}
}

func TestTokenWrongBind(t *testing.T) {
	tok := encode(t, cursor{ID: "a"}, Fingerprint("shoes"))
	for _, bind := range []string{"", Fingerprint("hats"), Fingerprint("shoes", "")} {
		_, err := DecodeToken[cursor](tok, bind)
		wantInvalid(t, "bind "+bind, err)
	}
	// A token for an unfiltered list does not page a filtered one.
	_, err := DecodeToken[cursor](encode(t, cursor{ID: "a"}, ""), Fingerprint("shoes"))
	wantInvalid(t, "unfiltered token, filtered list", err)
}

func TestTokenRefusesGarbage(t *testing.T) {
	b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	good := encode(t, cursor{ID: "a"}, "")
	raw, _ := base64.RawURLEncoding.DecodeString(good)
	for what, tok := range map[string]string{
		"empty":             "",
		"not base64":        "%%%",
		"padded":            base64.URLEncoding.EncodeToString(raw),
		"std alphabet":      base64.StdEncoding.EncodeToString([]byte(`{"b":"","c":{"i":"a?>"}}`)),
		"truncated":         good[:len(good)-3],
		"not json":          b64("hello"),
		"json null":         b64("null"),
		"array":             b64(`["", {"i":"a"}]`),
		"trailing garbage":  b64(string(raw) + "x"),
		"trailing value":    b64(string(raw) + ` {}`),
		"no bind":           b64(`{"c":{"i":"a"}}`),
		"no cursor":         b64(`{"b":""}`),
		"null cursor":       b64(`{"b":"","c":null}`),
		"unknown member":    b64(`{"b":"","c":{"i":"a"},"x":1}`),
		"unknown in cursor": b64(`{"b":"","c":{"i":"a","x":1}}`),
		"wrong type":        b64(`{"b":"","c":{"i":7}}`),
		"cursor not object": b64(`{"b":"","c":"a"}`),
		"bind not string":   b64(`{"b":0,"c":{"i":"a"}}`),
		"wrong case":        b64(`{"B":"","c":{"i":"a"}}`),
		"duplicate member":  b64(`{"b":"","c":{"i":"a","i":"b"}}`),
		"duplicate bind":    b64(`{"b":"x","b":"","c":{"i":"a"}}`),
		"invalid utf-8":     b64("{\"b\":\"\",\"c\":{\"i\":\"\xff\"}}"),
	} {
		_, err := DecodeToken[cursor](tok, "")
		wantInvalid(t, what, err)
	}
	// The hand-made tokens above are refused for their content, not
	// because hand-made tokens never work.
	if c, err := DecodeToken[cursor](b64(`{"b":"","c":{"i":"a"}}`), ""); err != nil || c.ID != "a" {
		t.Fatalf("hand-made valid token: %+v, %v", c, err)
	}
}

func TestEncodeTokenUnencodable(t *testing.T) {
	for what, c := range map[string]any{
		"NaN":          math.NaN(),
		"infinity":     math.Inf(1),
		"invalid utf8": "\xff",
		"channel":      make(chan int),
	} {
		tok, err := EncodeToken(c, "")
		if tok != "" || errs.KindOf(err) != errs.Internal {
			t.Errorf("%s: %q, %v; want an Internal error", what, tok, err)
		}
	}
}

func TestFingerprint(t *testing.T) {
	seen := map[string][]string{}
	for _, parts := range [][]string{
		nil, {""}, {"", ""}, {"ab", "c"}, {"a", "bc"}, {"abc"}, {"a", "b", "c"},
		{"shoes", "-", "-"}, {"shoes", "-", "100"}, {"shoes", "100", "-"},
	} {
		fp := Fingerprint(parts...)
		if prev, dup := seen[fp]; dup {
			t.Errorf("Fingerprint(%q) = Fingerprint(%q) = %s", parts, prev, fp)
		}
		seen[fp] = parts
		if again := Fingerprint(parts...); again != fp {
			t.Errorf("Fingerprint(%q) is not stable: %s then %s", parts, fp, again)
		}
	}
}
