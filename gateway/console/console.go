// Package console is the operator console the gateway serves at /console
// (admins only): the instances of each service in the registry with their
// version and readiness, the gateway's breakers and rate-limit rejections,
// orders' sagas by state with links into the Zipkin UI, and the rollout
// split of each service. Pages are rendered on the server with
// html/template; the little CSS and JavaScript there is are embedded, so
// there is no front-end build step and the Content-Security-Policy can
// forbid inline script and style.
//
// Every source is read with its own deadline, concurrently: a registry,
// an instance or an orders process that does not answer shows as an error
// in its section, and the page is still served within the bound.
package console

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/auth"
)

// Prefix is where the console is mounted in the gateway. The handler
// serves Prefix (the page) and Prefix+"/static/" (its assets).
const Prefix = "/console"

// Defaults for the Config bounds left zero.
const (
	// DefaultSourceTimeout bounds each source of a page: the registry,
	// the metrics, orders' debug listing. An operator looking at an
	// incident must get the page even when a source is down.
	DefaultSourceTimeout = 2 * time.Second
	// DefaultProbeTimeout bounds one instance's /health/ready. A ready
	// instance answers in milliseconds; kit/health's own checks stop at
	// 1.5 s, so this still gets a stuck dependency's "not ready" verdict.
	//
	// The page takes at most DefaultSourceTimeout+DefaultProbeTimeout
	// (the registry listing, then the probes), inside the gateway's 5 s
	// read deadline, so a slow source never turns the page into a 504.
	DefaultProbeTimeout = 2 * time.Second
	// DefaultProbeConcurrency is how many instances are probed at once.
	DefaultProbeConcurrency = 8
	// DefaultSagaLimit is how many sagas each state's table lists.
	DefaultSagaLimit = 50
	// DefaultMaxPages is how many pages are rendered at once; more are
	// answered 503 at once, so a reload storm cannot turn the console
	// into a prober of the whole platform.
	DefaultMaxPages = 4
)

// maxProbes bounds the instances probed for one page; beyond it the rest
// are listed unprobed. A platform that size wants a real dashboard.
const maxProbes = 200

// Config is what the console needs from the gateway.
type Config struct {
	// Identify says who sends the request (the storefront's session
	// cookie); false when nobody is logged in. Required.
	Identify func(*http.Request) (auth.Claims, bool)
	// Token returns the access token of the request's session, forwarded
	// to orders' /debug/sagas, which checks the admin role itself. Nil:
	// the sagas section says there is no token to forward.
	Token func(*http.Request) string
	// LoginURL is where a request without identity is sent (303, with
	// next=/console). Empty: a 401 page instead.
	LoginURL string

	// Etcd is the gateway's registry client; nil when the gateway runs
	// without a registry (the sections that need it say so).
	Etcd *clientv3.Client
	// Gatherer is the gateway's own metrics registry: breakers and
	// rate-limit counters are read from it. Nil: that section says so.
	Gatherer prometheus.Gatherer
	// HTTPClient returns a client for service's HTTP port: under mTLS one
	// that presents the gateway's certificate and accepts only service's
	// (kit/boot Process.HTTPClient). Nil: a plain client.
	HTTPClient func(service string) *http.Client
	// HTTPScheme is how HTTP ports are addressed: "https" under mTLS,
	// "http" (the default) otherwise (kit/boot Process.HTTPScheme).
	HTTPScheme string

	// ZipkinUI is the Zipkin UI's base URL (KITSHOP_ZIPKIN_UI_URL); when
	// set, each saga's trace id links to ZipkinUI/traces/<id>.
	ZipkinUI string
	// Services are listed even when no instance of them is registered, so
	// that a service that is down shows as missing rather than not at
	// all. Nil: the gateway and the four business services.
	Services []string

	// Bounds; zero means the Default above.
	SourceTimeout    time.Duration
	ProbeTimeout     time.Duration
	ProbeConcurrency int
	SagaLimit        int
	MaxPages         int

	// Now is the clock shown as the page's time; nil means time.Now.
	Now func() time.Time
}

// defaultServices are the processes of a kitshop platform.
var defaultServices = []string{"gateway", "users", "products", "orders", "payments"}

// maxSagaLimit is orders' own bound on one listing.
const maxSagaLimit = 500

func (c Config) withDefaults() (Config, error) {
	if c.Identify == nil {
		return c, errors.New("console: Config.Identify is required")
	}
	if c.HTTPScheme == "" {
		c.HTTPScheme = "http"
	}
	if c.HTTPScheme != "http" && c.HTTPScheme != "https" {
		return c, fmt.Errorf("console: HTTPScheme %q: want http or https", c.HTTPScheme)
	}
	if c.HTTPClient == nil {
		c.HTTPClient = func(string) *http.Client { return &http.Client{} }
	}
	if c.ZipkinUI != "" {
		u, err := url.Parse(c.ZipkinUI)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return c, fmt.Errorf("console: KITSHOP_ZIPKIN_UI_URL %q: want an absolute http(s) URL", c.ZipkinUI)
		}
		c.ZipkinUI = strings.TrimRight(c.ZipkinUI, "/")
	}
	if c.LoginURL != "" {
		if _, err := url.Parse(c.LoginURL); err != nil {
			return c, fmt.Errorf("console: LoginURL %q: %w", c.LoginURL, err)
		}
	}
	if c.Services == nil {
		c.Services = defaultServices
	}
	if c.SourceTimeout <= 0 {
		c.SourceTimeout = DefaultSourceTimeout
	}
	if c.ProbeTimeout <= 0 {
		c.ProbeTimeout = DefaultProbeTimeout
	}
	if c.ProbeConcurrency <= 0 {
		c.ProbeConcurrency = DefaultProbeConcurrency
	}
	if c.SagaLimit <= 0 {
		c.SagaLimit = DefaultSagaLimit
	}
	c.SagaLimit = min(c.SagaLimit, maxSagaLimit)
	if c.MaxPages <= 0 {
		c.MaxPages = DefaultMaxPages
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	return c, nil
}
