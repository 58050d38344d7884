package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"net/netip"

	"github.com/kitshop/kitshop/kit/errs"
)

// HeaderAPIKey names the client application (API.md, Identity).
const HeaderAPIKey = "X-API-Key"

// canonicalAPIKey is HeaderAPIKey as net/http stores it. Indexing the
// header map with it directly spares an allocation per request:
// Header.Values would canonicalise "X-API-Key" into a new string first.
const canonicalAPIKey = "X-Api-Key"

// ReasonInvalidAPIKey: X-API-Key was sent but is not a configured key (or
// not a key at all). It is an error rather than a silent fall-back to the
// anonymous tier, so a client with a typo'd key notices at once instead of
// finding itself throttled at the anonymous rate in production.
const ReasonInvalidAPIKey = "INVALID_API_KEY"

// ErrInvalidAPIKey is 401 INVALID_API_KEY. Its message never repeats the
// key.
var ErrInvalidAPIKey = errs.New(errs.Unauthenticated, ReasonInvalidAPIKey,
	"the X-API-Key header does not name a known API key")

// ErrRateLimited is 429 RATE_LIMITED, the answer to a client whose bucket
// is empty.
var ErrRateLimited = errs.New(errs.ResourceExhausted, errs.ReasonRateLimited, "rate limit exceeded")

// ipv6ClientBits is how much of an IPv6 address names a client: a /64 is
// what one subscriber (a home, a VM) gets, and any host in it can pick a
// fresh address per request, so per-address buckets would not limit it.
const ipv6ClientBits = 64

// bucketKey identifies a bucket without holding anything secret or
// allocated: apiKey is the index+1 of a configured key (0: none), else ip
// is the client's address (IPv6 cut to its /64). It is comparable and
// fixed-size, so a lookup neither hashes a string nor allocates.
type bucketKey struct {
	ip     [16]byte
	apiKey uint32
}

// unknownSource is bucketKey.apiKey of requests whose source address could
// not be read, so that they do not share the bucket of ::/64 (whose
// masked address is all zeros). No key index reaches it (see addKeys).
const unknownSource = ^uint32(0)

// Client is who a request is charged to: a configured API key, or a source
// address (IPv4 address or IPv6 /64) in the anonymous tier. Get one from
// Limiter.Identify and give it to that Limiter only; the zero Client is
// not valid.
type Client struct {
	key  bucketKey
	tier int // index into Limiter.tiers
	// label is how logs may name the client (see String).
	label string
	// addr is the source address of an anonymous client, for String.
	addr netip.Addr
}

// String names the client for logs and debugging without revealing an API
// key: "api-key:3f2a9c01b7e4" (a SHA-256 prefix of the key) or
// "ip:192.0.2.1" / "ip:2001:db8:1:2::/64".
func (c Client) String() string {
	if c.label != "" {
		return c.label
	}
	if c.addr.Is6() {
		return "ip:" + netip.PrefixFrom(c.addr, ipv6ClientBits).String()
	}
	if c.addr.IsValid() {
		return "ip:" + c.addr.String()
	}
	return "ip:unknown"
}

// apiKeyLabel is the non-secret name of a key in logs: enough of its hash
// to tell keys apart, far too little to recover or guess it.
func apiKeyLabel(key string) string {
	sum := sha256.Sum256([]byte(key))
	return "api-key:" + hex.EncodeToString(sum[:6])
}

// addrClient is the anonymous client behind a source address. An address
// that could not be read (a listener that gives no IP) is one client of
// its own: all such requests share one anonymous bucket, which is the safe
// side for a limiter.
func (l *Limiter) addrClient(a netip.Addr, ok bool) Client {
	c := Client{tier: l.anonymous}
	if !ok {
		c.key.apiKey = unknownSource
		return c
	}
	if a.Is6() {
		a = netip.PrefixFrom(a, ipv6ClientBits).Masked().Addr()
	}
	c.key.ip = a.As16()
	c.addr = a
	// An IPv4 address, as 16 bytes, is ::ffff:a.b.c.d, which no unmapped
	// IPv6 /64 can equal, so the two families never share a bucket.
	return c
}

// Identify tells who r is from. With an X-API-Key header it is that key's
// client; a key that is not configured, empty, too long, or sent twice is
// ErrInvalidAPIKey. Without one, it is the source address (see
// Config.TrustedProxies) in the anonymous tier.
//
// On ErrInvalidAPIKey the Client returned is still the source address's,
// so that the caller can charge the attempt to it: guessing keys then
// costs the anonymous allowance.
func (l *Limiter) Identify(r *http.Request) (Client, error) {
	vals := r.Header[canonicalAPIKey]
	if len(vals) == 0 {
		return l.addrClient(l.proxies.sourceAddr(r)), nil
	}
	if len(vals) == 1 && len(vals[0]) <= MaxAPIKeyLen {
		if id, ok := l.keys[vals[0]]; ok {
			return l.keyClients[id], nil
		}
	}
	return l.addrClient(l.proxies.sourceAddr(r)), ErrInvalidAPIKey
}
