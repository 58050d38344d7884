package console

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// errNoRegistry is what sections that need etcd say without one.
const errNoRegistry = "no registry (the gateway runs without etcd)"

// contentSecurityPolicy allows the console's own CSS and JavaScript and
// nothing else: no inline script or style, no framing, forms only to
// itself. Trace links are plain navigations, which CSP does not govern.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; " +
	"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

type console struct {
	cfg    Config
	pages  chan struct{} // one token per page being rendered
	assets assets
	// gathering is set while a Gather runs (see metrics).
	gathering atomic.Bool
}

// New returns the console's handler, to mount at Prefix (the paths it
// receives must still start with Prefix). It serves the page to admins
// only: a request without identity is sent to LoginURL (or gets 401), a
// non-admin gets 403.
func New(cfg Config) (http.Handler, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	a, err := loadAssets()
	if err != nil {
		return nil, err
	}
	return &console{cfg: cfg, pages: make(chan struct{}, cfg.MaxPages), assets: a}, nil
}

func (c *console) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", contentSecurityPolicy)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Referrer-Policy", "no-referrer")
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		c.fail(w, r, errs.New(errs.InvalidArgument, httpx.ReasonMethodNotAllowed, "the console is read-only: use GET").
			WithStatus(http.StatusMethodNotAllowed))
		return
	}
	switch path := r.URL.Path; {
	case path == Prefix || path == Prefix+"/":
		c.page(w, r)
	case strings.HasPrefix(path, staticPrefix):
		c.assets.serve(w, r, strings.TrimPrefix(path, staticPrefix))
	default:
		c.fail(w, r, errs.New(errs.NotFound, errs.ReasonNotFound, "no such console page"))
	}
}

// page serves the console to an admin.
func (c *console) page(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Cache-Control", "no-store")
	claims, ok := c.cfg.Identify(r)
	if !ok {
		if c.cfg.LoginURL != "" {
			http.Redirect(w, r, c.loginURL(), http.StatusSeeOther)
			return
		}
		c.fail(w, r, errs.New(errs.Unauthenticated, errs.ReasonUnauth, "log in as an admin to see the console"))
		return
	}
	if !claims.IsAdmin() {
		c.fail(w, r, errs.New(errs.PermissionDenied, errs.ReasonForbidden, "the console is for admins only"))
		return
	}
	select {
	case c.pages <- struct{}{}:
		defer func() { <-c.pages }()
	default:
		c.fail(w, r, errs.New(errs.Unavailable, errs.ReasonUnavailable, "the console is busy rendering other pages; try again in a moment"))
		return
	}
	data := c.gather(r.Context(), r)
	data.User = claims.UserID()
	c.render(w, r, http.StatusOK, "console.html", data)
}

// loginURL is LoginURL asking to come back here.
func (c *console) loginURL() string {
	u, err := url.Parse(c.cfg.LoginURL)
	if err != nil { // checked in New
		return c.cfg.LoginURL
	}
	q := u.Query()
	q.Set("next", Prefix)
	u.RawQuery = q.Encode()
	return u.String()
}

// pageData is everything console.html shows.
type pageData struct {
	assetURLs
	User      string
	Generated time.Time
	Instances instancesSection
	Metrics   metricsSection
	Sagas     []sagaSection
	Rollouts  rolloutsSection
	ZipkinUI  bool
}

// gather reads every source at once; each bounds itself.
func (c *console) gather(ctx context.Context, r *http.Request) pageData {
	d := pageData{assetURLs: c.assets.urls, Generated: c.cfg.Now().UTC(), ZipkinUI: c.cfg.ZipkinUI != ""}
	var wg sync.WaitGroup
	wg.Go(func() { d.Instances = c.instances(ctx) })
	wg.Go(func() { d.Metrics = c.metrics(ctx) })
	wg.Go(func() { d.Sagas = c.sagas(ctx, r) })
	wg.Go(func() { d.Rollouts = c.rollouts(ctx) })
	wg.Wait()
	return d
}

// errorData is what error.html shows.
type errorData struct {
	assetURLs
	Status   int
	Title    string
	Message  string
	LoginURL string
}

// fail answers err as an HTML page, or as problem+json to a client that
// asks for JSON rather than HTML (a script, curl -H Accept:...).
func (c *console) fail(w http.ResponseWriter, r *http.Request, err *errs.Error) {
	status := err.HTTPStatus()
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", "1")
	}
	if wantsJSON(r) {
		httpx.WriteProblem(w, r, err)
		return
	}
	d := errorData{assetURLs: c.assets.urls, Status: status, Title: http.StatusText(status), Message: err.Message}
	if status == http.StatusUnauthorized || status == http.StatusForbidden {
		d.LoginURL = c.cfg.LoginURL
	}
	c.render(w, r, status, "error.html", d)
}

func wantsJSON(r *http.Request) bool {
	accept := r.Header.Get("Accept")
	return !strings.Contains(accept, "text/html") &&
		(strings.Contains(accept, "application/json") || strings.Contains(accept, "application/problem+json"))
}

// render executes a template into memory first, so a template error is a
// clean 500 rather than half a page.
func (c *console) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	var buf bytes.Buffer
	if err := templates.ExecuteTemplate(&buf, name, data); err != nil {
		httpx.WriteProblem(w, r, errs.Internalf(errors.Join(errors.New("console: render "+name), err), "render"))
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	if r.Method != http.MethodHead {
		_, _ = w.Write(buf.Bytes())
	}
}
