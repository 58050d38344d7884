package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	ordersclient "github.com/kitshop/kitshop/orders/client"
)

// frontDemoCatalog is the number of demo products products seeds
// (KITSHOP_PRODUCTS_SEED_DEMO), and frontDripper the one the session
// buys.
const (
	frontDemoCatalog = 12
	frontDripper     = "DEMO-KIT-001"
)

// journey is the README's curl session, as a customer would type it:
// register, log in, list the demo catalog, place an order, read it back
// enriched, then a declined card and an idempotent replay. It logs the
// session as curl commands and trimmed answers (go test -v), for the
// README.
func (s *storefront) journey(t *testing.T) {
	var session frontSession
	step := func(title, method, path, token, body string, headerPairs ...string) frontReply {
		t.Helper()
		r := s.send(t, method, path, token, body, headerPairs...)
		session.add(title, method, path, token, body, headerPairs, r)
		return r
	}
	defer func() { t.Logf("the README session through the gateway:\n%s", session.String()) }()

	// 1. Register.
	r := step("Register", http.MethodPost, "/api/v1/users", "",
		`{"email":"ada@example.com","password":"correct horse battery","name":"Ada Lovelace"}`).want(t, http.StatusCreated)
	userID := r.str("id")
	if r.str("role") != "customer" || r.Body["address"] != nil || r.Header.Get("Location") != "/api/v1/users/"+userID {
		t.Fatalf("registered %v, Location %q", r.Body, r.Header.Get("Location"))
	}
	if _, leaked := r.Body["password_hash"]; leaked {
		t.Fatalf("the user carries its password hash: %v", r.Body)
	}

	// 2. Log in.
	r = step("Log in", http.MethodPost, "/api/v1/auth/login", "",
		`{"email":"ada@example.com","password":"correct horse battery"}`).want(t, http.StatusOK)
	token := r.str("access_token")
	if token == "" || r.str("token_type") != "Bearer" || r.Body["expires_in"] != float64(3600) || r.str("user.id") != userID {
		t.Fatalf("login %v", r.Body)
	}

	// 3. The demo catalog.
	r = step("List products", http.MethodGet, "/api/v1/products", "", "").want(t, http.StatusOK)
	var catalog struct {
		Products []struct {
			ID, SKU, Name string
			Available     int64
		}
		NextPageToken string `json:"next_page_token"`
		TotalSize     int64  `json:"total_size"`
	}
	if err := json.Unmarshal(r.Raw, &catalog); err != nil {
		t.Fatal(err)
	}
	var dripper string
	for _, p := range catalog.Products {
		if !strings.HasPrefix(p.SKU, "DEMO-") {
			t.Errorf("product %s %q is not a demo product", p.SKU, p.Name)
		}
		if p.SKU == frontDripper {
			dripper = p.ID
		}
	}
	if len(catalog.Products) != frontDemoCatalog || catalog.TotalSize != frontDemoCatalog || catalog.NextPageToken != "" || dripper == "" {
		t.Fatalf("catalog of %d products (total %d, next %q), want the %d demo ones with %s",
			len(catalog.Products), catalog.TotalSize, catalog.NextPageToken, frontDemoCatalog, frontDripper)
	}

	// 4. Place an order.
	place := `{"items":[{"product_id":"` + dripper + `","quantity":2}],` +
		`"shipping_address":{"line1":"221B Baker Street","line2":"","city":"London","state":"","postal_code":"NW1 6XE","country":"GB"},` +
		`"payment":{"card_number":"4242424242424242","exp_month":12,"exp_year":` + fmt.Sprint(time.Now().Year()+2) + `,"cvc":"123"}}`
	const key = "ada-order-1"
	placed := step("Place an order", http.MethodPost, "/api/v1/orders", token, place, "Idempotency-Key", key).want(t, http.StatusCreated)
	orderID := placed.str("id")
	if placed.str("status") != "CONFIRMED" || placed.Header.Get("Location") != "/api/v1/orders/"+orderID ||
		placed.Body["total_cents"] != float64(2*2499) || placed.str("payment_id") == "" || placed.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("placed %s, headers %v", placed.Raw, placed.Header)
	}

	// 5. Read it back: items carry the catalog's sku and name.
	r = step("Fetch the order", http.MethodGet, "/api/v1/orders/"+orderID, token, "").want(t, http.StatusOK)
	items, _ := r.Body["items"].([]any)
	item, _ := frontFirst(items).(map[string]any)
	if r.str("status") != "CONFIRMED" || len(items) != 1 || item["sku"] != frontDripper || item["name"] != "Pour-over coffee dripper" ||
		item["line_total_cents"] != float64(2*2499) || r.Header.Get("Warning") != "" {
		t.Fatalf("order %s, Warning %q", r.Raw, r.Header.Get("Warning"))
	}

	// A declined card: 402 with the order, CANCELLED, its stock released.
	before := s.available(t, dripper)
	declined := strings.Replace(place, "4242424242424242", cardDeclined, 1)
	r = step("A declined card", http.MethodPost, "/api/v1/orders", token, declined).
		wantProblem(t, http.StatusPaymentRequired, ordersclient.ReasonPaymentDeclined)
	order, _ := r.Body["order"].(map[string]any)
	if order["status"] != "CANCELLED" || order["failure_reason"] != ordersclient.ReasonPaymentDeclined || order["id"] != r.Body["order_id"] {
		t.Fatalf("402 %s", r.Raw)
	}
	if after := s.available(t, dripper); after != before {
		t.Errorf("available %d after the declined order, want %d: its reservation was not released", after, before)
	}

	// Idempotent replay: the first answer again, said to be a replay; the
	// key with another body is refused.
	r = step("Replay the first order", http.MethodPost, "/api/v1/orders", token, place, "Idempotency-Key", key).want(t, http.StatusCreated)
	if r.Header.Get("Idempotent-Replayed") != "true" || !reflect.DeepEqual(r.Body, placed.Body) || r.Header.Get("Location") != placed.Header.Get("Location") {
		t.Fatalf("replay %s with headers %v, want %s replayed", r.Raw, r.Header, placed.Raw)
	}
	other := strings.Replace(place, `"quantity":2`, `"quantity":3`, 1)
	step("The same key for another order", http.MethodPost, "/api/v1/orders", token, other, "Idempotency-Key", key).
		wantProblem(t, http.StatusUnprocessableEntity, errs.ReasonIdempotencyKeyReused)
	if got := s.available(t, dripper); got != before {
		t.Errorf("available %d after the replays, want %d: a replay ordered again", got, before)
	}
}

// enrichment: GET /api/v1/orders/{id} shows the catalog's current sku
// and name (one BatchGetProducts), not only what the order recorded: a
// product renamed after the order is read with its new name.
func (s *storefront) enrichment(t *testing.T) {
	admin := s.adminToken(t)
	buyer := s.register(t, "Renamer")
	pid := s.createProduct(t, admin, 5)
	id := s.send(t, http.MethodPost, "/api/v1/orders", buyer.token, frontOrder(pid, 1, cardApproved)).want(t, http.StatusCreated).str("id")
	s.send(t, http.MethodPatch, "/api/v1/products/"+pid, admin, `{"name":"Renamed after the order"}`).want(t, http.StatusOK)
	r := s.send(t, http.MethodGet, "/api/v1/orders/"+id, buyer.token, "").want(t, http.StatusOK)
	items, _ := r.Body["items"].([]any)
	item, _ := frontFirst(items).(map[string]any)
	if item["name"] != "Renamed after the order" || item["product_id"] != pid || r.Header.Get("Warning") != "" {
		t.Fatalf("order items %v (Warning %q), want the catalog's current name", items, r.Header.Get("Warning"))
	}
}

// available is what the catalog says of a product's available units.
func (s *storefront) available(t testing.TB, productID string) int64 {
	t.Helper()
	r := s.send(t, http.MethodGet, "/api/v1/products/"+productID, "", "").want(t, http.StatusOK)
	n, ok := r.Body["available"].(float64)
	if !ok {
		t.Fatalf("product %s has no available count", r.Raw)
	}
	return int64(n)
}

func frontFirst(list []any) any {
	if len(list) == 0 {
		return nil
	}
	return list[0]
}

// frontSession writes exchanges as a curl session: the command, the
// status line, the headers worth showing, the JSON body indented with
// long arrays cut to their first two elements.
type frontSession struct{ b strings.Builder }

func (f *frontSession) add(title, method, path, token, body string, headerPairs []string, r frontReply) {
	fmt.Fprintf(&f.b, "\n# %s\ncurl -s", title)
	if method != http.MethodGet {
		fmt.Fprintf(&f.b, " -X %s", method)
	}
	fmt.Fprintf(&f.b, " $GW%s", path)
	if token != "" {
		f.b.WriteString(` -H "Authorization: Bearer $TOKEN"`)
	}
	for i := 0; i+1 < len(headerPairs); i += 2 {
		fmt.Fprintf(&f.b, " -H '%s: %s'", headerPairs[i], headerPairs[i+1])
	}
	if body != "" {
		fmt.Fprintf(&f.b, " -H 'Content-Type: application/json' \\\n  -d '%s'", body)
	}
	fmt.Fprintf(&f.b, "\nHTTP/1.1 %d %s\n", r.Status, http.StatusText(r.Status))
	for _, h := range []string{"Content-Type", "Location", "Idempotent-Replayed", "Warning"} {
		if v := r.Header.Get(h); v != "" {
			fmt.Fprintf(&f.b, "%s: %s\n", h, v)
		}
	}
	var v any
	if json.Unmarshal(r.Raw, &v) != nil {
		f.b.Write(r.Raw)
		return
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	_ = enc.Encode(frontTrim(v))
	f.b.Write(out.Bytes())
}

func (f *frontSession) String() string { return f.b.String() }

// frontTrim cuts arrays longer than two to their first two elements and
// a note of how many were left out, and the access token to its start.
func frontTrim(v any) any {
	switch v := v.(type) {
	case []any:
		out := make([]any, 0, 3)
		for i, e := range v {
			if i == 2 {
				out = append(out, fmt.Sprintf("… %d more", len(v)-2))
				break
			}
			out = append(out, frontTrim(e))
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, e := range v {
			out[k] = frontTrim(e)
		}
		if tok, ok := out["access_token"].(string); ok && len(tok) > 20 {
			out["access_token"] = tok[:20] + "…"
		}
		return out
	}
	return v
}
