package main

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

	vegeta "github.com/tsenart/vegeta/v12/lib"
)

// poolUser is a customer registered by setup, with a token for its run.
type poolUser struct {
	id, email, password, token string
}

// placedOrder is an order the run placed, to read back with its owner's token.
type placedOrder struct {
	id   string
	user int
}

// maxRemembered bounds the orders kept for get-order: a ring, newest wins.
const maxRemembered = 1024

// world is what the requests draw on: the catalog and users found by
// setup, and the orders placed so far. The targeter reads it from
// vegeta's workers while the results loop adds orders, hence the lock.
type world struct {
	base    string // e.g. https://localhost:8080
	apiKey  string
	runID   string
	mix     mix
	words   []string // search terms, from the catalog's names
	product []string // product ids
	users   []poolUser
	userIdx map[string]int // user id -> index in users

	seq atomic.Uint64 // idempotency keys

	mu     sync.Mutex
	orders []placedOrder
	next   int
}

func (w *world) remember(o placedOrder) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.orders) < maxRemembered {
		w.orders = append(w.orders, o)
		return
	}
	w.orders[w.next] = o
	w.next = (w.next + 1) % maxRemembered
}

func (w *world) anyOrder() (placedOrder, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.orders) == 0 {
		return placedOrder{}, false
	}
	return w.orders[rand.IntN(len(w.orders))], true
}

func pickOne[T any](s []T) T { return s[rand.IntN(len(s))] }

// targeter draws each request's route from the mix and builds it.
func (w *world) targeter() vegeta.Targeter {
	return func(t *vegeta.Target) error {
		w.build(w.mix.next(), t)
		return nil
	}
}

func (w *world) build(route string, t *vegeta.Target) {
	t.Header = http.Header{}
	if w.apiKey != "" {
		t.Header.Set("X-API-Key", w.apiKey)
	}
	t.Body = nil
	switch route {
	case routeGetOrder:
		o, ok := w.anyOrder()
		if !ok {
			// Nothing placed yet: browse instead of sending a request
			// that can only be a 404.
			w.build(routeGetProduct, t)
			return
		}
		t.Method, t.URL = http.MethodGet, w.base+"/api/v1/orders/"+o.id
		t.Header.Set("Authorization", "Bearer "+w.users[o.user].token)
	case routePlaceOrder:
		u := pickOne(w.users)
		t.Method, t.URL = http.MethodPost, w.base+"/api/v1/orders"
		t.Header.Set("Authorization", "Bearer "+u.token)
		t.Header.Set("Content-Type", "application/json")
		t.Header.Set("Idempotency-Key", fmt.Sprintf("loadgen-%s-%d", w.runID, w.seq.Add(1)))
		t.Body = orderBody(pickOne(w.product))
	case routeLogin:
		u := pickOne(w.users)
		t.Method, t.URL = http.MethodPost, w.base+"/api/v1/auth/login"
		t.Header.Set("Content-Type", "application/json")
		t.Body, _ = json.Marshal(map[string]string{"email": u.email, "password": u.password})
	case routeGetProduct:
		t.Method, t.URL = http.MethodGet, w.base+"/api/v1/products/"+pickOne(w.product)
	case routeSearch:
		t.Method, t.URL = http.MethodGet, w.base+"/api/v1/products?page_size=10&q="+url.QueryEscape(pickOne(w.words))
	default: // routeList
		t.Method, t.URL = http.MethodGet, w.base+"/api/v1/products?page_size=20"
	}
}

// orderBody is one unit of a product, shipped to Springfield and paid
// with the card the simulated processor approves.
func orderBody(productID string) []byte {
	b, _ := json.Marshal(map[string]any{
		"items": []map[string]any{{"product_id": productID, "quantity": 1}},
		"shipping_address": map[string]string{
			"line1": "1 Main St", "city": "Springfield", "state": "IL", "postal_code": "62701", "country": "US",
		},
		"payment": map[string]any{"card_number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"},
	})
	return b
}

// classify names a request's route from its method and URL: vegeta's
// results carry those, not the targeter's choice.
func classify(method, rawURL string) string {
	u, err := url.Parse(rawURL)
	if err != nil {
		return "other"
	}
	p := strings.TrimSuffix(u.Path, "/")
	switch {
	case method == http.MethodGet && p == "/api/v1/products":
		if u.Query().Has("q") {
			return routeSearch
		}
		return routeList
	case method == http.MethodGet && strings.HasPrefix(p, "/api/v1/products/"):
		return routeGetProduct
	case method == http.MethodPost && p == "/api/v1/auth/login":
		return routeLogin
	case method == http.MethodPost && p == "/api/v1/orders":
		return routePlaceOrder
	case method == http.MethodGet && strings.HasPrefix(p, "/api/v1/orders/"):
		return routeGetOrder
	}
	return "other"
}

// problemCode is the stable "code" of a problem+json body, if any.
func problemCode(body []byte) string {
	var p struct {
		Code string `json:"code"`
	}
	if json.Unmarshal(body, &p) != nil {
		return ""
	}
	return p.Code
}

// transportCode shortens a client error ("Post \"https://…\": dial tcp
// 127.0.0.1:8080: connect: connection refused") to its cause, so errors
// of one kind tally on one line.
func transportCode(err string) string {
	switch {
	case strings.Contains(err, "Client.Timeout") || strings.Contains(err, "deadline exceeded"):
		return "timeout"
	case strings.Contains(err, "connection refused"):
		return "connection refused"
	case strings.Contains(err, "connection reset"):
		return "connection reset"
	case strings.Contains(err, "certificate"):
		return "tls: certificate"
	}
	if i := strings.LastIndex(err, ": "); i >= 0 {
		err = err[i+2:]
	}
	return err
}
