package web

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"
)

// SessionKeySize is the length of KITSHOP_SESSION_KEY once base64-decoded
// (AES-256-GCM).
const SessionKeySize = 32

// sessionCookie names the UI session. The __Host- prefix (under TLS)
// makes browsers refuse it unless it is Secure, host-only and Path=/, so
// a sibling subdomain cannot plant one.
const (
	sessionCookie       = "kitshop_session"
	secureSessionCookie = "__Host-kitshop_session"
)

// anonymousLifetime is how long a session without a login (a visitor's
// cart and CSRF token) lives.
const anonymousLifetime = 24 * time.Hour

// maxCookieBytes keeps the sealed session under the 4096 bytes every
// browser stores for a cookie, name and attributes included.
const maxCookieBytes = 3800

// session is what the UI remembers about a browser, sealed into its
// cookie: no gateway instance keeps any state, so every instance can
// serve every request, and nothing is lost when one restarts.
type session struct {
	// ID is random; it keys the per-browser bound on live streams.
	ID string `json:"id"`
	// CSRF is the synchronizer token every form posts back.
	CSRF string `json:"csrf"`
	// Token is the user's access token (JWT) after a login; the browser
	// holds it only sealed, in an HttpOnly cookie scripts cannot read.
	Token string `json:"tok,omitempty"`
	// Name is the logged-in user's name, for the page header.
	Name string `json:"name,omitempty"`
	// Expires is the session's end: the token's expiry after a login.
	Expires int64 `json:"exp"`
	Cart    cart  `json:"cart,omitempty"`
}

func newSession(now time.Time) *session {
	return &session{ID: randomToken(), CSRF: randomToken(), Expires: now.Add(anonymousLifetime).Unix()}
}

// randomToken is 128 random bits, URL-safe.
func randomToken() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b) // crypto/rand.Read never fails (Go 1.24+).
	return base64.RawURLEncoding.EncodeToString(b)
}

// sealer seals sessions with AES-256-GCM: confidential (the token inside
// is a credential) and authenticated (a forged or altered cookie opens
// to nothing).
type sealer struct {
	aead cipher.AEAD
}

func newSealer(key []byte) (*sealer, error) {
	if len(key) != SessionKeySize {
		return nil, fmt.Errorf("web: the session key must be %d bytes, got %d", SessionKeySize, len(key))
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// ParseSessionKey decodes KITSHOP_SESSION_KEY (standard or URL-safe
// base64 of 32 bytes). Empty yields a random key, good for one process:
// sessions then do not survive a restart nor move between instances.
func ParseSessionKey(s string) (key []byte, generated bool, err error) {
	if s == "" {
		key = make([]byte, SessionKeySize)
		_, _ = rand.Read(key)
		return key, true, nil
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if key, err = enc.DecodeString(s); err == nil {
			break
		}
	}
	if err != nil || len(key) != SessionKeySize {
		return nil, false, fmt.Errorf("KITSHOP_SESSION_KEY must be %d bytes in base64 (openssl rand -base64 32)", SessionKeySize)
	}
	return key, false, nil
}

// cookieName is the session cookie's name for r: the __Host- one when r
// came over TLS.
func cookieName(r *http.Request) string {
	if r.TLS != nil {
		return secureSessionCookie
	}
	return sessionCookie
}

// seal returns the cookie value of sess. The cookie's name is the
// additional data, so a value cannot be replayed under another name.
func (s *sealer) seal(sess *session, name string) (string, error) {
	plain, err := json.Marshal(sess)
	if err != nil {
		return "", err
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	_, _ = rand.Read(nonce)
	v := base64.RawURLEncoding.EncodeToString(s.aead.Seal(nonce, nonce, plain, []byte(name)))
	if len(v) > maxCookieBytes {
		return "", errors.New("web: session too large for a cookie")
	}
	return v, nil
}

// open returns the session of r's cookie, or nil when there is none, it
// does not open (another key, tampered) or it has expired.
func (s *sealer) open(r *http.Request, now time.Time) *session {
	name := cookieName(r)
	c, err := r.Cookie(name)
	if err != nil || len(c.Value) > maxCookieBytes {
		return nil
	}
	raw, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(raw) < s.aead.NonceSize() {
		return nil
	}
	nonce, box := raw[:s.aead.NonceSize()], raw[s.aead.NonceSize():]
	plain, err := s.aead.Open(nil, nonce, box, []byte(name))
	if err != nil {
		return nil
	}
	var sess session
	if json.Unmarshal(plain, &sess) != nil || sess.ID == "" || sess.CSRF == "" || now.Unix() >= sess.Expires {
		return nil
	}
	return &sess
}

// write sets sess as w's session cookie: HttpOnly (no script reads it),
// SameSite=Strict (no other site's page sends it), Secure under TLS, and
// expiring with the session.
func (s *sealer) write(w http.ResponseWriter, r *http.Request, sess *session) error {
	name := cookieName(r)
	v, err := s.seal(sess, name)
	if err != nil {
		return err
	}
	http.SetCookie(w, &http.Cookie{
		Name: name, Value: v, Path: "/",
		Expires: time.Unix(sess.Expires, 0), MaxAge: int(time.Until(time.Unix(sess.Expires, 0)) / time.Second),
		HttpOnly: true, Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	return nil
}
