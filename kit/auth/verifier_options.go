package auth

import "time"

// DefaultMaxTokenLifetime bounds exp - iat unless MaxTokenLifetime says
// otherwise. users issues tokens for an hour by default; a day leaves room
// for a longer configured lifetime while refusing tokens that would
// outlive any key rotation (a token minted with a stolen key and an exp
// years away).
const DefaultMaxTokenLifetime = 24 * time.Hour

// VerifierOption configures NewVerifier.
type VerifierOption func(*verifierConfig)

type verifierConfig struct {
	audience    string
	maxLifetime time.Duration
	now         func() time.Time
}

func newVerifierConfig(opts []VerifierOption) verifierConfig {
	cfg := verifierConfig{maxLifetime: DefaultMaxTokenLifetime, now: time.Now}
	for _, o := range opts {
		o(&cfg)
	}
	return cfg
}

// VerifyAudience makes the verifier accept only tokens whose aud claim
// names aud. Without it (or with aud ""), a token carrying any aud at all
// is refused: RFC 7519 section 4.1.3 says a recipient that does not find
// itself in aud must reject the token, and a verifier with no audience
// finds itself in none. users issues no aud today.
func VerifyAudience(aud string) VerifierOption {
	return func(c *verifierConfig) { c.audience = aud }
}

// MaxTokenLifetime refuses tokens whose exp - iat exceeds d. d <= 0 keeps
// DefaultMaxTokenLifetime, so a flag's zero value means "the default".
func MaxTokenLifetime(d time.Duration) VerifierOption {
	return func(c *verifierConfig) {
		if d > 0 {
			c.maxLifetime = d
		}
	}
}

// withClock replaces time.Now, for tests.
func withClock(now func() time.Time) VerifierOption {
	return func(c *verifierConfig) { c.now = now }
}
