package client

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest"
	"github.com/kitshop/kitshop/kit/rest/resttest"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// hiddenRequestFields are request fields that API.md gives no way to set
// over HTTP. None: respond_async is the Prefer header (a hook), and
// idempotency keys are the Idempotency-Key header.
var hiddenRequestFields = map[string]string{}

// hiddenResponseFields are response fields never written to JSON.
var hiddenResponseFields = map[string]string{
	"kitshop.orders.v1.CreateOrderResponse.replayed": "the body is the Order (API.md); a replay says so in the Idempotent-Replayed header",
}

// internalMethods are OrdersService methods with no HTTP route.
var internalMethods = map[string]string{
	"WatchOrder": "a server stream of status changes: gRPC only (HTTP clients poll GET /api/v1/orders/{id})",
}

// TestMappingCoversTheService: every OrdersService method is routed or
// listed above, and every field of the routed messages, nested ones
// included, reaches JSON or is hidden above, with its reason.
func TestMappingCoversTheService(t *testing.T) {
	resttest.CheckCoverage(t, rest.Coverage{
		Service:        ordersv1.File_orders_v1_orders_proto.Services().ByName("OrdersService"),
		Routes:         Routes(&fakeAPI{}),
		HiddenRequest:  hiddenRequestFields,
		HiddenResponse: hiddenResponseFields,
		Internal:       internalMethods,
	})
}

// fakeAPI records the last request of each method and answers with what
// it is given. replayed sets the response header ReplayedMetadata, as
// the service's pb server does. It is an OrdersServiceServer too, for the
// remote hop (resttest.ServeGRPC turns its errors into statuses).
type fakeAPI struct {
	ordersv1.UnimplementedOrdersServiceServer
	create   *ordersv1.CreateOrderRequest
	list     *ordersv1.ListOrdersRequest
	cancel   *ordersv1.CancelOrderRequest
	order    *ordersv1.Order
	replayed bool
	err      error
}

func (f *fakeAPI) header(ctx context.Context) {
	if f.replayed {
		_ = grpc.SetHeader(ctx, metadata.Pairs(ReplayedMetadata, "true"))
	}
}

func (f *fakeAPI) CreateOrder(ctx context.Context, r *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	f.create = r
	f.header(ctx)
	if f.err != nil {
		return nil, f.err
	}
	return &ordersv1.CreateOrderResponse{Order: f.order, Replayed: f.replayed}, nil
}

func (f *fakeAPI) GetOrder(context.Context, *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	return f.order, f.err
}

func (f *fakeAPI) ListOrders(_ context.Context, r *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	f.list = r
	return &ordersv1.ListOrdersResponse{Orders: []*ordersv1.Order{f.order}, NextPageToken: "next"}, f.err
}

func (f *fakeAPI) CancelOrder(ctx context.Context, r *ordersv1.CancelOrderRequest) (*ordersv1.Order, error) {
	f.cancel = r
	f.header(ctx)
	if f.err != nil {
		return nil, f.err
	}
	return f.order, nil
}

func (f *fakeAPI) ShipOrder(context.Context, *ordersv1.ShipOrderRequest) (*ordersv1.Order, error) {
	return f.order, f.err
}

const (
	testOrderID = "0b6c2b5e-8b8a-4f7e-9d8f-1a2b3c4d5e6f"
	testUserID  = "9b1d2c3e-4f50-4a6b-8c7d-0e1f2a3b4c5d"
)

func testOrder(status ordersv1.OrderStatus) *ordersv1.Order {
	return &ordersv1.Order{
		Id: testOrderID, UserId: testUserID, Status: status,
		Items: []*ordersv1.OrderItem{{ProductId: "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", Sku: "MUG-1", Name: "Blue mug",
			Quantity: 2, UnitPriceCents: 1299, LineTotalCents: 2598}},
		TotalCents: 2598, Currency: "EUR",
		ShippingAddress: &commonv1.Address{Line1: "1 Main St", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"},
		PaymentId:       "8c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f",
		CreatedAt:       timestamppb.New(time.Date(2030, 5, 17, 10, 30, 0, 0, time.UTC)),
		UpdatedAt:       timestamppb.New(time.Date(2030, 5, 17, 10, 30, 1, 500000000, time.UTC)),
	}
}

const orderJSON = `{"id":"` + testOrderID + `","user_id":"` + testUserID + `","status":"CONFIRMED",` +
	`"items":[{"product_id":"6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f","sku":"MUG-1","name":"Blue mug","quantity":2,"unit_price_cents":1299,"line_total_cents":2598}],` +
	`"total_cents":2598,"currency":"EUR",` +
	`"shipping_address":{"line1":"1 Main St","line2":"","city":"Springfield","state":"IL","postal_code":"62701","country":"US"},` +
	`"payment_id":"8c1e2d3f-4a5b-4c6d-8e7f-9a0b1c2d3e4f","failure_reason":"",` +
	`"created_at":"2030-05-17T10:30:00Z","updated_at":"2030-05-17T10:30:01.5Z"}`

const placeJSON = `{"items":[{"product_id":"6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f","quantity":2}],` +
	`"shipping_address":{"line1":"1 Main St","line2":"","city":"Springfield","state":"IL","postal_code":"62701","country":"US"},` +
	`"payment":{"card_number":"4242424242424242","exp_month":12,"exp_year":2031,"cvc":"123"}}`

// router serves the mapping over api as the service does, with a caller
// of role in the context (none when role is empty).
func router(api API, role string) http.Handler {
	r := httpx.NewRouter()
	RegisterHTTP(r, api)
	if role == "" {
		return r
	}
	return resttest.AsRole(role, testUserID, r)
}

// TestPlaceOrderShape pins API.md's POST /orders: the request's members
// (card_number, the Idempotency-Key and Prefer headers), the Order as the
// body byte for byte, 201 with Location, 202 while PENDING,
// Idempotent-Replayed on a replay.
func TestPlaceOrderShape(t *testing.T) {
	f := &fakeAPI{order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED)}
	h := router(f, "customer")

	w := resttest.Do(t, h, http.MethodPost, "/api/v1/orders", placeJSON, "Idempotency-Key", "k1")
	if w.Code != http.StatusCreated || w.Body.String() != orderJSON+"\n" {
		t.Fatalf("%d %s\nwant 201 %s", w.Code, w.Body, orderJSON)
	}
	if w.Header().Get("Location") != "/api/v1/orders/"+testOrderID || w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("headers %v", w.Header())
	}
	want := &ordersv1.CreateOrderRequest{
		Items:           []*ordersv1.LineItem{{ProductId: "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", Quantity: 2}},
		ShippingAddress: &commonv1.Address{Line1: "1 Main St", City: "Springfield", State: "IL", PostalCode: "62701", Country: "US"},
		Payment:         &commonv1.Card{Number: "4242424242424242", ExpMonth: 12, ExpYear: 2031, Cvc: "123"},
		IdempotencyKey:  "k1",
	}
	if !proto.Equal(f.create, want) {
		t.Fatalf("request %v\nwant %v", f.create, want)
	}

	f.order, f.replayed = testOrder(ordersv1.OrderStatus_ORDER_STATUS_PENDING), true
	w = resttest.Do(t, h, http.MethodPost, "/api/v1/orders", placeJSON, "Prefer", "respond-async")
	if w.Code != http.StatusAccepted || w.Header().Get("Location") != "/api/v1/orders/"+testOrderID ||
		w.Header().Get("Idempotent-Replayed") != "true" || !strings.Contains(w.Body.String(), `"status":"PENDING"`) {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	if !f.create.GetRespondAsync() {
		t.Fatal("Prefer: respond-async did not reach respond_async")
	}

	// respond_async is the header's only: a member of that name is not
	// the API's.
	f.create = nil
	w = resttest.Do(t, h, http.MethodPost, "/api/v1/orders", strings.Replace(placeJSON, `{"items"`, `{"respond_async":true,"items"`, 1))
	if w.Code != http.StatusBadRequest || f.create != nil {
		t.Fatalf("respond_async in the body: %d %s", w.Code, w.Body)
	}
}

// A failed placement's problem carries the order it left, in the Order's
// JSON, and an anonymous caller is refused before the body is read.
func TestPlaceOrderProblems(t *testing.T) {
	cancelled := testOrder(ordersv1.OrderStatus_ORDER_STATUS_CANCELLED)
	cancelled.FailureReason = ReasonPaymentDeclined
	f := &fakeAPI{err: errs.New(errs.FailedPrecondition, ReasonPaymentDeclined, "payment declined").
		WithStatus(http.StatusPaymentRequired).With(MetaOrderID, testOrderID).WithDetail(cancelled)}
	w := resttest.Do(t, router(f, "customer"), http.MethodPost, "/api/v1/orders", placeJSON)
	var p struct {
		Code    string
		OrderID string `json:"order_id"`
		Order   json.RawMessage
	}
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != http.StatusPaymentRequired ||
		p.Code != ReasonPaymentDeclined || p.OrderID != testOrderID {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
	wantOrder := strings.Replace(strings.Replace(orderJSON, `"CONFIRMED"`, `"CANCELLED"`, 1),
		`"failure_reason":""`, `"failure_reason":"PAYMENT_DECLINED"`, 1)
	if string(p.Order) != wantOrder {
		t.Fatalf("order member %s\nwant %s", p.Order, wantOrder)
	}

	f.create = nil
	w = resttest.Do(t, router(f, ""), http.MethodPost, "/api/v1/orders", `{"items":`)
	if w.Code != http.StatusUnauthorized || f.create != nil {
		t.Fatalf("anonymous: %d %s", w.Code, w.Body)
	}
}

// Cancelling is 200 once done, 202 with Location while the cancel saga
// runs (the order is still CONFIRMED), and replayed says so; shipping is
// for admins.
func TestCancelAndShip(t *testing.T) {
	f := &fakeAPI{order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_CANCELLED)}
	h := router(f, "customer")
	w := resttest.Do(t, h, http.MethodPost, "/api/v1/orders/"+testOrderID+"/cancel", "", "Idempotency-Key", "c1")
	if w.Code != http.StatusOK || w.Header().Get("Location") != "" ||
		!proto.Equal(f.cancel, &ordersv1.CancelOrderRequest{Id: testOrderID, IdempotencyKey: "c1"}) {
		t.Fatalf("%d %v %v", w.Code, w.Header(), f.cancel)
	}
	f.order, f.replayed = testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED), true
	w = resttest.Do(t, h, http.MethodPost, "/api/v1/orders/"+testOrderID+"/cancel", "")
	if w.Code != http.StatusAccepted || w.Header().Get("Location") != "/api/v1/orders/"+testOrderID ||
		w.Header().Get("Idempotent-Replayed") != "true" || w.Body.String() != orderJSON+"\n" {
		t.Fatalf("pending cancel: %d %v %s", w.Code, w.Header(), w.Body)
	}

	f.replayed = false
	if w := resttest.Do(t, h, http.MethodPost, "/api/v1/orders/"+testOrderID+"/ship", ""); w.Code != http.StatusForbidden {
		t.Fatalf("customer ships: %d %s", w.Code, w.Body)
	}
	if w := resttest.Do(t, router(f, "admin"), http.MethodPost, "/api/v1/orders/"+testOrderID+"/ship", ""); w.Code != http.StatusOK {
		t.Fatalf("admin ships: %d %s", w.Code, w.Body)
	}
}

func TestListOrders(t *testing.T) {
	f := &fakeAPI{order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED)}
	w := resttest.Do(t, router(f, "customer"), http.MethodGet, "/api/v1/orders?page_size=5&page_token=abc", "")
	if w.Code != http.StatusOK || w.Body.String() != `{"orders":[`+orderJSON+`],"next_page_token":"next"}`+"\n" ||
		!proto.Equal(f.list, &ordersv1.ListOrdersRequest{PageSize: 5, PageToken: "abc"}) {
		t.Fatalf("%d %s %v", w.Code, w.Body, f.list)
	}
}

// TestEveryStatusHasItsAPIName: each OrderStatus reaches JSON as API.md
// spells it, and the contract accepts exactly those.
func TestEveryStatusHasItsAPIName(t *testing.T) {
	f := &fakeAPI{}
	h := router(f, "customer")
	got := map[string]bool{}
	values := ordersv1.OrderStatus(0).Descriptor().Values()
	for i := range values.Len() {
		v := values.Get(i)
		if v.Number() == 0 {
			continue // UNSPECIFIED: never a stored order's status
		}
		f.order = testOrder(ordersv1.OrderStatus(v.Number()))
		w := resttest.Do(t, h, http.MethodGet, "/api/v1/orders/"+testOrderID, "")
		var body struct{ Status string }
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", v.Name(), w.Code, w.Body)
		}
		if want := strings.TrimPrefix(string(v.Name()), "ORDER_STATUS_"); body.Status != want {
			t.Errorf("%s is %q in JSON, want %q", v.Name(), body.Status, want)
		}
		got[body.Status] = true
	}
	if len(got) != len(apiStatuses) {
		t.Errorf("JSON statuses %v, the contract accepts %v", got, apiStatuses)
	}
	for _, s := range apiStatuses {
		if !got[s] {
			t.Errorf("API.md's status %s is no OrderStatus", s)
		}
	}
}

// TestRemoteAPI serves the mapping over a real gRPC hop, as the gateway
// will: the replayed header crosses it on a success and on a failure,
// and a failure keeps its kind, reason, 402 and order detail.
func TestRemoteAPI(t *testing.T) {
	f := &fakeAPI{order: testOrder(ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED), replayed: true}
	conn := resttest.ServeGRPC(t, func(s *grpc.Server) { ordersv1.RegisterOrdersServiceServer(s, f) })
	h := router(RemoteAPI(ordersv1.NewOrdersServiceClient(conn)), "customer")

	w := resttest.Do(t, h, http.MethodPost, "/api/v1/orders", placeJSON, "Idempotency-Key", "k1")
	if w.Code != http.StatusCreated || w.Body.String() != orderJSON+"\n" || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
	w = resttest.Do(t, h, http.MethodPost, "/api/v1/orders/"+testOrderID+"/cancel", "")
	if w.Code != http.StatusAccepted || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("cancel: %d %v %s", w.Code, w.Header(), w.Body)
	}

	cancelled := testOrder(ordersv1.OrderStatus_ORDER_STATUS_CANCELLED)
	f.err = errs.New(errs.FailedPrecondition, ReasonInsufficientFunds, "insufficient funds").
		WithStatus(http.StatusPaymentRequired).With(MetaOrderID, testOrderID).WithDetail(cancelled)
	w = resttest.Do(t, h, http.MethodPost, "/api/v1/orders", placeJSON, "Idempotency-Key", "k2")
	var p map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != http.StatusPaymentRequired ||
		p["code"] != ReasonInsufficientFunds || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("failure: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if o, _ := p["order"].(map[string]any); o["status"] != "CANCELLED" || o["id"] != testOrderID {
		t.Fatalf("order member %v", p["order"])
	}

	f.err, f.replayed = errs.New(errs.NotFound, errs.ReasonNotFound, "order not found"), false
	w = resttest.Do(t, h, http.MethodGet, "/api/v1/orders/"+testOrderID, "")
	if w.Code != http.StatusNotFound || w.Header().Get("Content-Type") != "application/problem+json" {
		t.Fatalf("not found: %d %s", w.Code, w.Body)
	}
}
