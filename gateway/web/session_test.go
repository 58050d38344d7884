package web

import (
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// A sealed session opens only with its key, unaltered, under its own
// cookie name and before it expires.
func TestSealedSessionsOpenOnlyWhenGenuine(t *testing.T) {
	key, generated, err := ParseSessionKey("")
	if err != nil || !generated {
		t.Fatalf("random key: %v %v", generated, err)
	}
	seal, err := newSealer(key)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	sess := newSession(now)
	sess.Token = "header.payload.signature"
	v, err := seal.seal(sess, sessionCookie)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(v, "payload") {
		t.Fatal("the sealed value shows the token")
	}
	req := func(name, value string) *http.Request {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.AddCookie(&http.Cookie{Name: name, Value: value})
		return r
	}
	if got := seal.open(req(sessionCookie, v), now); got == nil || got.Token != sess.Token || got.CSRF != sess.CSRF {
		t.Fatalf("genuine session: %+v", got)
	}
	raw, _ := base64.RawURLEncoding.DecodeString(v)
	raw[len(raw)-1] ^= 1
	otherKey, _, _ := ParseSessionKey(base64.StdEncoding.EncodeToString(make([]byte, SessionKeySize)))
	other, _ := newSealer(otherKey)
	for name, r := range map[string]*http.Request{
		"tampered":           req(sessionCookie, base64.RawURLEncoding.EncodeToString(raw)),
		"under another name": req(secureSessionCookie, v),
		"garbage":            req(sessionCookie, "%%%"),
	} {
		if got := seal.open(r, now); got != nil {
			t.Errorf("%s session opened: %+v", name, got)
		}
	}
	if got := other.open(req(sessionCookie, v), now); got != nil {
		t.Error("a session opened with another key")
	}
	if got := seal.open(req(sessionCookie, v), now.Add(anonymousLifetime+time.Second)); got != nil {
		t.Error("an expired session opened")
	}
}

func TestParseSessionKey(t *testing.T) {
	good := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", SessionKeySize)))
	if k, gen, err := ParseSessionKey(good); err != nil || gen || len(k) != SessionKeySize {
		t.Fatalf("%q: %v %v %v", good, len(k), gen, err)
	}
	for _, bad := range []string{"short", base64.StdEncoding.EncodeToString(make([]byte, 16)), "not base64 !!"} {
		if _, _, err := ParseSessionKey(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
