package main

import (
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
func openBackends(p *boot.Process) (*backends, error) {
	b := &backends{}
	edge := func(cfg *sd.BackendConfig) {
		cfg.Edge = true
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
