package auth

import (
	"time"

	"github.com/go-kit/log"
)

// JWKS cache defaults. Together they set the key-rotation window
// documented on JWKSFromURL.
const (
	// DefaultJWKSRefreshInterval is the oldest a fetched key set may be
	// and still verify tokens, while users' JWKS can be fetched.
	DefaultJWKSRefreshInterval = 60 * time.Second
	// DefaultJWKSMinRefetch spaces fetches caused by unknown kids, and
	// retries after a failed fetch, so a flood of tokens naming random
	// kids (or an unreachable users) cannot turn into a flood of requests.
	DefaultJWKSMinRefetch = 5 * time.Second
	// DefaultJWKSFetchTimeout bounds one fetch, discovery included. A
	// request that needs a fetch waits at most this long for it.
	DefaultJWKSFetchTimeout = 1500 * time.Millisecond
	// DefaultJWKSMaxBytes bounds the document; a real one is a few
	// hundred bytes per key.
	DefaultJWKSMaxBytes = 64 << 10
)

// JWKSOption configures JWKSFromURL. A zero or negative value keeps the
// default, so a flag's zero value means "the default".
type JWKSOption func(*jwksConfig)

type jwksConfig struct {
	refreshInterval time.Duration
	minRefetch      time.Duration
	fetchTimeout    time.Duration
	maxBytes        int64
	logger          log.Logger
	now             func() time.Time
}

func newJWKSConfig(opts []JWKSOption) jwksConfig {
	cfg := jwksConfig{
		refreshInterval: DefaultJWKSRefreshInterval,
		minRefetch:      DefaultJWKSMinRefetch,
		fetchTimeout:    DefaultJWKSFetchTimeout,
		maxBytes:        DefaultJWKSMaxBytes,
		logger:          log.NewNopLogger(),
		now:             time.Now,
	}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// JWKSRefreshInterval sets how old a fetched key set may get before it is
// refetched rather than used: the longest a retired key keeps verifying
// while users' JWKS is reachable. Default DefaultJWKSRefreshInterval.
func JWKSRefreshInterval(d time.Duration) JWKSOption {
	return func(c *jwksConfig) {
		if d > 0 {
			c.refreshInterval = d
		}
	}
}

// JWKSMinRefetch sets the least time between two fetches caused by
// unknown kids, and between retries of failed fetches. Default
// DefaultJWKSMinRefetch.
func JWKSMinRefetch(d time.Duration) JWKSOption {
	return func(c *jwksConfig) {
		if d > 0 {
			c.minRefetch = d
		}
	}
}

// JWKSFetchTimeout bounds one fetch: resolving the URL, connecting (and
// the TLS handshake), and reading the document. Default
// DefaultJWKSFetchTimeout.
func JWKSFetchTimeout(d time.Duration) JWKSOption {
	return func(c *jwksConfig) {
		if d > 0 {
			c.fetchTimeout = d
		}
	}
}

// JWKSMaxBytes bounds the JWKS document; a larger one fails the fetch.
// Default DefaultJWKSMaxBytes.
func JWKSMaxBytes(n int64) JWKSOption {
	return func(c *jwksConfig) {
		if n > 0 {
			c.maxBytes = n
		}
	}
}

// JWKSLogger logs failed fetches (warn) and changes of the key set (info:
// the kids now published), the two events an operator rotating keys or
// chasing 503s needs to see. Default: no logging.
func JWKSLogger(logger log.Logger) JWKSOption {
	return func(c *jwksConfig) {
		if logger != nil {
			c.logger = logger
		}
	}
}

// jwksClock replaces time.Now, for tests.
func jwksClock(now func() time.Time) JWKSOption {
	return func(c *jwksConfig) { c.now = now }
}
