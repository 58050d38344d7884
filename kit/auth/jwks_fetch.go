package auth

import (
	"context"
	"crypto/ed25519"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"
)

// jwksFetcher gets and decodes one JWKS document.
type jwksFetcher struct {
	url    func(ctx context.Context) (string, error)
	client *http.Client
	// httpsOnly is set when the client carries a TLS configuration: a
	// plain-http URL would silently bypass it (and the peer identity check
	// it exists for), so such a URL is refused instead.
	httpsOnly bool
	maxBytes  int64
}

// errRedirect refuses redirects: the document must come from the address
// the resolver named, over the connection the client's TLS checked.
var errRedirect = errors.New("auth: the JWKS endpoint answered with a redirect, which is not followed")

func newJWKSFetcher(resolve func(ctx context.Context) (string, error), client *http.Client, maxBytes int64) jwksFetcher {
	if client == nil {
		client = http.DefaultClient
	}
	// A shallow copy, so that refusing redirects does not change the
	// caller's client; the transport (and its connections) is shared.
	c := *client
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return errRedirect }
	return jwksFetcher{url: resolve, client: &c, httpsOnly: hasTLSConfig(client), maxBytes: maxBytes}
}

// hasTLSConfig reports whether client's transport was configured for TLS
// (an mTLS client, typically).
func hasTLSConfig(client *http.Client) bool {
	t, ok := client.Transport.(*http.Transport)
	return ok && t != nil && t.TLSClientConfig != nil
}

// fetch resolves the URL and fetches the key set, all within timeout. A
// fetch serves every caller waiting for it, so it has its own deadline
// rather than any one caller's.
func (f jwksFetcher) fetch(timeout time.Duration) (map[string]ed25519.PublicKey, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, err := f.url(ctx)
	if err != nil {
		return nil, fmt.Errorf("auth: resolving the JWKS URL: %w", err)
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("auth: JWKS URL %q is not an http(s) URL", raw)
	}
	if f.httpsOnly && u.Scheme != "https" {
		return nil, fmt.Errorf("auth: JWKS URL %s is not https, but the client is configured for TLS", u.Redacted())
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("auth: JWKS request: %w", err)
	}
	req.Header.Set("Accept", "application/jwk-set+json, application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("auth: fetching JWKS: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("auth: fetching JWKS from %s: status %d", u.Redacted(), resp.StatusCode)
	}
	// One byte more than allowed tells a document at the limit from one
	// over it, which is refused rather than read truncated.
	body, err := io.ReadAll(io.LimitReader(resp.Body, f.maxBytes+1))
	if err != nil {
		return nil, fmt.Errorf("auth: reading JWKS from %s: %w", u.Redacted(), err)
	}
	if int64(len(body)) > f.maxBytes {
		return nil, fmt.Errorf("auth: JWKS from %s exceeds %d bytes", u.Redacted(), f.maxBytes)
	}
	var set JWKS
	if err := json.Unmarshal(body, &set); err != nil {
		return nil, fmt.Errorf("auth: decoding JWKS from %s: %w", u.Redacted(), err)
	}
	return set.keyMap()
}
