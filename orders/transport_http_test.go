package main

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/orders/client"
)

// wireHTTP is the HTTP transport over a wireFake, as main wires it
// (endpoint chain, verifier), on a real loopback server.
type wireHTTP struct {
	fake   *wireFake
	iss    *authtest.Issuer
	http   kittest.HTTPClient
	url    string
	userID string
	user   string // a customer's token
	other  string // another customer's
	admin  string
}

func newWireHTTP(t *testing.T, stock int64) *wireHTTP {
	t.Helper()
	fake := newWireFake(stock)
	iss := authtest.NewIssuer(t)
	logger := logx.New(&kittest.LogBuffer{}, "orders")
	h := NewHTTPHandler(MakeEndpoints(fake, mw.Chain{Service: "orders", Logger: logger}), iss.Verifier)
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	w := &wireHTTP{fake: fake, iss: iss, http: kittest.HTTPClient{BaseURL: srv.URL}, url: srv.URL, userID: uuid.NewString()}
	w.user = iss.Token(t, w.userID, "customer")
	w.other = iss.Token(t, uuid.NewString(), "customer")
	w.admin = iss.Token(t, uuid.NewString(), "admin")
	return w
}

func wirePlaceBody(quantity, card string) string {
	return `{"items":[{"product_id":"` + wireProductID + `","quantity":` + quantity + `}],` +
		`"shipping_address":{"line1":"1 Main St","line2":"","city":"Springfield","state":"IL","postal_code":"62701","country":"US"},` +
		`"payment":{"card_number":"` + card + `","exp_month":12,"exp_year":2040,"cvc":"123"}}`
}

func (w *wireHTTP) place(t *testing.T, token, body string, header ...string) kittest.HTTPResponse {
	t.Helper()
	h := http.Header{"Content-Type": {"application/json"}}
	for i := 0; i+1 < len(header); i += 2 {
		h.Add(header[i], header[i+1])
	}
	return w.http.Do(t, http.MethodPost, "/api/v1/orders", token, h, body)
}

// The orders part of API.md, as orders/client's contract table states it,
// holds over the HTTP transport: run against the fake, the table and the
// transport are checked together (the service's own test runs it against
// the real saga).
func TestHTTPContract(t *testing.T) {
	w := newWireHTTP(t, 10)
	client.RunContract(t, w.url, client.ContractFixture{
		ProductID: wireProductID, Available: 10, OwnerID: w.userID,
		OwnerToken: w.user, StrangerToken: w.other, AdminToken: w.admin,
	})
}

// Placing answers 201 CONFIRMED with Location, 202 PENDING with
// Location when asked not to wait, and a replay with the first answer and
// Idempotent-Replayed: true.
func TestHTTPPlaceOrder(t *testing.T) {
	w := newWireHTTP(t, 10)
	r := w.place(t, w.user, wirePlaceBody("2", "4242424242424242"), "Idempotency-Key", "k1")
	kittest.ExpectStatus(t, r, http.StatusCreated)
	id, _ := r.Body["id"].(string)
	if r.Body["status"] != "CONFIRMED" || r.Header.Get("Location") != "/api/v1/orders/"+id || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("%v %v", r.Header, r.Body)
	}
	if _, leaked := r.Body["replayed"]; leaked {
		t.Fatalf("the response wrapper leaked into the Order: %v", r.Body)
	}
	again := w.place(t, w.user, wirePlaceBody("2", "4242424242424242"), "Idempotency-Key", "k1")
	kittest.ExpectStatus(t, again, http.StatusCreated)
	if again.Body["id"] != id || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay %v %v", again.Header, again.Body)
	}

	async := w.place(t, w.user, wirePlaceBody("1", "4242424242424242"), "Prefer", "respond-async")
	kittest.ExpectStatus(t, async, http.StatusAccepted)
	if async.Body["status"] != "PENDING" || async.Header.Get("Location") != "/api/v1/orders/"+async.Body["id"].(string) {
		t.Fatalf("async %v %v", async.Header, async.Body)
	}
}

// Failures: 402 with the CANCELLED order as a member, 409 with the
// product and what is available, 422 for a reused key, 409 while the
// key's first request runs, 400 naming the API's members.
func TestHTTPPlaceOrderFailures(t *testing.T) {
	w := newWireHTTP(t, 3)

	r := w.place(t, w.user, wirePlaceBody("1", "4000000000000002"), "Idempotency-Key", "declined")
	kittest.ExpectProblem(t, r, http.StatusPaymentRequired, client.ReasonPaymentDeclined)
	o, _ := r.Body["order"].(map[string]any)
	if o["status"] != "CANCELLED" || o["failure_reason"] != client.ReasonPaymentDeclined || o["id"] != r.Body["order_id"] ||
		o["user_id"] != w.userID || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("402 %v %v", r.Header, r.Body)
	}
	// The replay of a failure is the same problem, said to be a replay.
	again := w.place(t, w.user, wirePlaceBody("1", "4000000000000002"), "Idempotency-Key", "declined")
	kittest.ExpectProblem(t, again, http.StatusPaymentRequired, client.ReasonPaymentDeclined)
	if again.Body["order_id"] != r.Body["order_id"] || again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed 402 %v %v", again.Header, again.Body)
	}
	r = w.place(t, w.user, wirePlaceBody("1", "4000000000009995"))
	kittest.ExpectProblem(t, r, http.StatusPaymentRequired, client.ReasonInsufficientFunds)

	r = w.place(t, w.user, wirePlaceBody("4", "4242424242424242"))
	kittest.ExpectProblem(t, r, http.StatusConflict, client.ReasonInsufficientStock)
	if r.Body[client.MetaProductID] != wireProductID || r.Body[client.MetaAvailable] != float64(3) {
		t.Fatalf("409 %v", r.Body)
	}

	r = w.place(t, w.user, wirePlaceBody("2", "4000000000000002"), "Idempotency-Key", "declined")
	kittest.ExpectProblem(t, r, http.StatusUnprocessableEntity, errs.ReasonIdempotencyKeyReused)

	w.fake.hold(w.userID, "busy")
	r = w.place(t, w.user, wirePlaceBody("1", "4242424242424242"), "Idempotency-Key", "busy")
	kittest.ExpectProblem(t, r, http.StatusConflict, client.ReasonIdempotencyInProgress)

	r = w.place(t, w.user, wirePlaceBody("0", "4242424242424241"))
	kittest.ExpectProblem(t, r, http.StatusBadRequest, errs.ReasonValidation)
	fields := map[string]bool{}
	for _, e := range r.Body["errors"].([]any) {
		fields[e.(map[string]any)["field"].(string)] = true
	}
	if !fields["items[0].quantity"] || !fields["payment.card_number"] || fields["payment.number"] {
		t.Fatalf("violations %v", r.Body["errors"])
	}

	// Nobody anonymous gets as far as the body.
	r = w.place(t, "", `{"items":`)
	kittest.ExpectProblem(t, r, http.StatusUnauthorized, errs.ReasonUnauth)
}

// Cancelling while the cancel saga still runs is 202 with Location, the
// order still CONFIRMED.
func TestHTTPCancelPending(t *testing.T) {
	w := newWireHTTP(t, 3)
	placed := w.place(t, w.user, wirePlaceBody("1", "4242424242424242"))
	kittest.ExpectStatus(t, placed, http.StatusCreated)
	id := placed.Body["id"].(string)
	w.fake.cancelPending = true
	r := w.http.Do(t, http.MethodPost, "/api/v1/orders/"+id+"/cancel", w.user, nil, "")
	kittest.ExpectStatus(t, r, http.StatusAccepted)
	if r.Body["status"] != "CONFIRMED" || r.Header.Get("Location") != "/api/v1/orders/"+id {
		t.Fatalf("%v %v", r.Header, r.Body)
	}
}

// /debug/sagas is for admins only, read-only, active by default, and
// refuses a filter it does not know.
func TestHTTPDebugSagas(t *testing.T) {
	w := newWireHTTP(t, 3)
	w.fake.sagas = []SagaInfo{{OrderID: "o1", Kind: "checkout", State: map[string]any{"status": "running"}}}

	r := w.http.Do(t, http.MethodGet, "/debug/sagas", w.admin, nil, "")
	kittest.ExpectStatus(t, r, http.StatusOK)
	list, _ := r.Body["sagas"].([]any)
	first, _ := list[0].(map[string]any)
	if r.Body["filter"] != "active" || len(list) != 1 || first["order_id"] != "o1" || first["kind"] != "checkout" ||
		first["state"].(map[string]any)["status"] != "running" {
		t.Fatalf("listing %v", r.Body)
	}
	if w.fake.lastSagas != (SagasRequest{Filter: SagasActive, Limit: defaultSagasLimit}) {
		t.Fatalf("service asked for %+v", w.fake.lastSagas)
	}

	r = w.http.Do(t, http.MethodGet, "/debug/sagas?state=attention&limit=7", w.admin, nil, "")
	kittest.ExpectStatus(t, r, http.StatusOK)
	if w.fake.lastSagas != (SagasRequest{Filter: SagasAttention, Limit: 7}) || r.Body["filter"] != "attention" {
		t.Fatalf("service asked for %+v, answered %v", w.fake.lastSagas, r.Body)
	}
	w.fake.sagas = nil
	r = w.http.Do(t, http.MethodGet, "/debug/sagas?state=failed", w.admin, nil, "")
	if l, ok := r.Body["sagas"].([]any); !ok || len(l) != 0 {
		t.Fatalf("no sagas is not an empty list: %v", r.Body)
	}

	for _, q := range []string{"?state=stuck", "?state=active&state=failed", "?limit=0", "?limit=501", "?limit=x", "?state=%zz"} {
		r = w.http.Do(t, http.MethodGet, "/debug/sagas"+q, w.admin, nil, "")
		if r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %v, want 400", q, r.Status, r.Body)
		}
	}
	// Anyone else learns nothing, not even which filters exist.
	kittest.ExpectProblem(t, w.http.Do(t, http.MethodGet, "/debug/sagas?state=stuck", w.user, nil, ""), http.StatusForbidden, errs.ReasonForbidden)
	kittest.ExpectProblem(t, w.http.Do(t, http.MethodGet, "/debug/sagas", "", nil, ""), http.StatusUnauthorized, errs.ReasonUnauth)
	r = w.http.Do(t, http.MethodPost, "/debug/sagas", w.admin, nil, "")
	if r.Status != http.StatusMethodNotAllowed || !strings.Contains(r.Header.Get("Allow"), "GET") {
		t.Fatalf("POST: %d %v", r.Status, r.Header)
	}
}
