package web

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	ordersclient "github.com/kitshop/kitshop/orders/client"
)

var (
	inlineScript = regexp.MustCompile(`<script(?:\s[^>]*)?>\s*[^<\s]`)
	inlineStyle  = regexp.MustCompile(`\sstyle=|<style`)
	inlineEvent  = regexp.MustCompile(`\son[a-z]+=`)
)

// Every page carries the strict CSP and has nothing inline for it to
// refuse; the first visit gets a session cookie scripts cannot read.
func TestPagesAreStrictAndSetAnHttpOnlyStrictSession(t *testing.T) {
	s := newShop(t, nil)
	c := browser(t)
	for _, path := range []string{"/", "/?q=mug", "/products/" + productID, "/cart", "/login", "/register", "/nope"} {
		resp, body := get(t, c, s.url+path)
		if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: CSP %q", path, csp)
		}
		if inlineScript.MatchString(body) || inlineStyle.MatchString(body) || inlineEvent.MatchString(body) {
			t.Errorf("%s has inline script or style:\n%s", path, body)
		}
		if resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: Cache-Control %q, want no-store (pages carry the CSRF token)", path, resp.Header.Get("Cache-Control"))
		}
	}
	resp, _ := get(t, browser(t), s.url+"/")
	cookies := resp.Cookies()
	if len(cookies) != 1 || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode || cookies[0].Path != "/" {
		t.Fatalf("session cookie %+v, want one HttpOnly SameSite=Strict cookie on /", cookies)
	}
	if resp, _ := get(t, c, s.url+"/nope"); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown page: %d, want 404", resp.StatusCode)
	}
}

// A state-changing request is refused without the session's CSRF token,
// with another session's, and from another origin even with the right one.
func TestStateChangesNeedTheSessionsCSRFTokenAndOrigin(t *testing.T) {
	s := newShop(t, nil)
	c := browser(t)
	_, page := get(t, c, s.url+"/products/"+productID)
	token := csrfOf(t, page)
	add := url.Values{"action": {"add"}, "product_id": {productID}, "quantity": {"2"}}

	if resp, _ := post(t, c, s.url+"/cart", add); resp.StatusCode != http.StatusForbidden {
		t.Errorf("no token: %d, want 403", resp.StatusCode)
	}
	_, other := get(t, browser(t), s.url+"/login")
	add.Set("csrf", csrfOf(t, other))
	if resp, _ := post(t, c, s.url+"/cart", add); resp.StatusCode != http.StatusForbidden {
		t.Errorf("another session's token: %d, want 403", resp.StatusCode)
	}
	add.Set("csrf", token)
	req, _ := http.NewRequest(http.MethodPost, s.url+"/cart", strings.NewReader(add.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-site with the token: %d, want 403", resp.StatusCode)
	}
	if _, cart := get(t, c, s.url+"/cart"); !strings.Contains(cart, "Your cart is empty") {
		t.Fatalf("a refused request changed the cart:\n%s", cart)
	}

	resp, _ = post(t, c, s.url+"/cart", add)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("with the token: %d, want 303", resp.StatusCode)
	}
	_, cart := get(t, c, s.url+"/cart")
	contains(t, "cart", cart, "Gopher mug", `value="2"`, "25.98 USD")
}

// A login seals the token into the cookie (never readable in it),
// forwards it on backend calls, and rotates the session's CSRF token.
func TestLoginSealsTheTokenAndForwardsIt(t *testing.T) {
	s := newShop(t, nil)
	c := browser(t)
	_, page := get(t, c, s.url+"/login")
	before := csrfOf(t, page)
	after := s.login(t, c)
	if before == after {
		t.Error("the CSRF token survived the login")
	}
	u, _ := url.Parse(s.url)
	for _, ck := range c.Jar.Cookies(u) {
		if strings.Contains(ck.Value, strings.Split(s.token, ".")[1]) {
			t.Fatal("the session cookie carries the JWT in the clear")
		}
	}
	req, _ := http.NewRequest(http.MethodGet, s.url+"/orders", nil)
	for _, ck := range c.Jar.Cookies(u) {
		req.AddCookie(ck)
	}
	claims, ok := s.srv.Identify(req)
	if !ok || claims.UserID() != userID {
		t.Fatalf("Identify: %+v %v", claims, ok)
	}
	resp, body := get(t, c, s.url+"/orders")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("my orders: %d\n%s", resp.StatusCode, body)
	}
	contains(t, "my orders", body, orderID, "CONFIRMED", "Log out Ada")
	if seen := s.tokensSeen[len(s.tokensSeen)-1]; seen != s.token {
		t.Fatalf("ListOrders carried token %q, want the session's", seen)
	}

	resp, _ = post(t, c, s.url+"/logout", url.Values{"csrf": {after}})
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: %d", resp.StatusCode)
	}
	if _, ok := s.srv.Identify(req.Clone(req.Context())); !ok {
		t.Fatal("test bug: the old cookie should still identify")
	}
	if resp, _ := get(t, c, s.url+"/orders"); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("my orders after logout: %d, want a redirect to log in", resp.StatusCode)
	}
}

// Wrong credentials, declines and stock-outs are sentences chosen by the
// problem code; the error's own text never reaches the page.
func TestFailuresAreShownAsMessagesFromTheCode(t *testing.T) {
	s := newShop(t, nil)
	c := browser(t)
	_, page := get(t, c, s.url+"/login")
	resp, body := post(t, c, s.url+"/login", url.Values{"csrf": {csrfOf(t, page)}, "email": {"ada@example.com"}, "password": {"wrong"}})
	if resp.StatusCode != http.StatusUnauthorized || strings.Contains(body, "bcrypt") {
		t.Fatalf("bad login: %d\n%s", resp.StatusCode, body)
	}
	contains(t, "bad login", body, "The email or password is wrong.")

	token := s.login(t, c)
	post(t, c, s.url+"/cart", url.Values{"csrf": {token}, "action": {"add"}, "product_id": {productID}, "quantity": {"1"}})
	_, page = get(t, c, s.url+"/checkout")
	contains(t, "checkout form", page, "4242424242424242", "4000000000000002", "4000000000009995", "4000000000000119")
	form := url.Values{
		"csrf": {token}, "idempotency_key": {"k-1"}, "line1": {"1 Main St"}, "city": {"Springfield"}, "postal_code": {"12345"},
		"country": {"US"}, "card_number": {"4000000000000002"}, "exp_month": {"12"}, "exp_year": {"2099"}, "cvc": {"123"},
	}
	for _, tc := range []struct {
		err    error
		status int
		want   string
	}{
		{errs.New(errs.FailedPrecondition, ordersclient.ReasonPaymentDeclined, "saga: charge: card_declined").WithStatus(402), 402, "Your card was declined."},
		{errs.New(errs.FailedPrecondition, ordersclient.ReasonInsufficientStock, "product x has 1").With(ordersclient.MetaAvailable, 1), 409, "Only 1 of an item in your cart is in stock."},
		{errs.New(errs.FailedPrecondition, ordersclient.ReasonInsufficientStock, "product x has 0").
			With(ordersclient.MetaAvailable, 0).With(ordersclient.MetaProductID, productID), 409, "Only 0 of \u201cGopher mug\u201d are in stock."},
	} {
		s.mu.Lock()
		s.createErr = tc.err
		s.mu.Unlock()
		resp, body := post(t, c, s.url+"/checkout", form)
		if resp.StatusCode != tc.status || strings.Contains(body, "saga") || strings.Contains(body, "product x") {
			t.Errorf("%v: %d\n%s", tc.err, resp.StatusCode, body)
		}
		contains(t, "checkout", body, tc.want, `value="1 Main St"`)
		if strings.Contains(body, "4000000000000002\"") {
			t.Error("the card number was echoed into the form")
		}
	}
	s.mu.Lock()
	s.createErr = nil
	s.mu.Unlock()
	resp, _ = post(t, c, s.url+"/checkout", form)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orders/"+orderID {
		t.Fatalf("good checkout: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	if _, cart := get(t, c, s.url+"/cart"); !strings.Contains(cart, "Your cart is empty") {
		t.Error("the cart survived the order")
	}
}

// A post-login destination stays on this site.
func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"": "/", "/orders": "/orders", "//evil.example/x": "/", "https://evil.example/": "/", "/\\evil": "/", "orders": "/",
		"/products/x?y=1": "/products/x?y=1",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}
