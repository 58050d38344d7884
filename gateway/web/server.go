// Package web is kitshop's storefront: server-rendered pages
// (html/template) and a little JavaScript, embedded in the gateway, over
// the gateway's own typed backend clients (never HTTP to itself).
//
// Identity: a login's access token is sealed (AES-256-GCM) into an
// HttpOnly, SameSite=Strict session cookie, so page scripts never see it
// and any gateway instance holding the key can read it. Every
// state-changing request carries the session's synchronizer token and
// passes Go's cross-origin protection. Live stock and order status come
// as Server-Sent Events bridged from products' WatchStock and orders'
// WatchOrder.
package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/typed"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	usersv1 "github.com/kitshop/kitshop/pb/users/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
)

// The backend calls the storefront makes, declared here by their consumer.
type (
	Users interface {
		CreateUser(context.Context, *usersv1.CreateUserRequest) (*usersv1.User, error)
		Authenticate(context.Context, *usersv1.AuthenticateRequest) (*usersv1.AuthenticateResponse, error)
	}
	Products interface {
		GetProduct(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error)
		BatchGetProducts(context.Context, *productsv1.BatchGetProductsRequest) (*productsv1.BatchGetProductsResponse, error)
		SearchProducts(context.Context, *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error)
	}
	Orders interface {
		CreateOrder(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error)
		GetOrder(context.Context, *ordersv1.GetOrderRequest) (*ordersv1.Order, error)
		ListOrders(context.Context, *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error)
		CancelOrder(context.Context, *ordersv1.CancelOrderRequest) (*ordersv1.Order, error)
	}
	// TokenVerifier checks an access token (kit/auth.Verifier).
	TokenVerifier interface {
		Verify(ctx context.Context, token string) (auth.Claims, error)
	}
)

// Defaults of Config's bounds.
const (
	DefaultMaxStreams           = 1000
	DefaultMaxStreamsPerSession = 8
	DefaultPageTimeout          = 5 * time.Second
	DefaultCheckoutTimeout      = 30 * time.Second
)

// Config is what the storefront needs.
type Config struct {
	Users      Users
	Products   Products
	Orders     Orders
	StockWatch productsclient.StockWatcher
	OrderWatch ordersclient.OrderWatcher
	Verifier   TokenVerifier
	SessionKey []byte
	Logger     log.Logger
	// Draining is closed when the gateway begins to shut down: live
	// streams end then, so browsers reconnect to another instance.
	Draining <-chan struct{}
	// MaxStreams bounds the live streams open at once; per session,
	// MaxStreamsPerSession (tabs of one browser).
	MaxStreams, MaxStreamsPerSession int
	// PageTimeout bounds a page's backend calls; CheckoutTimeout placing
	// an order (the saga).
	PageTimeout, CheckoutTimeout time.Duration
}

// Server is the storefront.
type Server struct {
	cfg     Config
	seal    *sealer
	pages   *pages
	streams *streamLimits
	mux     *http.ServeMux
	origin  *http.CrossOriginProtection
	now     func() time.Time
	// heartbeat is heartbeatEvery; tests shorten it.
	heartbeat time.Duration
}

// New returns the storefront cfg describes.
func New(cfg Config) (*Server, error) {
	if cfg.Users == nil || cfg.Products == nil || cfg.Orders == nil || cfg.StockWatch == nil || cfg.OrderWatch == nil || cfg.Verifier == nil {
		return nil, errors.New("web: every backend and the token verifier are required")
	}
	if cfg.Logger == nil {
		cfg.Logger = log.NewNopLogger()
	}
	if cfg.Draining == nil {
		cfg.Draining = make(chan struct{})
	}
	if cfg.MaxStreams <= 0 {
		cfg.MaxStreams = DefaultMaxStreams
	}
	if cfg.MaxStreamsPerSession <= 0 {
		cfg.MaxStreamsPerSession = DefaultMaxStreamsPerSession
	}
	if cfg.PageTimeout <= 0 {
		cfg.PageTimeout = DefaultPageTimeout
	}
	if cfg.CheckoutTimeout <= 0 {
		cfg.CheckoutTimeout = DefaultCheckoutTimeout
	}
	seal, err := newSealer(cfg.SessionKey)
	if err != nil {
		return nil, err
	}
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	s := &Server{
		cfg: cfg, seal: seal, pages: p, now: time.Now, heartbeat: heartbeatEvery,
		streams: newStreamLimits(cfg.MaxStreams, cfg.MaxStreamsPerSession),
		origin:  http.NewCrossOriginProtection(),
	}
	s.origin.SetDenyHandler(http.HandlerFunc(s.crossOriginRefused))
	s.mux = s.routes()
	return s, nil
}

func (s *Server) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", s.catalog)
	m.HandleFunc("GET /products/{id}", s.product)
	m.HandleFunc("GET /cart", s.cartPage)
	m.HandleFunc("POST /cart", s.cartUpdate)
	m.HandleFunc("GET /checkout", s.checkoutPage)
	m.HandleFunc("POST /checkout", s.checkout)
	m.HandleFunc("GET /orders", s.myOrders)
	m.HandleFunc("GET /orders/{id}", s.orderPage)
	m.HandleFunc("POST /orders/{id}/cancel", s.cancel)
	m.HandleFunc("GET /login", s.loginPage)
	m.HandleFunc("POST /login", s.login)
	m.HandleFunc("GET /register", s.registerPage)
	m.HandleFunc("POST /register", s.register)
	m.HandleFunc("POST /logout", s.logout)
	m.HandleFunc("/", s.notFound)
	return m
}

// Pages serves the storefront's pages. Mount it behind the gateway's
// rate limit and load shedding; it sets each page's deadline itself.
func (s *Server) Pages() http.Handler {
	return securityHeaders(s.origin.Handler(http.HandlerFunc(s.servePage)))
}

// Static serves the embedded stylesheet and script under StaticPrefix.
// They cost no backend call, so they need no rate limit.
func (s *Server) Static() http.Handler { return securityHeaders(staticHandler()) }

// Streams serves the live updates under StreamPrefix. They are long
// requests: mount them outside the gateway's per-request deadline and
// in-flight bound (they have their own, MaxStreams).
func (s *Server) Streams() http.Handler {
	return securityHeaders(http.HandlerFunc(s.serveStream))
}

// Path prefixes of Static and Streams; everything else not under /api/
// is Pages.
const (
	StaticPrefix = "/static/"
	StreamPrefix = "/events/"
)

// Identify returns the verified claims of r's UI session: the shape
// gateway/console mounts its admin pages with.
func (s *Server) Identify(r *http.Request) (auth.Claims, bool) {
	sess := s.seal.open(r, s.now())
	if sess == nil || sess.Token == "" {
		return auth.Claims{}, false
	}
	c, err := s.cfg.Verifier.Verify(r.Context(), sess.Token)
	return c, err == nil
}

// Token returns the access token of r's UI session when it verifies, or
// "": for gateway/console, which forwards it to orders' debug listing.
func (s *Server) Token(r *http.Request) string {
	sess := s.seal.open(r, s.now())
	if sess == nil || sess.Token == "" {
		return ""
	}
	if _, err := s.cfg.Verifier.Verify(r.Context(), sess.Token); err != nil {
		return ""
	}
	return sess.Token
}

// servePage runs a page with r's session (a fresh anonymous one on a
// first visit) and, when it holds a valid login, the user's identity in
// the context, as kit/auth's middleware puts a bearer token's, so that
// backend calls forward it.
func (s *Server) servePage(w http.ResponseWriter, r *http.Request) {
	sess := s.seal.open(r, s.now())
	fresh := sess == nil
	if fresh {
		sess = newSession(s.now())
	}
	// changed: the cookie must be written again (new, or its login gone).
	changed := fresh
	ctx := r.Context()
	if sess.Token != "" {
		c, err := s.cfg.Verifier.Verify(ctx, sess.Token)
		if err != nil {
			// An expired or no longer trusted login: keep the cart, drop
			// the identity.
			sess.Token, sess.Name, changed = "", "", true
		} else {
			ctx = auth.WithToken(auth.WithClaims(ctx, c), sess.Token)
		}
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead && !s.csrfOK(w, r, sess, fresh) {
		s.renderError(w, r, sess, http.StatusForbidden,
			"This form has expired or did not come from this site. Reload the page and try again.")
		return
	}
	if changed {
		s.saveSession(w, r, sess)
	}
	s.mux.ServeHTTP(w, r.WithContext(withSession(ctx, sess)))
}

func (s *Server) saveSession(w http.ResponseWriter, r *http.Request, sess *session) {
	if err := s.seal.write(w, r, sess); err != nil {
		s.logError(r, "writing the session cookie", err)
	}
}

type sessionKey struct{}

func withSession(ctx context.Context, sess *session) context.Context {
	return context.WithValue(ctx, sessionKey{}, sess)
}

// sessionOf is the session servePage put in r's context (never nil
// behind Pages).
func sessionOf(r *http.Request) *session {
	if s, ok := typed.Opt[*session](r.Context().Value(sessionKey{})); ok && s != nil {
		return s
	}
	return newSession(time.Now())
}

func (s *Server) logError(r *http.Request, what string, err error) {
	_ = s.cfg.Logger.Log("level", "error", "msg", "storefront: "+what, "path", r.URL.Path, "err", err)
}
