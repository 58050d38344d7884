package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// browserTiers lets the browser's many requests through (every page,
// redirect and stream counts against the anonymous tier, keyed by IP).
const browserTiers = `{"anonymous": {"per_minute": 1000000, "burst": 100000}}`

// TestStorefrontInABrowser walks the storefront's journey in headless
// Chromium against the real platform (every service, Postgres, etcd,
// mTLS, the gateway over HTTPS): register, log in, search, open a
// product, add it to the cart, check out with the declined card and
// then a good one, watch the order reach CONFIRMED and, after a cancel,
// CANCELLED in another tab without a reload; a second shopper sees the
// stock fall live as the first buys. Then the security properties: no
// request a page sends carries an Authorization header, the CSP is
// there and no page has inline script, and a cross-site form post is
// refused. An admin sees the operator console; a customer gets 403.
func TestStorefrontInABrowser(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs every service binary; not in -short")
	}
	start := time.Now()
	b := startBrowser(t)
	tiers := filepath.Join(t.TempDir(), "tiers.json")
	if err := os.WriteFile(tiers, []byte(browserTiers), 0o600); err != nil {
		t.Fatal(err)
	}
	key := make([]byte, 32)
	_, _ = rand.Read(key)
	p := launch(t, platformConfig{
		instances: 1, orders: 1, gateways: 1,
		productsEnv: []string{"KITSHOP_PRODUCTS_SEED_DEMO=1"},
		gatewayEnv:  []string{"KITSHOP_RATE_TIERS=" + tiers, "KITSHOP_SESSION_KEY=" + base64.StdEncoding.EncodeToString(key)},
	})
	base := p.gatewayURL(0)
	t.Logf("platform and browser up in %v", time.Since(start).Round(time.Millisecond))
	ada := b.shopper()
	email := fmt.Sprintf("ada-%d@example.com", time.Now().UnixNano())

	// 1-2. Register, then log in.
	ada.do("opening the register page", 20*time.Second, chromedp.Navigate(base+"/register"))
	ada.submit("registering", map[string]string{"name": "Ada", "email": email, "password": "correct horse battery"}, "register")
	ada.waitFor("the login page after registering", `location.pathname === "/login" && !!document.getElementById("notice")`, 15*time.Second)
	ada.submit("logging in", map[string]string{"email": email, "password": "correct horse battery"}, "login")
	ada.waitFor("logged in", `location.pathname === "/" && document.body.innerText.includes("Log out Ada")`, 15*time.Second)
	ada.screenshot("storefront.png", 1100)

	// 3-4. Search, open the product.
	ada.submit("searching", map[string]string{"q": "kettle"}, "search")
	ada.waitFor("search results", `location.search.includes("q=kettle") && document.querySelectorAll("#products a").length === 1`, 15*time.Second)
	ada.do("opening the product", 20*time.Second, chromedp.Click(chromedp.CSS("#products a")))
	ada.waitFor("the product page", `!!document.getElementById("available") && document.getElementById("product-name").textContent === "Gooseneck kettle"`, 15*time.Second)
	productURL := ada.eval("the product URL", "location.href")

	// A second shopper watches the same product's stock.
	bob := b.shopper()
	bob.do("opening the product", 20*time.Second, chromedp.Navigate(productURL))
	bob.waitFor("the live stock", `!document.getElementById("stock-live").hidden`, 15*time.Second)
	before, err := strconv.Atoi(bob.eval("the stock", `document.getElementById("available").textContent`))
	if err != nil {
		t.Fatal(err)
	}
	bob.markPage()

	// 5. Add to the cart.
	ada.submit("adding to the cart", map[string]string{"quantity": "1"}, "add-to-cart")
	ada.waitFor("the cart", `location.pathname === "/cart" && !!document.getElementById("checkout")`, 15*time.Second)

	// 6. The declined card: a clear message, the cart kept.
	ada.do("opening checkout", 20*time.Second, chromedp.Click(chromedp.ID("checkout")))
	ada.waitFor("the checkout form", `!!document.getElementById("place-order")`, 15*time.Second)
	address := map[string]string{
		"line1": "1 Main St", "city": "Springfield", "postal_code": "12345", "country": "US",
		"exp_month": "12", "exp_year": strconv.Itoa(time.Now().Year() + 3), "cvc": "123",
	}
	address["card_number"] = "4000000000000002"
	ada.submit("paying with the declined card", address, "place-order")
	ada.waitFor("the decline message", `!!document.getElementById("message") && document.getElementById("message").textContent.includes("Your card was declined")`, 30*time.Second)

	// 7-8. A good card: the order page reaches CONFIRMED, live.
	address["card_number"] = "4242424242424242"
	ada.submit("paying with a good card", address, "place-order")
	ada.waitFor("the order page", `location.pathname.startsWith("/orders/") && !!document.getElementById("status")`, 40*time.Second)
	ada.markPage()
	ada.waitFor("CONFIRMED", `document.getElementById("status").textContent === "CONFIRMED" && !document.getElementById("order-live").hidden`, 30*time.Second)
	ada.pageNotReloaded("reaching CONFIRMED")
	orderURL := ada.eval("the order URL", "location.href")

	// The other shopper saw the stock fall, without a reload.
	bob.waitFor("the stock falling live", fmt.Sprintf(`document.getElementById("available").textContent === "%d"`, before-1), 20*time.Second)
	bob.pageNotReloaded("the stock falling")

	// 9. Cancel. Another tab on the order sees CANCELLED live.
	watcher := ada.tab()
	watcher.do("opening the order in another tab", 20*time.Second, chromedp.Navigate(orderURL))
	watcher.waitFor("the order streaming", `!document.getElementById("order-live").hidden`, 15*time.Second)
	watcher.markPage()
	ada.screenshot("order.png", 420)
	ada.do("cancelling", 20*time.Second, chromedp.Click(chromedp.ID("cancel")))
	ada.waitFor("CANCELLED", `location.search.includes("notice=cancelled") && document.getElementById("status").textContent === "CANCELLED"`, 30*time.Second)
	watcher.waitFor("CANCELLED in the other tab", `document.getElementById("status").textContent === "CANCELLED" && document.getElementById("cancel-form").hidden`, 20*time.Second)
	watcher.pageNotReloaded("reaching CANCELLED")
	bob.waitFor("the stock restored live", fmt.Sprintf(`document.getElementById("available").textContent === "%d"`, before), 20*time.Second)
	t.Logf("journey done at %v", time.Since(start).Round(time.Millisecond))

	t.Run("console: admins see instances and sagas, customers get 403", func(t *testing.T) {
		ada.do("a customer opening the console", 20*time.Second, chromedp.Navigate(base+"/console"))
		ada.waitFor("the customer's 403", `document.querySelector("h1") && document.querySelector("h1").textContent.startsWith("403")`, 15*time.Second)
		admin := b.shopper()
		admin.do("the admin opening the console", 20*time.Second, chromedp.Navigate(base+"/console"))
		admin.waitFor("the login page", `location.pathname === "/login"`, 15*time.Second)
		admin.submit("the admin logging in", map[string]string{"email": adminEmail, "password": adminPassword}, "login")
		admin.waitFor("instances and sagas on the console", `location.pathname === "/console"
			&& document.getElementById("svc-orders").textContent.includes("1/1 ready")
			&& document.getElementById("svc-products").textContent.includes("1/1 ready")
			&& document.querySelectorAll("#sagas-failed tbody tr").length >= 1
			&& document.querySelectorAll("#sagas .error").length === 0`, 20*time.Second)
		admin.screenshot("console.png", 1100)
	})

	t.Run("scripts never hold the token", func(t *testing.T) {
		if c := ada.eval("document.cookie", "document.cookie"); c != "" {
			t.Errorf("document.cookie = %q: the session cookie must be HttpOnly", c)
		}
		for _, s := range []*shopper{ada, bob, watcher} {
			auth, n := s.authorizationHeaders()
			if n == 0 {
				t.Fatal("no request recorded: the check would prove nothing")
			}
			if len(auth) > 0 {
				t.Errorf("requests with an Authorization header: %v", auth)
			}
		}
	})

	t.Run("CSP and no inline script", func(t *testing.T) {
		for _, path := range []string{"/", "/login", "/cart", strings.TrimPrefix(orderURL, base)} {
			resp, err := p.public().Get(base + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("%s: Content-Security-Policy %q", path, csp)
			}
		}
		for _, s := range []*shopper{ada, bob} {
			if n := s.eval("inline scripts", `String(document.querySelectorAll("script:not([src])").length + document.querySelectorAll("[style]").length)`); n != "0" {
				t.Errorf("%s has %s inline scripts or styles", s.eval("url", "location.href"), n)
			}
		}
	})

	t.Run("a cross-site form post is refused", func(t *testing.T) {
		productID := productURL[strings.LastIndexByte(productURL, '/')+1:]
		evil := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprintf(w, `<!doctype html><form method="post" action="%s/cart">
<input type="hidden" name="action" value="add"><input type="hidden" name="product_id" value="%s">
<input type="hidden" name="quantity" value="5"><button id="go" type="submit">Win a prize</button></form>`, base, productID)
		}))
		defer evil.Close()
		ada.do("opening the other site", 20*time.Second, chromedp.Navigate(evil.URL))
		ada.do("posting its form", 20*time.Second, chromedp.Click(chromedp.ID("go")))
		ada.waitFor("the refusal", `location.href.startsWith("`+base+`") && document.body.innerText.includes("did not come from this site")`, 15*time.Second)
		ada.do("opening the cart", 20*time.Second, chromedp.Navigate(base+"/cart"))
		ada.waitFor("the cart", `location.pathname === "/cart"`, 10*time.Second)
		if !strings.Contains(ada.eval("the cart", "document.body.innerText"), "Your cart is empty") {
			t.Fatal("the cross-site post changed the cart")
		}
	})
}
