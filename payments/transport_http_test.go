package main

import (
	"context"
	"mime"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/payments/client"
)

func TestHTTPGetPayment(t *testing.T) {
	f := newSvcFixture(t, newMemoryStore())
	iss := authtest.NewIssuer(t)
	srv := httptest.NewServer(NewHTTPHandler(MakeEndpoints(f.svc, mw.Chain{Service: "payments"}), iss.Verifier))
	t.Cleanup(srv.Close)

	req := chargeReq(TestCardApproved)
	p, err := f.svc.Charge(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	api := kittest.HTTPClient{BaseURL: srv.URL}
	path := "/api/v1/payments/" + p.ID
	owner := iss.Token(t, req.UserID, auth.RoleCustomer)

	t.Run("owner", func(t *testing.T) {
		r := api.Do(t, http.MethodGet, path, owner, nil, "")
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); r.Status != http.StatusOK || mt != "application/json" {
			t.Fatalf("status %d, content type %q, want 200 JSON", r.Status, r.Header.Get("Content-Type"))
		}
		keys := make([]string, 0, len(r.Body))
		for k := range r.Body {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		want := []string{"amount_cents", "card_brand", "card_last4", "created_at", "currency", "decline_code",
			"id", "order_id", "refunded_cents", "status", "updated_at", "user_id"}
		if !slices.Equal(keys, want) {
			t.Fatalf("fields %v, want exactly %v", keys, want)
		}
		if r.Body["id"] != p.ID || r.Body["user_id"] != req.UserID || r.Body["order_id"] != req.OrderID ||
			r.Body["amount_cents"] != float64(2500) || r.Body["currency"] != "EUR" || r.Body["status"] != "CAPTURED" ||
			r.Body["card_brand"] != "visa" || r.Body["card_last4"] != "4242" || r.Body["refunded_cents"] != float64(0) ||
			r.Body["decline_code"] != "" || r.Body["created_at"] != "2030-05-17T10:30:00Z" {
			t.Fatalf("body %v does not match %+v", r.Body, p)
		}
	})
	t.Run("admin", func(t *testing.T) {
		r := api.Do(t, http.MethodGet, path, iss.Token(t, uuid.NewString(), auth.RoleAdmin), nil, "")
		if r.Status != http.StatusOK || r.Body["id"] != p.ID {
			t.Fatalf("status %d, body %v; want 200 with the payment", r.Status, r.Body)
		}
	})
	for name, tc := range map[string]struct {
		path, token, method string
		status              int
		code                string
	}{
		"another user": {path, iss.Token(t, uuid.NewString(), auth.RoleCustomer), http.MethodGet, 404, "NOT_FOUND"},
		"unknown id":   {"/api/v1/payments/" + uuid.NewString(), owner, http.MethodGet, 404, "NOT_FOUND"},
		"no token":     {path, "", http.MethodGet, 401, "UNAUTHENTICATED"},
		"bad token":    {path, owner + "x", http.MethodGet, 401, "UNAUTHENTICATED"},
		"malformed id": {"/api/v1/payments/nope", owner, http.MethodGet, 400, "VALIDATION_FAILED"},
	} {
		t.Run(name, func(t *testing.T) {
			r := api.Do(t, tc.method, tc.path, tc.token, nil, "")
			mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
			if r.Status != tc.status || r.Body["code"] != tc.code || mt != "application/problem+json" {
				t.Fatalf("status %d (%s), body %v; want %d %s problem", r.Status, r.Header.Get("Content-Type"), r.Body, tc.status, tc.code)
			}
			if _, leaked := r.Body["user_id"]; leaked {
				t.Fatalf("problem leaks payment data: %v", r.Body)
			}
		})
	}
	t.Run("upper-case id", func(t *testing.T) {
		// The service canonicalises ids, on HTTP as on gRPC.
		r := api.Do(t, http.MethodGet, "/api/v1/payments/"+strings.ToUpper(p.ID), owner, nil, "")
		if r.Status != http.StatusOK || r.Body["id"] != p.ID {
			t.Fatalf("status %d, body %v; want 200 with the payment under its canonical id", r.Status, r.Body)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		r := api.Do(t, http.MethodDelete, path, owner, nil, "")
		if r.Status != http.StatusMethodNotAllowed || r.Header.Get("Allow") == "" {
			t.Fatalf("status %d, Allow %q; want 405 with Allow", r.Status, r.Header.Get("Allow"))
		}
	})
}

// TestHTTPPaymentOutcomes: a declined charge shows its decline code, and
// a charge whose outcome is not recorded yet shows PENDING, through the
// whole HTTP stack.
func TestHTTPPaymentOutcomes(t *testing.T) {
	store := newMemoryStore()
	f := newSvcFixture(t, store)
	iss := authtest.NewIssuer(t)
	srv := httptest.NewServer(NewHTTPHandler(MakeEndpoints(f.svc, mw.Chain{Service: "payments"}), iss.Verifier))
	t.Cleanup(srv.Close)
	api := kittest.HTTPClient{BaseURL: srv.URL}
	ctx := context.Background()

	declined := chargeReq(TestCardDeclined)
	_, err := f.svc.Charge(ctx, declined)
	e := kittest.WantErr(t, err, errs.FailedPrecondition, client.ReasonCardDeclined)
	r := api.Do(t, http.MethodGet, "/api/v1/payments/"+e.MetaString(client.MetaPaymentID),
		iss.Token(t, declined.UserID, auth.RoleCustomer), nil, "")
	if r.Status != http.StatusOK || r.Body["status"] != "DECLINED" || r.Body["decline_code"] != "card_declined" ||
		r.Body["card_last4"] != "0002" {
		t.Fatalf("declined: status %d, body %v", r.Status, r.Body)
	}

	// The processor is unreachable: the attempt is recorded, its outcome
	// is not.
	down := NewService(store, nil, Options{Processor: downProcessor{}, Now: func() time.Time { return testNow }})
	pending := chargeReq(TestCardApproved)
	_, err = down.Charge(ctx, pending)
	e = kittest.WantErr(t, err, errs.Unavailable, client.ReasonProcessingError)
	r = api.Do(t, http.MethodGet, "/api/v1/payments/"+e.MetaString(client.MetaPaymentID),
		iss.Token(t, pending.UserID, auth.RoleCustomer), nil, "")
	if r.Status != http.StatusOK || r.Body["status"] != "PENDING" || r.Body["decline_code"] != "" {
		t.Fatalf("pending: status %d, body %v", r.Status, r.Body)
	}
}
