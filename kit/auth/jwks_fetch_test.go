package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	stdlog "log"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
)

// fetchFrom returns the error of a first Keys call on a source fetching
// url with client: nil when the keys were obtained.
func fetchFrom(t *testing.T, url string, client *http.Client, opts ...JWKSOption) error {
	t.Helper()
	src, err := typedSource(JWKSFromURL(func(context.Context) (string, error) { return url, nil }, client, opts...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(src.running.Wait)
	_, err = src.Keys(t.Context(), "")
	return err
}

func wantUnavailable(t *testing.T, err error, why string) {
	t.Helper()
	if e := errs.As(err); e == nil || e.Kind != errs.Unavailable || e.Message != "token signing keys are unavailable" {
		t.Fatalf("%s: err = %v, want Unavailable", why, err)
	}
}

func serveBody(t *testing.T, status int, body string) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return srv
}

func jwksJSON(t *testing.T, pubs ...ed25519.PublicKey) string {
	set := JWKS{}
	for _, p := range pubs {
		set.Keys = append(set.Keys, PublicJWK(p))
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestJWKSFetchIsBounded: a JWKS endpoint that never answers holds a
// request no longer than the fetch timeout, the default one included.
func TestJWKSFetchIsBounded(t *testing.T) {
	hung := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		select {
		case <-hung:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(hung) })
	for name, opts := range map[string][]JWKSOption{
		"default": nil,
		"100ms":   {JWKSFetchTimeout(100 * time.Millisecond)},
	} {
		t.Run(name, func(t *testing.T) {
			limit := newJWKSConfig(opts).fetchTimeout
			start := time.Now()
			wantUnavailable(t, fetchFrom(t, srv.URL, srv.Client(), opts...), "hung endpoint")
			if took := time.Since(start); took < limit || took > limit+time.Second {
				t.Fatalf("a hung fetch took %v, want about %v", took, limit)
			}
		})
	}
}

// TestJWKSFetchSizeLimit: a document over the limit is refused, not read
// truncated; one at the limit is read.
func TestJWKSFetchSizeLimit(t *testing.T) {
	pub, _ := newKey(t)
	doc := jwksJSON(t, pub)
	const limit = 1024
	atLimit := doc + strings.Repeat(" ", limit-len(doc)) // JSON allows trailing space
	srv := serveBody(t, 200, atLimit)
	if err := fetchFrom(t, srv.URL, srv.Client(), JWKSMaxBytes(limit)); err != nil {
		t.Fatalf("document of exactly the limit: %v", err)
	}
	over := serveBody(t, 200, atLimit+" ")
	wantUnavailable(t, fetchFrom(t, over.URL, over.Client(), JWKSMaxBytes(limit)), "document over the limit")

	huge := serveBody(t, 200, doc+strings.Repeat(" ", DefaultJWKSMaxBytes))
	wantUnavailable(t, fetchFrom(t, huge.URL, huge.Client()), "document over the default limit")
}

func TestJWKSFetchRefusesBadAnswers(t *testing.T) {
	pub, _ := newKey(t)
	for name, srv := range map[string]*httptest.Server{
		"status 500":       serveBody(t, 500, jwksJSON(t, pub)),
		"status 204":       serveBody(t, 204, ""),
		"not JSON":         serveBody(t, 200, "<html>users</html>"),
		"no usable key":    serveBody(t, 200, `{"keys":[{"kty":"RSA","kid":"r1","n":"AQAB","e":"AQAB"}]}`),
		"no keys":          serveBody(t, 200, `{"keys":[]}`),
		"keys not an list": serveBody(t, 200, `{"keys":{}}`),
	} {
		t.Run(name, func(t *testing.T) {
			wantUnavailable(t, fetchFrom(t, srv.URL, srv.Client()), name)
		})
	}
	for name, url := range map[string]string{
		"file URL":  "file:///etc/passwd",
		"no scheme": "127.0.0.1:1/.well-known/jwks.json",
		"no host":   "http:///.well-known/jwks.json",
	} {
		t.Run(name, func(t *testing.T) {
			wantUnavailable(t, fetchFrom(t, url, nil), name)
		})
	}
}

// TestJWKSFetchRefusesRedirects: the keys come from the address the
// resolver named, not from wherever that address points the client; and
// the caller's client is left as it was.
func TestJWKSFetchRefusesRedirects(t *testing.T) {
	pub, _ := newKey(t)
	elsewhere := newJWKSServer(t, pub)
	redirecting := httptest.NewServer(http.RedirectHandler(elsewhere.URL, http.StatusFound))
	t.Cleanup(redirecting.Close)
	client := redirecting.Client()
	wantUnavailable(t, fetchFrom(t, redirecting.URL, client), "redirect")
	wantFetches(t, elsewhere, 0, "the redirect was not followed")
	if client.CheckRedirect != nil {
		t.Fatal("the caller's client was modified")
	}
}

// TestJWKSFetchWithTLSClient: the client given is the one used (here the
// test server's, trusting its certificate), and a client configured for
// TLS refuses a plain-http URL, which would bypass the peer check the
// client exists for.
func TestJWKSFetchWithTLSClient(t *testing.T) {
	pub, priv := newKey(t)
	tlsSrv := httptest.NewUnstartedServer(JWKSHandler(pub))
	// The handshake refused below is expected; keep it out of the output.
	tlsSrv.Config.ErrorLog = stdlog.New(io.Discard, "", 0)
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	src := JWKSFromURL(func(context.Context) (string, error) { return tlsSrv.URL, nil }, tlsSrv.Client())
	if _, err := NewVerifier(src).Verify(t.Context(), sign(t, priv, claimsFor(user1, RoleCustomer))); err != nil {
		t.Fatalf("https with the server's client: %v", err)
	}
	wantUnavailable(t, fetchFrom(t, tlsSrv.URL, nil), "https with a client not trusting the server")

	plain := newJWKSServer(t, pub)
	wantUnavailable(t, fetchFrom(t, plain.URL, tlsSrv.Client()), "plain http with a TLS client")
	wantFetches(t, plain, 0, "no plain-http request with a TLS client")
}

// TestJWKSLogsFailuresAndChanges: a failed fetch and a changed key set
// are logged; a refresh that changes nothing is not.
func TestJWKSLogsFailuresAndChanges(t *testing.T) {
	pubA, _ := newKey(t)
	pubB, _ := newKey(t)
	srv := newJWKSServer(t, pubA)
	var logs kittest.LogBuffer
	src, clock := newJWKSSource(t, srv, JWKSLogger(log.NewJSONLogger(&logs)))
	refetch := func() {
		t.Helper()
		clock.Advance(DefaultJWKSRefreshInterval)
		_, _ = src.Keys(t.Context(), KeyID(pubA))
		src.running.Wait()
	}
	refetch()
	if l := logs.Find(t, "msg", "token signing keys (JWKS) changed"); l == nil || !strings.Contains(fmt.Sprint(l["kids"]), KeyID(pubA)) {
		t.Fatalf("first fetch not logged: %s", logs.String())
	}
	logs.Reset()
	refetch()
	if logs.String() != "" {
		t.Fatalf("an unchanged refresh logged: %s", logs.String())
	}
	srv.set(false, pubA, pubB)
	refetch()
	if l := logs.Find(t, "msg", "token signing keys (JWKS) changed"); l == nil || !strings.Contains(fmt.Sprint(l["kids"]), KeyID(pubB)) {
		t.Fatalf("rotation not logged: %s", logs.String())
	}
	logs.Reset()
	srv.set(true)
	refetch()
	if l := logs.Find(t, "level", "warn"); l == nil || !strings.Contains(fmt.Sprint(l["err"]), "status 503") {
		t.Fatalf("failed fetch not logged: %s", logs.String())
	}
}
