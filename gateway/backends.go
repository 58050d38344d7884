package main

import (
	"context"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/sd"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// backends are the four services behind the gateway, each through its
// client package: discovery, round-robin over one connection per
// instance, the backend's breaker and the retry budget all come from
// there (kit/sd.Backend), so the gateway holds no second copy of them.
type backends struct {
	users    usersclient.Client
	products productsclient.Client
	orders   ordersclient.Client
	payments paymentsclient.Client
	// discovered names the backends found through the registry (not at
	// a fixed KITSHOP_<SERVICE>_ADDR), whose instances readiness counts.
	discovered []string
}

// openBackends connects to every backend in edge mode (sd.BackendConfig
// Edge): only reads are retried, and only on an unavailable instance.
// Each call's version during a rollout follows the client's route key
// (edgeRouteKey).
func openBackends(p *boot.Process) (*backends, error) {
	b := &backends{}
	edge := func(cfg *sd.BackendConfig) {
		cfg.Edge = true
		cfg.RouteKey = edgeRouteKey
		if cfg.Addr == "" {
			b.discovered = append(b.discovered, cfg.Service)
		}
	}
	var err error
	if b.users, err = boot.Client(p, usersclient.Service, usersclient.New, edge); err != nil {
		return nil, err
	}
	if b.products, err = boot.Client(p, productsclient.Service, productsclient.New, edge); err != nil {
		return nil, err
	}
	if b.orders, err = boot.Client(p, ordersclient.Service, ordersclient.New, edge); err != nil {
		return nil, err
	}
	if b.payments, err = boot.Client(p, paymentsclient.Service, paymentsclient.New, edge); err != nil {
		return nil, err
	}
	return b, nil
}

// edgeRouteKey keeps a client on one version of each backend during a
// rollout step: the key routeKeys put on the request (verified user, else
// API key, else the rate limiter's client), or, on a request that did not
// pass through it, the verified user's. A request with neither is placed
// at random by the weights.
func edgeRouteKey(ctx context.Context) string {
	if k := sd.RouteKey(ctx); k != "" {
		return k
	}
	if c, ok := auth.ClaimsFrom(ctx); ok && c.UserID() != "" {
		return sd.RouteKeyOf(userRouteIdentity(c.UserID()))
	}
	return ""
}

func userRouteIdentity(id string) string { return "user:" + id }
