package e2e

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// frontProbeLimit is how long a probe may take: the gateway answers bad
// input without waiting on anything.
const frontProbeLimit = 5 * time.Second

// probes sends what an attacker would and wants clean answers: the
// expected 4xx (a problem document when kitshop, not net/http, answers),
// never a 5xx, never a hang.
func (s *storefront) probes(t *testing.T) {
	admin := s.adminToken(t)
	buyer := s.register(t, "Prober")
	pid := s.createProduct(t, admin, 5)
	product := "/api/v1/products/" + pid
	tenMB := strings.Repeat("a", 10<<20)

	type probe struct {
		name                string
		method, path, token string
		body                io.Reader
		header              []string
		want                []int
		// http1 sends it over HTTP/1.1: Go's HTTP/2 client refuses to
		// send headers larger than the server advertises, an attacker's
		// client does not.
		http1 bool
	}
	json := func(s string) io.Reader { return strings.NewReader(s) }
	nested := func(depth int) string { return strings.Repeat(`{"a":`, depth) + "1" + strings.Repeat("}", depth) }
	for _, p := range []probe{
		// NUL bytes.
		{name: "NUL in a path id", method: "GET", path: "/api/v1/products/%00", want: []int{400, 404}},
		{name: "NUL after a valid id", method: "GET", path: product + "%00", want: []int{400, 404}},
		{name: "NUL in a query", method: "GET", path: "/api/v1/products?q=mug%00drop", want: []int{400}},
		{name: "NUL in a query name", method: "GET", path: "/api/v1/products?q%00=x", want: []int{400}},
		{name: "escaped NUL in a JSON string", method: "POST", path: "/api/v1/users",
			body: json(`{"email":"nul-` + uuid.NewString()[:8] + `@example.com","password":"correct horse","name":"N\u0000ul"}`), want: []int{400}},
		{name: "raw NUL in a JSON string", method: "POST", path: "/api/v1/users",
			body: json("{\"email\":\"a\x00@example.com\",\"password\":\"correct horse\",\"name\":\"N\"}"), want: []int{400}},
		{name: "NUL in a password", method: "POST", path: "/api/v1/auth/login",
			body: json(`{"email":"` + buyer.email + `","password":"correct horse\u0000"}`), want: []int{400, 401}},

		// Sizes.
		{name: "a 10 MB body", method: "POST", path: "/api/v1/users", body: json(`{"name":"` + tenMB + `"}`), want: []int{413}},
		{name: "a 10 MB body, chunked", method: "POST", path: "/api/v1/orders", token: buyer.token,
			body: io.MultiReader(strings.NewReader(`{"shipping_address":{"line1":"`), strings.NewReader(tenMB), strings.NewReader(`"}}`)), want: []int{413}},
		{name: "a 10 MB body of an unknown member", method: "POST", path: "/api/v1/orders", token: buyer.token,
			body: json(`{"x":"` + tenMB + `"}`), want: []int{400, 413}},
		{name: "a 100 KB header", method: "GET", path: "/api/v1/products", header: []string{"X-Filler", strings.Repeat("h", 100<<10)}, want: []int{431}, http1: true},
		{name: "a 60 KB bearer token", method: "GET", path: "/api/v1/users/me", token: strings.Repeat("t", 60<<10), want: []int{401}},
		{name: "a very long path", method: "GET", path: "/api/v1/products/" + strings.Repeat("a", 8<<10), want: []int{400, 404, 414}},
		{name: "a 100 KB path", method: "GET", path: "/api/v1/products/" + strings.Repeat("a", 100<<10), want: []int{414, 431}, http1: true},
		{name: "a 100 KB query", method: "GET", path: "/api/v1/products?q=" + strings.Repeat("q", 100<<10), want: []int{400, 414, 431}, http1: true},

		// Numbers.
		{name: "a price past float64", method: "POST", path: "/api/v1/products", token: admin,
			body: json(`{"sku":"BIG-` + uuid.NewString()[:8] + `","name":"x","description":"","category":"x","price_cents":1e400,"currency":"USD","stock":1}`), want: []int{400}},
		{name: "a price past int64", method: "POST", path: "/api/v1/products", token: admin,
			body: json(`{"sku":"BIG-` + uuid.NewString()[:8] + `","name":"x","description":"","category":"x","price_cents":99999999999999999999999,"currency":"USD","stock":1}`), want: []int{400}},
		{name: "the largest int64 price", method: "POST", path: "/api/v1/products", token: admin,
			body: json(`{"sku":"BIG-` + uuid.NewString()[:8] + `","name":"x","description":"","category":"x","price_cents":9223372036854775807,"currency":"USD","stock":1}`), want: []int{400}},
		{name: "a stock delta past int64", method: "POST", path: product + "/stock", token: admin,
			body: json(`{"delta":-99999999999999999999999}`), want: []int{400}},
		{name: "the largest int64 stock delta", method: "POST", path: product + "/stock", token: admin,
			body: json(`{"delta":9223372036854775807}`), want: []int{400, 409}},
		{name: "a huge quantity", method: "POST", path: "/api/v1/orders", token: buyer.token,
			body: json(strings.Replace(frontOrder(pid, 1, cardApproved), `"quantity":1`, `"quantity":1e30`, 1)), want: []int{400}},
		{name: "the largest int64 quantity", method: "POST", path: "/api/v1/orders", token: buyer.token,
			body: json(strings.Replace(frontOrder(pid, 1, cardApproved), `"quantity":1`, `"quantity":9223372036854775807`, 1)), want: []int{400, 409}},
		{name: "a negative zero quantity", method: "POST", path: "/api/v1/orders", token: buyer.token,
			body: json(strings.Replace(frontOrder(pid, 1, cardApproved), `"quantity":1`, `"quantity":-0`, 1)), want: []int{400}},

		// Nesting.
		{name: "100000 nested arrays", method: "POST", path: "/api/v1/users", body: json(strings.Repeat("[", 100000)), want: []int{400}},
		{name: "10000 nested objects in a member", method: "POST", path: "/api/v1/users",
			body: json(`{"email":"x@example.com","password":"correct horse","name":` + nested(10000) + `}`), want: []int{400}},
		{name: "nested objects in an order", method: "POST", path: "/api/v1/orders", token: buyer.token,
			body: json(strings.Replace(frontOrder(pid, 1, cardApproved), `"quantity":1`, `"quantity":`+nested(5000), 1)), want: []int{400}},

		// Paging.
		{name: "page_size=-1", method: "GET", path: "/api/v1/products?page_size=-1", want: []int{400}},
		{name: "page_size=1e9", method: "GET", path: "/api/v1/products?page_size=1e9", want: []int{400}},
		{name: "page_size=1000000000", method: "GET", path: "/api/v1/products?page_size=1000000000", want: []int{200}},
		{name: "page_size past int64", method: "GET", path: "/api/v1/orders?page_size=99999999999999999999", token: buyer.token, want: []int{400}},
		{name: "page_size twice", method: "GET", path: "/api/v1/products?page_size=1&page_size=2", want: []int{200, 400}},
		{name: "a forged page token", method: "GET", path: "/api/v1/orders?page_token=" + strings.Repeat("A", 4096), token: buyer.token, want: []int{400}},

		// Ids and paths.
		{name: "an id that is not a UUID", method: "GET", path: "/api/v1/orders/123", token: buyer.token, want: []int{400}},
		{name: "SQL in an id", method: "GET", path: "/api/v1/payments/'%20OR%201=1--", token: buyer.token, want: []int{400}},
		{name: "an upper-case UUID", method: "GET", path: "/api/v1/products/" + strings.ToUpper(pid), want: []int{200, 400, 404}},
		{name: "a UUID with braces", method: "GET", path: "/api/v1/products/%7B" + pid + "%7D", want: []int{400}},
		{name: "an escaped slash in an id", method: "GET", path: "/api/v1/users/..%2f..%2fadmin", token: buyer.token, want: []int{400, 404}},
		{name: "a dot-dot path", method: "GET", path: "/api/v1/products/../users/me", want: []int{400, 404}},
		{name: "a double slash", method: "GET", path: "//api/v1/products", want: []int{400, 404}},
		{name: "a method nobody knows", method: "BREW", path: "/api/v1/products", want: []int{405}},
		{name: "a body on a GET", method: "GET", path: product, body: json(`{"x":1}`), want: []int{200, 400}},
	} {
		t.Run(p.name, func(t *testing.T) {
			req, err := http.NewRequest(p.method, s.base+p.path, p.body)
			if err != nil {
				t.Fatal(err)
			}
			if _, sized := p.body.(*strings.Reader); !sized && p.body != nil {
				req.ContentLength = -1 // sent chunked: the server cannot refuse by Content-Length
			}
			if p.body != nil {
				req.Header.Set("Content-Type", "application/json")
			}
			for i := 0; i+1 < len(p.header); i += 2 {
				req.Header.Set(p.header[i], p.header[i+1])
			}
			if p.token != "" {
				req.Header.Set("Authorization", "Bearer "+p.token)
			}
			start := time.Now()
			var r frontReply
			if p.http1 {
				r = s.http1().do(t, req)
			} else {
				r = s.do(t, req)
			}
			took := time.Since(start)
			if took > frontProbeLimit {
				t.Errorf("answered in %v, over %v", took, frontProbeLimit)
			}
			if !slices.Contains(p.want, r.Status) {
				t.Errorf("status %d, want one of %v: %s", r.Status, p.want, frontShorten(string(r.Raw)))
			}
			// net/http itself answers oversized headers and request lines
			// in plain text; everything kitshop answers is a problem.
			if r.Status >= 400 && r.Status != 414 && r.Status != 431 && r.Header.Get("Content-Type") != "application/problem+json" {
				t.Errorf("status %d with content type %q: %s", r.Status, r.Header.Get("Content-Type"), frontShorten(string(r.Raw)))
			}
			if bytes.Contains(r.Raw, []byte("goroutine ")) || bytes.Contains(r.Raw, []byte("127.0.0.1")) {
				t.Errorf("the answer leaks internals: %s", frontShorten(string(r.Raw)))
			}
			if id, ok := r.Body["id"].(string); ok && r.Status == http.StatusOK && id != strings.ToLower(id) {
				t.Errorf("the answer names a non-canonical id %q", id)
			}
		})
	}

	// Bytes Go's client refuses to send, written on the wire as they are.
	for _, c := range []struct {
		name, request string
		want          []int
	}{
		{"a raw NUL in the path", "GET /api/v1/products/\x00 HTTP/1.1\r\nHost: kitshop\r\n\r\n", []int{400}},
		{"a NUL in a header value", "GET /api/v1/products HTTP/1.1\r\nHost: kitshop\r\nX-Request-ID: a\x00b\r\n\r\n", []int{400}},
		{"a NUL in an idempotency key", "POST " + product + "/stock HTTP/1.1\r\nHost: kitshop\r\nAuthorization: Bearer " + admin +
			"\r\nIdempotency-Key: k\x01ey\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"delta\":1}", []int{400}},
		{"a control character in a bearer token", "GET /api/v1/users/me HTTP/1.1\r\nHost: kitshop\r\nAuthorization: Bearer a\x01b\r\n\r\n", []int{400, 401}},
		{"a request line without a version", "GET /api/v1/products\r\n\r\n", []int{400}},
		{"a negative Content-Length", "POST /api/v1/users HTTP/1.1\r\nHost: kitshop\r\nContent-Type: application/json\r\nContent-Length: -1\r\n\r\n{}", []int{400}},
		{"a Content-Length past int64", "POST /api/v1/users HTTP/1.1\r\nHost: kitshop\r\nContent-Type: application/json\r\nContent-Length: 99999999999999999999\r\n\r\n{}", []int{400}},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, head := s.raw(t, c.request)
			if !slices.Contains(c.want, status) {
				t.Errorf("status %d, want one of %v: %s", status, c.want, frontShorten(head))
			}
		})
	}
	// The gateway is still serving.
	s.send(t, http.MethodGet, product, "", "").want(t, http.StatusOK)
}

// http1 is the storefront speaking HTTP/1.1 only, recording into the
// same exchanges.
func (s *storefront) http1() *storefront {
	h1 := s.p.public().Transport.(*http.Transport)
	h1.ForceAttemptHTTP2 = false
	h1.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	client := &http.Client{Transport: s.rec.wrap(h1), Timeout: s.client.Timeout}
	return &storefront{p: s.p, base: s.base, client: client, rec: s.rec}
}

// raw writes request to the gateway over TLS as it is and returns the
// status of the answer and its head, within frontProbeLimit.
func (s *storefront) raw(t testing.TB, request string) (int, string) {
	t.Helper()
	tr := s.p.public().Transport.(*http.Transport)
	cfg := tr.TLSClientConfig.Clone()
	cfg.NextProtos = []string{"http/1.1"}
	dialer := &net.Dialer{Timeout: frontProbeLimit}
	conn, err := tls.DialWithDialer(dialer, "tcp", strings.TrimPrefix(s.base, "https://"), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(frontProbeLimit))
	if _, err := io.WriteString(conn, request); err != nil {
		t.Fatalf("writing the request: %v", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("no answer within %v: %v", frontProbeLimit, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	return resp.StatusCode, resp.Status + " " + resp.Header.Get("Content-Type") + " " + string(body)
}
