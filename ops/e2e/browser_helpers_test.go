package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

// chromiumPath is Debian's chromium (ops/install-deps.sh installs it);
// KITSHOP_CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("KITSHOP_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// browser is one headless Chromium for a test; each shopper is a context
// of its own (cookies and storage apart, as two people's browsers are).
type browser struct {
	t   *testing.T
	ctx context.Context
}

// startBrowser starts Chromium, or fails the test saying how to install
// it: the browser test is part of `make test` and must never pass by
// skipping.
func startBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath()
	if _, err := os.Stat(path); err != nil {
		t.Fatalf("the browser test needs Chromium at %s (%v): run ops/install-deps.sh (Debian package chromium), "+
			"or set KITSHOP_CHROMIUM to a Chromium or Chrome binary", path, err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		// The platform serves HTTPS with a throwaway development CA.
		chromedp.Flag("ignore-certificate-errors", true),
		chromedp.WindowSize(1100, 900),
	)
	if os.Geteuid() == 0 {
		// Chromium refuses to run its sandbox as root (CI containers).
		opts = append(opts, chromedp.NoSandbox)
	}
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(alloc)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	// The first run starts the browser; it must not carry a timeout (it
	// would stop the browser with it), so the start is bounded apart.
	started := make(chan error, 1)
	go func() { started <- chromedp.Do(ctx) }()
	select {
	case err := <-started:
		if err != nil {
			t.Fatalf("starting Chromium at %s: %v", path, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("Chromium at %s did not start within 30s", path)
	}
	return &browser{t: t, ctx: ctx}
}

// shopper is one browser context (one person) and its first tab. It
// records every request its pages send, for the Authorization check.
type shopper struct {
	t   *testing.T
	ctx context.Context
	mu  sync.Mutex
	// authorized lists requests that carried an Authorization header.
	authorized []string
	requests   int
}

func (b *browser) shopper() *shopper {
	b.t.Helper()
	ctx, cancel := chromedp.NewContext(b.ctx, chromedp.WithNewBrowserContext())
	b.t.Cleanup(cancel)
	s := &shopper{t: b.t, ctx: ctx}
	s.listen(ctx)
	return s
}

// tab is another tab of the same shopper (same cookies).
func (s *shopper) tab() *shopper {
	s.t.Helper()
	ctx, cancel := chromedp.NewContext(s.ctx)
	s.t.Cleanup(cancel)
	tab := &shopper{t: s.t, ctx: ctx}
	tab.listen(ctx)
	return tab
}

func (s *shopper) listen(ctx context.Context) {
	s.t.Helper()
	if err := chromedp.Do(ctx); err != nil {
		s.t.Fatalf("opening a browser tab: %v", err)
	}
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			s.mu.Lock()
			defer s.mu.Unlock()
			s.requests++
			for k := range e.Request.Headers {
				if strings.EqualFold(k, "Authorization") {
					s.authorized = append(s.authorized, e.Request.URL)
				}
			}
		}
	})
	if err != nil {
		s.t.Fatalf("listening to the tab: %v", err)
	}
}

// do runs steps within timeout, failing the test with what it was doing.
func (s *shopper) do(what string, timeout time.Duration, steps ...chromedp.Action[chromedp.Void]) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, timeout)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		loc, _ := chromedp.Run(s.ctx, chromedp.Location())
		body, _ := chromedp.Run(s.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
		s.t.Fatalf("%s: %v\nat %s, the page reads:\n%s", what, err, loc, body)
	}
}

// waitFor evaluates a JavaScript condition on the page until it holds.
// It asks again after an evaluation fails: a form submitted just before
// navigates, and an evaluation racing the navigation fails with the old
// page's context gone, which says nothing about the condition.
func (s *shopper) waitFor(what, cond string, timeout time.Duration) {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	expr := "(() => { try { return !!(" + cond + "); } catch (e) { return false; } })()"
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(s.ctx, 5*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		lastErr = err
		time.Sleep(50 * time.Millisecond)
	}
	loc, _ := chromedp.Run(s.ctx, chromedp.Location())
	body, _ := chromedp.Run(s.ctx, chromedp.Evaluate[string]("document.body ? document.body.innerText : ''"))
	s.t.Fatalf("%s: not within %v (last error %v): %s\nat %s, the page reads:\n%s", what, timeout, lastErr, cond, loc, body)
}

func (s *shopper) eval(what, expr string) string {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		s.t.Fatalf("%s: %v", what, err)
	}
	return v
}

// fill sets form fields by id, then clicks the submit button by id.
func (s *shopper) submit(what string, fields map[string]string, button string) {
	s.t.Helper()
	steps := make([]chromedp.Action[chromedp.Void], 0, len(fields)+1)
	for id, v := range fields {
		steps = append(steps, chromedp.SetValue(chromedp.ID(id), v))
	}
	steps = append(steps, chromedp.Click(chromedp.ID(button)))
	s.do(what, 20*time.Second, steps...)
}

// markPage puts a marker on the page's window: it survives live updates
// and vanishes with a reload, so a test can prove a change came live.
func (s *shopper) markPage() {
	s.t.Helper()
	s.eval("marking the page", `(window.__kitshopMark = "live", "ok")`)
}

func (s *shopper) pageNotReloaded(what string) {
	s.t.Helper()
	if got := s.eval("reading the mark", `String(window.__kitshopMark)`); got != "live" {
		s.t.Fatalf("%s: the page was reloaded (its mark is %q)", what, got)
	}
}

func (s *shopper) authorizationHeaders() ([]string, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.authorized...), s.requests
}

// screenshot saves the page, at phone width when narrow, as name in
// KITSHOP_SCREENSHOT_DIR (`make screenshots` points it at docs/images,
// whose copies the README shows), else in the test's temporary directory:
// a plain `make test` must not leave the work tree modified.
func (s *shopper) screenshot(name string, width int) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(s.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, chromedp.EmulateViewport(int64(width), 900)); err != nil {
		s.t.Fatalf("sizing the viewport for %s: %v", name, err)
	}
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		s.t.Fatalf("screenshot %s: %v", name, err)
	}
	dir := os.Getenv("KITSHOP_SCREENSHOT_DIR")
	if dir == "" {
		dir = s.t.TempDir()
	}
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		s.t.Fatalf("saving %s: %v", path, err)
	}
}
