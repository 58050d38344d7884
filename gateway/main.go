// Command gateway is kitshop's public entry point: API.md's HTTP/JSON API
// on :8080, translated to gRPC calls of users, products, orders and
// payments through their client packages (discovery, round-robin, the
// per-backend breaker, reads retried within a budget). It verifies
// bearer tokens with the users JWKS, limits each client to its tier's
// rate across every gateway instance, enriches order reads from the
// catalog, and serves the OpenAPI document of what it routes.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/ratelimit"
)

func main() { boot.Main("gateway", run) }

// edgeFlags are the gateway's own settings.
type edgeFlags struct {
	readTimeout, writeTimeout, checkoutTimeout *time.Duration
	corsOrigins                                *[]string
	maxInFlight                                *int
	limits                                     limitFlags
}

func defineEdgeFlags(fs *flag.FlagSet) edgeFlags {
	return edgeFlags{
		readTimeout: config.Duration(fs, "read-timeout", "KITSHOP_GATEWAY_READ_TIMEOUT", 5*time.Second,
			"deadline of a GET, all its backend calls and retries included"),
		writeTimeout: config.Duration(fs, "write-timeout", "KITSHOP_GATEWAY_WRITE_TIMEOUT", 10*time.Second,
			"deadline of a write other than placing an order"),
		checkoutTimeout: config.Duration(fs, "checkout-timeout", "KITSHOP_GATEWAY_CHECKOUT_TIMEOUT", 30*time.Second,
			"deadline of POST /api/v1/orders; a checkout outliving it is answered 202 PENDING"),
		corsOrigins: config.StringList(fs, "cors-origins", "KITSHOP_CORS_ORIGINS", nil,
			"comma-separated origins whose pages may call the API (CORS); empty: none"),
		maxInFlight: config.Int(fs, "max-in-flight", "KITSHOP_GATEWAY_MAX_IN_FLIGHT", mw.DefaultMaxInFlight,
			"requests worked on at once; more are answered 503 OVERLOADED at once"),
		limits: defineLimitFlags(fs),
	}
}

func (f edgeFlags) timeouts() (timeouts, error) {
	t := timeouts{read: *f.readTimeout, write: *f.writeTimeout, checkout: *f.checkoutTimeout}
	if t.read <= 0 || t.write <= 0 || t.checkout <= 0 {
		return t, fmt.Errorf("-read-timeout, -write-timeout and -checkout-timeout must be > 0")
	}
	return t, nil
}

func run(ctx context.Context, args []string) error {
	var tokens boot.TokenFlags
	var edge edgeFlags
	cfg, err := config.ParseService(gatewayService, ":8080", "", args, func(fs *flag.FlagSet) {
		tokens = boot.DefineTokenFlags(fs)
		edge = defineEdgeFlags(fs)
	})
	if err != nil {
		return err
	}
	// The gateway serves no gRPC: a -grpc-addr (or a KITSHOP_GRPC_ADDR
	// exported for the services) would only open a port nobody answers.
	cfg.GRPCAddr = ""
	deadlines, err := edge.timeouts()
	if err != nil {
		return err
	}
	p, err := boot.New(cfg, nil)
	if err != nil {
		return err
	}
	defer p.Close()

	limiter, err := edge.limits.build(p)
	if err != nil {
		return err
	}
	b, err := openBackends(p)
	if err != nil {
		return err
	}
	verifier, err := p.Verifier(tokens)
	if err != nil {
		return err
	}
	etcd, err := p.Etcd()
	if err != nil {
		return err
	}
	addReadiness(p.Ready, etcd, b.discovered)
	var jobs []func(context.Context) error
	if etcd != nil {
		jobs = append(jobs, func(ctx context.Context) error { return watchPeers(ctx, etcd, p.Logger, limiter.SetShare) })
	}
	handler, err := newHandler(b, verifier, limiter, mw.NewShedder(*edge.maxInFlight), deadlines, *edge.corsOrigins)
	if err != nil {
		return err
	}
	return p.Run(ctx, handler, nil, jobs...)
}

// newHandler is the gateway's request stack around the API routes (kit/boot
// adds the platform's around it: request ids, tracing, metrics, recovery).
// Outermost first: CORS answers preflights before anything else; the limit
// is charged before a token costs a signature check; a request over the
// in-flight bound is refused before it costs anything more; the deadline
// covers the key fetch, the call and its retries.
func newHandler(b *backends, verifier *auth.Verifier, limiter *ratelimit.Limiter, shedder *mw.Shedder,
	deadlines timeouts, corsOrigins []string) (http.Handler, error) {
	api, err := apiRouter(apiRoutes(b))
	if err != nil {
		return nil, err
	}
	return withCORS(corsOrigins, limiter.Middleware(
		shed(shedder, verifier.Middleware(deadlines.middleware(api))))), nil
}
