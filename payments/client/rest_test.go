package client

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest"
	"github.com/kitshop/kitshop/kit/rest/resttest"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// hiddenRequestFields are request fields that API.md gives no way to set
// over HTTP. None: GetPaymentRequest is the id in the path.
var hiddenRequestFields = map[string]string{}

// hiddenResponseFields are response fields never written to JSON. None:
// pb's Payment is exactly API.md's Payment. What a customer must not see
// has no pb field at all, so it cannot leak through either transport: the
// card number and CVC are never stored, and the charge's idempotency key
// (the saga's business) stays on the domain type. A field added to
// Payment is shown unless it is listed here, with the reason, and hidden
// with Spec.Hide.
var hiddenResponseFields = map[string]string{}

// internalMethods are PaymentsService methods with no HTTP route: they
// serve the orders saga, over gRPC under mTLS, never end users.
var internalMethods = map[string]string{
	"Charge":         "moves money; the orders saga's, with a card it collected",
	"Refund":         "moves money back; the saga's compensation and cancellation",
	"GetChargeByKey": "the saga's lookup of a charge it never learned the id of",
	"ListPayments":   "every customer's payments, for orders' consistency checker only",
}

// TestMappingCoversTheService: every PaymentsService method is routed or
// internal (an internal one must never get a route by accident), and
// every field of the routed messages, nested ones included, reaches JSON
// or is hidden above, with its reason. A field or method added to
// payments.proto therefore reaches the API with no edit or fails here,
// never silently.
func TestMappingCoversTheService(t *testing.T) {
	resttest.CheckCoverage(t, rest.Coverage{
		Service:        paymentsv1.File_payments_v1_payments_proto.Services().ByName("PaymentsService"),
		Routes:         Routes(&fakeAPI{}),
		HiddenRequest:  hiddenRequestFields,
		HiddenResponse: hiddenResponseFields,
		Internal:       internalMethods,
	})
}

// fakeAPI records the request and answers with pay, or err.
type fakeAPI struct {
	got *paymentsv1.GetPaymentRequest
	pay *paymentsv1.Payment
	err error
}

func (f *fakeAPI) GetPayment(_ context.Context, r *paymentsv1.GetPaymentRequest) (*paymentsv1.Payment, error) {
	f.got = r
	if f.err != nil {
		return nil, f.err
	}
	return f.pay, nil
}

const payID = "0b6c2b5e-8b8a-4f7e-9d8f-1a2b3c4d5e6f"

func declined() *paymentsv1.Payment {
	return &paymentsv1.Payment{
		Id: payID, OrderId: "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", UserId: "9b1d2c3e-4f50-4a6b-8c7d-0e1f2a3b4c5d",
		AmountCents: 2500, Currency: "EUR", Status: paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED,
		CardBrand: "visa", CardLast4: "0002", DeclineCode: "card_declined",
		CreatedAt: timestamppb.New(time.Date(2030, 5, 17, 10, 30, 0, 0, time.UTC)),
		UpdatedAt: timestamppb.New(time.Date(2030, 5, 17, 10, 30, 0, 123456000, time.UTC)),
	}
}

func get(t *testing.T, h http.Handler, path string) *httptest.ResponseRecorder {
	t.Helper()
	return resttest.Do(t, h, http.MethodGet, path, "")
}

// TestMappingShape pins API.md's Payment byte for byte: members in order,
// snake_case, integers as numbers, the status without its enum prefix,
// timestamps in RFC 3339 UTC.
func TestMappingShape(t *testing.T) {
	f := &fakeAPI{pay: declined()}
	router := asCustomer(f)

	w := get(t, router, "/api/v1/payments/"+payID)
	const want = `{"id":"` + payID + `","order_id":"6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f",` +
		`"user_id":"9b1d2c3e-4f50-4a6b-8c7d-0e1f2a3b4c5d","amount_cents":2500,"currency":"EUR","status":"DECLINED",` +
		`"card_brand":"visa","card_last4":"0002","decline_code":"card_declined","refunded_cents":0,` +
		`"created_at":"2030-05-17T10:30:00Z","updated_at":"2030-05-17T10:30:00.123456Z"}` + "\n"
	if w.Code != http.StatusOK || w.Body.String() != want {
		t.Fatalf("GET: %d %s\nwant %s", w.Code, w.Body, want)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Fatalf("content type %q", ct)
	}
	if !proto.Equal(f.got, &paymentsv1.GetPaymentRequest{Id: payID}) {
		t.Fatalf("request %v, want the path's id", f.got)
	}
	// A malformed id is refused before the call (at the gateway too);
	// canonicalising a well-formed one stays the service's job.
	f.got = nil
	if w := get(t, router, "/api/v1/payments/nope"); w.Code != 400 || f.got != nil {
		t.Fatalf("malformed id: %d, service called with %v", w.Code, f.got)
	}
}

// TestEveryStatusHasItsAPIName: each PaymentStatus reaches JSON as API.md
// spells it, PENDING included (a charge whose outcome is not recorded
// yet), so a status added to the proto shows up without a mapping edit.
func TestEveryStatusHasItsAPIName(t *testing.T) {
	f := &fakeAPI{}
	router := asCustomer(f)
	got := map[string]bool{}
	values := paymentsv1.PaymentStatus(0).Descriptor().Values()
	for i := range values.Len() {
		v := values.Get(i)
		if v.Number() == 0 {
			continue // UNSPECIFIED: never a stored payment's status
		}
		p := declined()
		p.Status = paymentsv1.PaymentStatus(v.Number())
		f.pay = p
		w := get(t, router, "/api/v1/payments/"+payID)
		var body struct{ Status string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", v.Name(), w.Code, w.Body)
		}
		if want := strings.TrimPrefix(string(v.Name()), "PAYMENT_STATUS_"); body.Status != want {
			t.Errorf("%s is %q in JSON, want %q", v.Name(), body.Status, want)
		}
		got[body.Status] = true
	}
	// The contract table accepts exactly these statuses.
	for _, s := range apiStatuses {
		if !got[s] {
			t.Errorf("no PaymentStatus is %s in JSON, but the contract accepts it", s)
		}
	}
	if len(got) != len(apiStatuses) {
		t.Errorf("JSON statuses %v, the contract accepts %v: list a new status there", got, apiStatuses)
	}
	for _, s := range []string{"CAPTURED", "DECLINED", "FAILED", "REFUNDED", "PENDING"} {
		if !got[s] {
			t.Errorf("API.md's status %s is no PaymentStatus", s)
		}
	}
}

// TestRemoteAPI serves the mapping over a real gRPC hop, as the gateway
// will: the pb messages cross the wire, and an error's kind and reason
// survive as a gRPC status, so "not yours" stays 404 NOT_FOUND.
func TestRemoteAPI(t *testing.T) {
	f := &fakeAPI{pay: declined()}
	conn := resttest.ServeGRPC(t, func(srv *grpc.Server) { paymentsv1.RegisterPaymentsServiceServer(srv, remoteFake{f: f}) })
	router := asCustomer(RemoteAPI(paymentsv1.NewPaymentsServiceClient(conn)))

	w := get(t, router, "/api/v1/payments/"+payID)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusOK ||
		body["id"] != payID || body["status"] != "DECLINED" || body["amount_cents"] != float64(2500) {
		t.Fatalf("%d %s: %v", w.Code, w.Body, err)
	}
	if !proto.Equal(f.got, &paymentsv1.GetPaymentRequest{Id: payID}) {
		t.Fatalf("request %v", f.got)
	}

	f.err = errs.New(errs.NotFound, errs.ReasonNotFound, "payment not found")
	w = get(t, router, "/api/v1/payments/"+payID)
	body = nil
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusNotFound ||
		body["code"] != errs.ReasonNotFound || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("%d %s %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if _, leaked := body["user_id"]; leaked {
		t.Fatalf("problem leaks payment data: %v", body)
	}
}

// remoteFake serves fakeAPI over gRPC, converting errors as kitshop's
// server interceptors do.
type remoteFake struct {
	paymentsv1.UnimplementedPaymentsServiceServer
	f *fakeAPI
}

func (r remoteFake) GetPayment(ctx context.Context, req *paymentsv1.GetPaymentRequest) (*paymentsv1.Payment, error) {
	p, err := r.f.GetPayment(ctx, req)
	return p, errs.ToGRPC(err)
}

// asCustomer serves the mapping over api to a signed-in customer, as the
// verifier's middleware would: the routes' guards let only callers in.
func asCustomer(api API) http.Handler {
	r := httpx.NewRouter()
	RegisterHTTP(r, api)
	return resttest.AsRole(auth.RoleCustomer, "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", r)
}
