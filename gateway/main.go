// Command gateway is kitshop's public entry point: API.md's HTTP/JSON API
// on :8080, translated to gRPC calls of users, products, orders and
// payments through their client packages (discovery, round-robin, the
// per-backend breaker, reads retried within a budget). It verifies
// bearer tokens with the users JWKS, limits each client to its tier's
// rate across every gateway instance, enriches order reads from the
// catalog, and serves the OpenAPI document of what it routes. Every
// other path is the storefront (gateway/web): server-rendered pages over
// the same backend clients, with live stock and order status; /console
// is the operator console (gateway/console), for admins of the
// storefront's session.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"

	"github.com/kitshop/kitshop/gateway/console"
	"github.com/kitshop/kitshop/gateway/web"
	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/ratelimit"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	productsclient "github.com/kitshop/kitshop/products/client"
)

func main() { boot.Main("gateway", run) }

// edgeFlags are the gateway's own settings.
type edgeFlags struct {
	readTimeout, writeTimeout, checkoutTimeout *time.Duration
	corsOrigins                                *[]string
	maxInFlight                                *int
	limits                                     limitFlags
	store                                      storeFlags
	console                                    console.Flags
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
		limits:  defineLimitFlags(fs),
		store:   defineStoreFlags(fs),
		console: console.DefineFlags(fs),
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
	shedder := mw.NewShedder(*edge.maxInFlight)
	api, err := newHandler(b, verifier, limiter, shedder, deadlines, *edge.corsOrigins)
	if err != nil {
		return err
	}
	store, err := edge.store.build(p, b, verifier, deadlines)
	if err != nil {
		return err
	}
	ops, err := console.New(console.Config{
		Identify: store.Identify, Token: store.Token, LoginURL: "/login",
		Etcd: etcd, Gatherer: p.Metrics, HTTPClient: p.HTTPClient, HTTPScheme: p.HTTPScheme(),
		ZipkinUI: *edge.console.ZipkinUI,
	})
	if err != nil {
		return err
	}
	front := frontEnd{store: store, console: deadlines.middleware(ops)}
	return p.Run(ctx, front.handler(api, limiter, shedder), nil, jobs...)
}

// newHandler is the gateway's request stack around the API routes (kit/boot
// adds the platform's around it: request ids, tracing, metrics, recovery).
// Outermost first: CORS answers preflights before anything else; the limit
// is charged before a token costs a signature check; a request over the
// in-flight bound is refused before it costs anything more; the route key
// (who the client is, for a rollout's sticky split) needs the verified
// token and the limiter's client; the deadline covers the key fetch, the
// call and its retries.
func newHandler(b *backends, verifier *auth.Verifier, limiter *ratelimit.Limiter, shedder *mw.Shedder,
	deadlines timeouts, corsOrigins []string) (http.Handler, error) {
	api, err := apiRouter(apiRoutes(b))
	if err != nil {
		return nil, err
	}
	return withCORS(corsOrigins, limiter.Middleware(
		shed(shedder, verifier.Middleware(routeKeys(limiter)(deadlines.middleware(api)))))), nil
}

// storeFlags configure the storefront (gateway/web).
type storeFlags struct {
	sessionKey                       *string
	maxStreams, maxStreamsPerSession *int
}

func defineStoreFlags(fs *flag.FlagSet) storeFlags {
	return storeFlags{
		sessionKey: config.String(fs, "session-key", "KITSHOP_SESSION_KEY", "",
			"base64 of 32 bytes sealing the storefront's session cookies; every gateway instance needs the same one "+
				"(empty: a random key, so sessions last only as long as this process)"),
		maxStreams: config.Int(fs, "web-max-streams", "KITSHOP_WEB_MAX_STREAMS", web.DefaultMaxStreams,
			"live storefront streams (stock, order status) open at once"),
		maxStreamsPerSession: config.Int(fs, "web-max-streams-per-session", "KITSHOP_WEB_MAX_STREAMS_PER_SESSION",
			web.DefaultMaxStreamsPerSession, "live storefront streams one browser session may hold open"),
	}
}

// build returns the storefront over the gateway's backends. A malformed
// session key is a start-up error: silently replacing it would log every
// shopper out on each instance differently.
func (f storeFlags) build(p *boot.Process, b *backends, verifier *auth.Verifier, deadlines timeouts) (*web.Server, error) {
	key, generated, err := web.ParseSessionKey(*f.sessionKey)
	if err != nil {
		return nil, err
	}
	if generated {
		_ = level.Warn(p.Logger).Log("msg", "KITSHOP_SESSION_KEY unset: storefront sessions use a random per-process key "+
			"and end when this gateway restarts; set the same key on every instance")
	}
	stock, err := productsclient.NewStockWatcher(b.products)
	if err != nil {
		return nil, err
	}
	orderWatch, err := ordersclient.NewOrderWatcher(b.orders)
	if err != nil {
		return nil, err
	}
	return web.New(web.Config{
		Users: b.users, Products: b.products, Orders: enrichedOrders{Client: b.orders, products: b.products},
		StockWatch: stock, OrderWatch: orderWatch, Verifier: verifier, SessionKey: key,
		Logger: log.With(p.Logger, "component", "storefront"), Draining: health.DrainSignal(p.Ready),
		MaxStreams: *f.maxStreams, MaxStreamsPerSession: *f.maxStreamsPerSession,
		PageTimeout: deadlines.read, CheckoutTimeout: deadlines.checkout,
	})
}
