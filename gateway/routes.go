package main

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/mux"

	"github.com/kitshop/kitshop/gateway/console"
	"github.com/kitshop/kitshop/gateway/web"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/ratelimit"
	"github.com/kitshop/kitshop/kit/rest"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// checkoutPath is the one write with its own deadline: placing an order
// waits for the saga.
const checkoutPath = "/api/v1/orders"

// timeouts are the gateway's per-route deadlines. The request's context
// carries the deadline, so every backend call (and, through gRPC's
// grpc-timeout, every call those make) shares it; past it the route
// answers 504.
type timeouts struct{ read, write, checkout time.Duration }

func (t timeouts) of(r *http.Request) time.Duration {
	switch {
	case r.Method == http.MethodGet || r.Method == http.MethodHead:
		return t.read
	case r.Method == http.MethodPost && r.URL.Path == checkoutPath:
		return t.checkout
	}
	return t.write
}

func (t timeouts) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), t.of(r))
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// apiRoutes are API.md's routes: each service's REST mapping from its
// client package, over that package's typed client, so the JSON shapes,
// statuses and guards are the very ones the service's own HTTP port
// serves. Orders' reads are enriched from the catalog (enrichedOrders).
func apiRoutes(b *backends) []rest.Route {
	return slices.Concat(
		usersclient.Routes(b.users),
		productsclient.Routes(b.products),
		ordersclient.Routes(enrichedOrders{Client: b.orders, products: b.products}),
		paymentsclient.Routes(b.payments),
	)
}

// apiRouter serves routes and the OpenAPI document describing them.
func apiRouter(routes []rest.Route) (*mux.Router, error) {
	doc, err := openAPIDocument(routes)
	if err != nil {
		return nil, err
	}
	r := httpx.NewRouter()
	rest.Mount(r, routes...)
	r.Methods(http.MethodGet).Path(openAPIPath).Handler(openAPIHandler(doc))
	return r, nil
}

// frontEnd is what the gateway serves besides the API: the storefront
// and the operator console.
type frontEnd struct {
	store   *web.Server
	console http.Handler
}

// handler serves API.md's routes (api, under /api/), the console under
// console.Prefix and, on every other path, the storefront: its pages
// behind the same rate limit and in-flight bound as the API (each page
// costs backend calls); its embedded assets without either (they cost
// nothing); its live streams behind the rate limit only, since they are
// long by design and bounded by the storefront itself
// (KITSHOP_WEB_MAX_STREAMS). The API's per-route deadlines do not apply
// to the storefront, which sets its own; the console gets the read
// deadline (it bounds its sources within it).
func (f frontEnd) handler(api http.Handler, limiter *ratelimit.Limiter, shedder *mw.Shedder) http.Handler {
	pages := limiter.Middleware(shed(shedder, f.store.Pages()))
	streams := limiter.Middleware(f.store.Streams())
	static := f.store.Static()
	ops := limiter.Middleware(shed(shedder, f.console))
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := r.URL.Path
		switch {
		case web.ForAPI(r):
			api.ServeHTTP(w, r)
		case p == console.Prefix || strings.HasPrefix(p, console.Prefix+"/"):
			ops.ServeHTTP(w, r)
		case strings.HasPrefix(p, web.StaticPrefix):
			static.ServeHTTP(w, r)
		case strings.HasPrefix(p, web.StreamPrefix):
			streams.ServeHTTP(w, r)
		default:
			pages.ServeHTTP(w, r)
		}
	})
}
