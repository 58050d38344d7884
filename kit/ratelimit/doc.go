// Package ratelimit is the gateway's per-client rate limiter: a token
// bucket per client (golang.org/x/time/rate), sized by the client's tier,
// in front of every public request (API.md, "Rate limiting (gateway)").
//
// # Who the client is
//
// A request with X-API-Key is its key's client, in the key's tier
// (KITSHOP_API_KEYS, see ParseAPIKeys). A key that is not configured is
// 401 INVALID_API_KEY, not a silent fall-back to the anonymous tier: a
// typo'd key should be noticed, not discovered as throttling in
// production. The attempt is still charged to the source address, so
// guessing keys costs the anonymous allowance. Without a key the client is
// its source address in the anonymous tier: an IPv4 address, or an IPv6
// /64 (one subscriber's network, in which a host can take a new address
// per request). The source is the direct peer, unless the peer is a
// trusted proxy (KITSHOP_TRUSTED_PROXIES, see ParseTrustedProxies): then
// X-Forwarded-For is walked from the right, past trusted hops, to the
// first untrusted address. Entries further left were written by the
// client and are ignored; an unreadable entry on the way charges the peer.
// API keys never appear in logs or metrics: buckets are keyed by the key's
// index and logs by a hash prefix (Client.String).
//
// # Memory
//
// At most Config.MaxClients buckets are kept, in up to 64 shards with a
// lock and an LRU list each. When a shard is full its least recently used
// bucket is dropped. A bucket unused for as long as the slowest tier takes
// to refill from empty (2 minutes with the default tiers) is full again,
// so it equals a new one and is dropped for free; the oldest buckets of a
// shard are checked whenever the shard is used (and by Len), which costs
// one comparison per request. When capacity forces out a bucket that is
// not full yet, its client gets a fresh burst: MaxClients should exceed
// the distinct clients seen within a refill period, and
// kitshop_ratelimit_evicted_total{reason="capacity"} says when it does
// not. Grouping IPv6 by /64 keeps one host from cycling addresses through
// the table.
//
// # Several gateway instances
//
// The tiers are cluster-wide allowances. Each instance enforces its share:
// told by the gateway how many instances are live (from the gateway's own
// registrations in etcd) through SetShare(n), every bucket refills at
// rate/n and holds ceil(burst/n). When a load balancer spreads a client's
// requests evenly, n instances together admit about the tier's rate and
// burst (the burst rounded up per instance, so up to n-1 more). This was
// chosen over a shared counter (etcd, Redis) because it adds no network
// hop and no shared point of failure to any request. Its trade-offs:
//   - A client whose requests land unevenly (sticky connections, HTTP/2
//     keep-alive to one instance) is under-admitted: the instance it
//     sticks to gives it only 1/n of the allowance. It errs on the strict
//     side, never the generous one.
//   - When an instance joins or leaves, the shares change only when the
//     gateway's etcd watch reports it (about a second, or a lease TTL for
//     a crashed instance). Until then the cluster admits somewhat more
//     (joining) or less (leaving) than the tier.
//   - Existing buckets take the new share when next used. A bucket keeps
//     its tokens, up to the new burst; after n falls (an instance
//     left) it refills towards the larger burst at the new rate rather
//     than jumping, so a change never grants a sudden extra burst.
//   - The headers a client sees are this instance's view scaled to the
//     cluster: Remaining is local tokens × n, rounded down, at most the
//     tier's burst, and 0 when this instance would refuse the next
//     request; Reset is when this instance's bucket is full again.
//
// # HTTP
//
// Limiter.Middleware identifies the client, charges one token, and always
// sets RateLimit-Limit, RateLimit-Remaining, RateLimit-Reset (seconds) and
// X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset (Unix time).
// An empty bucket is 429 RATE_LIMITED with Retry-After. Which paths are
// exempt (health, metrics) is the caller's choice, through Config.Skip.
package ratelimit
