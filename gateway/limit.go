package main

import (
	"flag"
	"net/http"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/sd"
)

// limitFlags configure the per-client rate limits (API.md, "Rate
// limiting"): tiers, the API keys that select them, and the proxies whose
// X-Forwarded-For names the client.
type limitFlags struct {
	tiersFile, apiKeys, trustedProxies *string
	maxClients                         *int
}

func defineLimitFlags(fs *flag.FlagSet) limitFlags {
	return limitFlags{
		tiersFile: config.String(fs, "rate-tiers", "KITSHOP_RATE_TIERS", "",
			`JSON file of rate tiers {"name": {"per_minute": N, "burst": M}} over the defaults`),
		apiKeys: config.String(fs, "api-keys", "KITSHOP_API_KEYS", "",
			"comma-separated key:tier pairs naming client applications (X-API-Key)"),
		trustedProxies: config.String(fs, "trusted-proxies", "KITSHOP_TRUSTED_PROXIES", "",
			"comma-separated addresses or CIDRs of proxies whose X-Forwarded-For is believed"),
		maxClients: config.Int(fs, "rate-max-clients", "KITSHOP_RATE_MAX_CLIENTS", ratelimit.DefaultMaxClients,
			"most clients whose buckets are kept; the least recently seen are dropped beyond it"),
	}
}

// build returns the limiter the flags describe, its metrics registered
// with the process's. Bad settings are start-up errors: a gateway that
// silently fell back to the default tiers would let a paying client
// down or let an abusive one through.
func (f limitFlags) build(p *boot.Process) (*ratelimit.Limiter, error) {
	tiers := ratelimit.DefaultTiers()
	var err error
	if *f.tiersFile != "" {
		if tiers, err = ratelimit.LoadTiers(*f.tiersFile); err != nil {
			return nil, err
		}
	}
	keys, err := ratelimit.ParseAPIKeys(*f.apiKeys, tiers)
	if err != nil {
		return nil, err
	}
	proxies, err := ratelimit.ParseTrustedProxies(*f.trustedProxies)
	if err != nil {
		return nil, err
	}
	return ratelimit.New(ratelimit.Config{
		Tiers: tiers, APIKeys: keys, TrustedProxies: proxies,
		MaxClients: *f.maxClients, Registerer: p.Metrics,
	})
}

// routeKeys puts each request's route key on its context (kit/sd
// WithRouteKey), which keeps a client on one version of each backend
// during a rollout step: the verified user, else the API key, else the
// address the rate limiter charges. It must run after the token is
// verified. The key is a hash: neither the API key's fingerprint nor
// the client's address travels to the backends, and it is a routing
// hint, never an identity.
func routeKeys(limiter *ratelimit.Limiter) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			var identity string
			if c, ok := auth.ClaimsFrom(r.Context()); ok && c.UserID() != "" {
				identity = userRouteIdentity(c.UserID())
			} else {
				// An invalid key was already refused by the limiter; its
				// client is then the source address, which is as good
				// a routing hint.
				client, _ := limiter.Identify(r)
				identity = client.String()
			}
			next.ServeHTTP(w, r.WithContext(sd.WithRouteKey(r.Context(), sd.RouteKeyOf(identity))))
		})
	}
}
