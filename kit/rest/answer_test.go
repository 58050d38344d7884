package rest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/mux"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/errs"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// The features an answer beyond a plain message needs, exercised on the
// orders messages that need them: a body that is one field of the
// response (BodyField), a status and headers from the response
// (Respond), gRPC response metadata as headers (Metadata), error details
// as problem members (ErrorDetails), a body member spelt otherwise than
// its field (Rename), and the Prefer header (Prefers).

const orderID = "0b6c2b5e-8b8a-4f7e-9d8f-1a2b3c4d5e6f"

func testOrder(status ordersv1.OrderStatus) *ordersv1.Order {
	at := timestamppb.New(time.Date(2030, 5, 17, 10, 30, 0, 0, time.UTC))
	return &ordersv1.Order{
		Id: orderID, UserId: "u1", Status: status, TotalCents: 2598, Currency: "EUR",
		Items:           []*ordersv1.OrderItem{{ProductId: "p1", Sku: "MUG-1", Name: "Mug", Quantity: 2, UnitPriceCents: 1299, LineTotalCents: 2598}},
		ShippingAddress: &commonv1.Address{Line1: "1 Main St", City: "Springfield", Country: "US"},
		FailureReason:   "", CreatedAt: at, UpdatedAt: at,
	}
}

// placing is a CreateOrder route as orders/client declares it, over call.
func placing(call func(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error)) Route {
	return Unary(Spec[*ordersv1.CreateOrderRequest, *ordersv1.CreateOrderResponse]{
		Method: http.MethodPost, Path: "/api/v1/orders", Call: call, Body: true,
		Headers:   map[string]string{"Idempotency-Key": "idempotency_key"},
		NotInBody: []string{"respond_async"},
		Rename:    map[string]string{"payment.number": "card_number"},
		Hook: func(r *http.Request, req *ordersv1.CreateOrderRequest, _ Members) error {
			req.RespondAsync = Prefers(r.Header, "respond-async")
			return nil
		},
		HookFills: []string{"respond_async"},
		Status:    http.StatusCreated, Location: "/api/v1/orders/{id}", BodyField: "order",
		Respond: func(h http.Header, resp *ordersv1.CreateOrderResponse) int {
			if resp.GetReplayed() {
				h.Set("Idempotent-Replayed", "true")
			}
			if resp.GetOrder().GetStatus() == ordersv1.OrderStatus_ORDER_STATUS_PENDING {
				return http.StatusAccepted
			}
			return 0
		},
		Metadata:     map[string]string{"idempotent-replayed": "Idempotent-Replayed"},
		ErrorDetails: map[protoreflect.FullName]string{"kitshop.orders.v1.Order": "order"},
	})
}

func serveOne(t *testing.T, rt Route, method, path, body string, header ...string) *httptest.ResponseRecorder {
	t.Helper()
	if err := rt.Err(); err != nil {
		t.Fatal(err)
	}
	router := mux.NewRouter()
	Mount(router, rt)
	r := newRequest(method, path, body, nil)
	for i := 0; i+1 < len(header); i += 2 {
		r.Header.Add(header[i], header[i+1])
	}
	w := httptest.NewRecorder()
	router.ServeHTTP(w, r)
	return w
}

const placeBody = `{"items":[{"product_id":"p1","quantity":2}],"shipping_address":{"line1":"1 Main St","line2":"","city":"Springfield","state":"","postal_code":"","country":"US"},` +
	`"payment":{"card_number":"4242424242424242","exp_month":12,"exp_year":2031,"cvc":"123"}}`

// The body is the response's order, byte for byte as the Order alone
// would be written; replayed becomes a header; PENDING a 202; Location
// names the order.
func TestBodyFieldRespondAndLocation(t *testing.T) {
	var got *ordersv1.CreateOrderRequest
	resp := &ordersv1.CreateOrderResponse{Order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED)}
	rt := placing(func(_ context.Context, r *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
		got = r
		return resp, nil
	})
	alone, err := appendMessage(nil, resp.GetOrder().ProtoReflect(), mustTable(t, resp.GetOrder()))
	if err != nil {
		t.Fatal(err)
	}

	w := serveOne(t, rt, http.MethodPost, "/api/v1/orders", placeBody, "Idempotency-Key", "k1")
	if w.Code != http.StatusCreated || w.Body.String() != string(alone)+"\n" {
		t.Fatalf("%d %s\nwant 201 %s", w.Code, w.Body, alone)
	}
	if loc := w.Header().Get("Location"); loc != "/api/v1/orders/"+orderID {
		t.Fatalf("Location %q", loc)
	}
	if w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatal("a first answer says it is replayed")
	}
	if got.GetIdempotencyKey() != "k1" || got.GetRespondAsync() || got.GetPayment().GetNumber() != "4242424242424242" ||
		got.GetItems()[0].GetQuantity() != 2 {
		t.Fatalf("request %v", got)
	}

	resp = &ordersv1.CreateOrderResponse{Order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_PENDING), Replayed: true}
	w = serveOne(t, rt, http.MethodPost, "/api/v1/orders", placeBody, "Prefer", "wait=5, Respond-Async")
	if w.Code != http.StatusAccepted || w.Header().Get("Idempotent-Replayed") != "true" ||
		w.Header().Get("Location") != "/api/v1/orders/"+orderID || strings.Contains(w.Body.String(), "replayed") {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	if !got.GetRespondAsync() {
		t.Fatal("Prefer: respond-async did not set respond_async")
	}

	resp = &ordersv1.CreateOrderResponse{}
	if w = serveOne(t, rt, http.MethodPost, "/api/v1/orders", placeBody); w.Code != http.StatusInternalServerError {
		t.Fatalf("a response without its body field: %d %s", w.Code, w.Body)
	}
}

func mustTable(t *testing.T, m proto.Message) *msgTable {
	t.Helper()
	tab, err := tableFor(m.ProtoReflect().Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	return tab
}

// A renamed member is read under its API name only, and problems name it
// so; the coverage check still counts the field as reached.
func TestRename(t *testing.T) {
	rt := placing(func(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
		return &ordersv1.CreateOrderResponse{Order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED)}, nil
	})
	w := serveOne(t, rt, http.MethodPost, "/api/v1/orders", strings.Replace(placeBody, "card_number", "number", 1))
	var p struct{ Code, Detail string }
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != http.StatusBadRequest ||
		p.Code != "UNKNOWN_FIELD" || !strings.Contains(p.Detail, "payment.number") {
		t.Fatalf("the proto name is accepted: %d %s", w.Code, w.Body)
	}
	w = serveOne(t, rt, http.MethodPost, "/api/v1/orders", strings.Replace(placeBody, `"4242424242424242"`, `4242`, 1))
	var bad struct {
		Errors []errs.FieldViolation
	}
	if err := json.Unmarshal(w.Body.Bytes(), &bad); err != nil || w.Code != http.StatusBadRequest ||
		len(bad.Errors) != 1 || bad.Errors[0].Field != "payment.card_number" {
		t.Fatalf("a bad card number: %d %s", w.Code, w.Body)
	}
	req, _ := Gaps(rt)
	if slices.Contains(req, "kitshop.orders.v1.CreateOrderRequest.payment.number") {
		t.Fatalf("a renamed field counts as unreached: %v", req)
	}

	// The service checks the card under the field's proto path; the
	// client reads the member it sent, whichever hop the error took.
	invalid := errs.Invalid(errs.FieldViolation{Field: "payment.number", Message: "fails the Luhn check"},
		errs.FieldViolation{Field: "payment.cvc", Message: "must be 3 or 4 digits"},
		errs.FieldViolation{Field: "payment.numbers", Message: "not the renamed field"})
	for name, fail := range map[string]error{"in-process": invalid, "remote": errs.ToGRPC(invalid)} {
		rt := placing(func(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
			return nil, fail
		})
		w := serveOne(t, rt, http.MethodPost, "/api/v1/orders", placeBody)
		bad.Errors = nil
		if err := json.Unmarshal(w.Body.Bytes(), &bad); err != nil || w.Code != http.StatusBadRequest || len(bad.Errors) != 3 ||
			bad.Errors[0].Field != "payment.card_number" || bad.Errors[1].Field != "payment.cvc" || bad.Errors[2].Field != "payment.numbers" {
			t.Fatalf("%s: %d %s", name, w.Code, w.Body)
		}
	}
	if len(invalid.Fields) != 3 || invalid.Fields[0].Field != "payment.number" {
		t.Fatalf("renaming changed the error it was given: %v", invalid.Fields)
	}

	// The detail errs.Invalid wrote names the member as the client sent it.
	one := errs.Invalid(errs.FieldViolation{Field: "payment.number", Message: "fails the Luhn check"})
	rt = placing(func(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
		return nil, one
	})
	w = serveOne(t, rt, http.MethodPost, "/api/v1/orders", placeBody)
	var detail struct{ Detail string }
	if err := json.Unmarshal(w.Body.Bytes(), &detail); err != nil || detail.Detail != "payment.card_number: fails the Luhn check" {
		t.Fatalf("detail %q of %s", detail.Detail, w.Body)
	}
}

func TestRenameField(t *testing.T) {
	rs := []rename{{path: []string{"items", "product_id"}, name: "sku_id"}, {path: []string{"payment", "number"}, name: "card_number"}}
	for in, want := range map[string]string{
		"items[2].product_id": "items[2].sku_id", "items.product_id": "items.sku_id", "items[0].quantity": "items[0].quantity",
		"payment.number": "payment.card_number", "payment": "payment", "number": "number", "payment.number.x": "payment.card_number.x",
	} {
		if got := renameField(in, rs); got != want {
			t.Errorf("renameField(%q) = %q, want %q", in, got, want)
		}
	}
}

// An error's Order detail is the problem's order member, in the
// response JSON rules, whether the error comes from the in-process server
// or over a gRPC hop; Meta stays; other details stay out.
func TestErrorDetailsAreProblemMembers(t *testing.T) {
	cancelled := testOrder(ordersv1.OrderStatus_ORDER_STATUS_CANCELLED)
	cancelled.FailureReason = "PAYMENT_DECLINED"
	declined := errs.New(errs.FailedPrecondition, "PAYMENT_DECLINED", "payment declined").WithStatus(http.StatusPaymentRequired).
		With("order_id", orderID).WithDetail(cancelled).WithDetail(&commonv1.Address{City: "not rendered"})
	for name, fail := range map[string]error{"in-process": declined, "remote": errs.ToGRPC(declined)} {
		t.Run(name, func(t *testing.T) {
			rt := placing(func(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
				return nil, fail
			})
			w := serveOne(t, rt, http.MethodPost, "/api/v1/orders", placeBody)
			var p map[string]json.RawMessage
			if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != http.StatusPaymentRequired {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			want, _ := appendMessage(nil, cancelled.ProtoReflect(), mustTable(t, cancelled))
			if string(p["order"]) != string(want) || string(p["order_id"]) != `"`+orderID+`"` || string(p["code"]) != `"PAYMENT_DECLINED"` {
				t.Fatalf("problem %s\nwant order %s", w.Body, want)
			}
			if strings.Contains(w.Body.String(), "not rendered") {
				t.Fatalf("a detail the route does not render leaked: %s", w.Body)
			}
		})
	}
}

// Response metadata the call sets becomes the mapped headers, on a
// success and on a problem; other keys do not; a remote API forwards a
// remote call's header the same way.
func TestMetadataBecomesHeaders(t *testing.T) {
	var fail error
	rt := placing(func(ctx context.Context, _ *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
		if err := grpc.SetHeader(ctx, metadata.Pairs("idempotent-replayed", "true", "internal-thing", "x")); err != nil {
			return nil, err
		}
		return &ordersv1.CreateOrderResponse{Order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED)}, fail
	})
	for _, f := range []error{nil, errs.New(errs.FailedPrecondition, "PAYMENT_DECLINED", "declined").WithStatus(402)} {
		fail = f
		w := serveOne(t, rt, http.MethodPost, "/api/v1/orders", placeBody)
		if w.Header().Get("Idempotent-Replayed") != "true" || w.Header().Get("Internal-Thing") != "" {
			t.Fatalf("error %v: %d headers %v", f, w.Code, w.Header())
		}
	}

	// A remote API: the header comes back from another hop.
	remote := placing(func(ctx context.Context, _ *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
		ForwardMetadata(ctx, metadata.Pairs("idempotent-replayed", "true", "internal-thing", "x"), "idempotent-replayed")
		return &ordersv1.CreateOrderResponse{Order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED)}, nil
	})
	if w := serveOne(t, remote, http.MethodPost, "/api/v1/orders", placeBody); w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("forwarded: %v", w.Header())
	}
	// Without a route's stream, forwarding is a no-op.
	ForwardMetadata(context.Background(), metadata.Pairs("idempotent-replayed", "true"), "idempotent-replayed")

	// Once the answer is written, the stream takes no more.
	s := &headerStream{}
	s.writeTo(http.Header{}, map[string]string{"a": "A"})
	if err := s.SetHeader(metadata.Pairs("a", "1")); !errors.Is(err, errHeadersSent) {
		t.Fatalf("SetHeader after the answer: %v", err)
	}
}

func TestPrefers(t *testing.T) {
	for _, c := range []struct {
		header []string
		want   bool
	}{
		{nil, false},
		{[]string{"respond-async"}, true},
		{[]string{"RESPOND-ASYNC"}, true},
		{[]string{"wait=10, respond-async"}, true},
		{[]string{"wait=10", "respond-async; foo=bar"}, true},
		{[]string{" respond-async =  "}, true},
		{[]string{`handling=lenient, x="a, respond-async"`}, false},
		{[]string{"respond-asynchronously"}, false},
		{[]string{"return=minimal"}, false},
	} {
		h := http.Header{}
		for _, v := range c.header {
			h.Add("Prefer", v)
		}
		if got := Prefers(h, "respond-async"); got != c.want {
			t.Errorf("Prefer %q: %v, want %v", c.header, got, c.want)
		}
	}
}

// Mistakes in the new Spec fields are found when the route is built.
func TestAnswerSpecMistakes(t *testing.T) {
	call := func(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
		return nil, nil
	}
	type spec = Spec[*ordersv1.CreateOrderRequest, *ordersv1.CreateOrderResponse]
	for name, s := range map[string]spec{
		"body field is a scalar":    {BodyField: "replayed"},
		"body field is unknown":     {BodyField: "orders"},
		"body field is hidden":      {BodyField: "order", Hide: []string{"order"}},
		"rename without a body":     {Rename: map[string]string{"payment.number": "card_number"}},
		"rename of no field":        {Body: true, Rename: map[string]string{"payment.pan": "card_number"}},
		"rename onto a member":      {Body: true, Rename: map[string]string{"payment.number": "cvc"}},
		"rename to a quoted name":   {Body: true, Rename: map[string]string{"payment.number": `card"number`}},
		"rename through a scalar":   {Body: true, Rename: map[string]string{"idempotency_key.x": "y"}},
		"detail type unknown":       {ErrorDetails: map[protoreflect.FullName]string{"kitshop.nowhere.v1.Thing": "thing"}},
		"detail type not a message": {ErrorDetails: map[protoreflect.FullName]string{"kitshop.orders.v1.OrderStatus": "status_x"}},
		"detail as a standard one":  {ErrorDetails: map[protoreflect.FullName]string{"kitshop.orders.v1.Order": "status"}},
		"metadata key in capitals":  {Metadata: map[string]string{"Idempotent-Replayed": "Idempotent-Replayed"}},
		"location off the body":     {BodyField: "order", Location: "/orders/{replayed}"},
	} {
		s.Method, s.Path, s.Call = http.MethodPost, "/api/v1/orders", call
		if err := Unary(s).Err(); err == nil {
			t.Errorf("%s: the route was built", name)
		}
	}
}

// Coverage counts what BodyField leaves out as a response gap: a field
// kept off the body must be allow-listed with its reason.
func TestBodyFieldGaps(t *testing.T) {
	rt := placing(func(context.Context, *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
		return nil, nil
	})
	req, resp := Gaps(rt)
	if len(req) != 0 || !slices.Equal(resp, []string{"kitshop.orders.v1.CreateOrderResponse.replayed"}) {
		t.Fatalf("gaps %v %v", req, resp)
	}
}
