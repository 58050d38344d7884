package rest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest"
	"github.com/kitshop/kitshop/kit/rest/resttest"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	paymentsclient "github.com/kitshop/kitshop/payments/client"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
	usersclient "github.com/kitshop/kitshop/users/client"
)

// publicRoutes are the four services' REST mappings, as the gateway
// mounts them, over the given APIs.
func publicRoutes(products productsclient.API, orders ordersclient.API) []rest.Route {
	var routes []rest.Route
	routes = append(routes, usersclient.Routes(usersclient.RemoteAPI(nil))...)
	routes = append(routes, productsclient.Routes(products)...)
	routes = append(routes, ordersclient.Routes(orders)...)
	routes = append(routes, paymentsclient.Routes(paymentsclient.RemoteAPI(nil))...)
	return routes
}

// documentedRoutes are publicRoutes over remote APIs with no connection:
// the document needs only their descriptors, and nothing is called.
func documentedRoutes() []rest.Route {
	return publicRoutes(productsclient.RemoteAPI(nil), ordersclient.RemoteAPI(nil))
}

// access is API.md's rule of who may call what.
func access(method, path string) rest.Access {
	switch {
	case method == http.MethodPost && (path == "/api/v1/users" || path == "/api/v1/auth/login"):
		return rest.Access{}
	case strings.HasPrefix(path, "/api/v1/products"):
		if method == http.MethodGet {
			return rest.Access{}
		}
		return rest.Access{Bearer: true, Roles: []string{auth.RoleAdmin}}
	case strings.HasSuffix(path, "/ship"):
		return rest.Access{Bearer: true, Roles: []string{auth.RoleAdmin}}
	}
	return rest.Access{Bearer: true}
}

var testInfo = rest.OpenAPIInfo{
	Title: "kitshop", Version: "v1", Description: "The public API.",
	Servers:  []string{"http://localhost:8080"},
	Security: access,
	Problems: []int{http.StatusTooManyRequests, http.StatusServiceUnavailable, http.StatusGatewayTimeout},
	RequestHeaders: map[string]string{
		"X-API-Key":   "Names the client application for rate limiting.",
		"traceparent": "W3C trace context.",
	},
	ResponseHeaders: map[string]string{
		"X-Request-ID": "Echoed from the request, or generated.",
		"traceparent":  "W3C trace context of the request's trace.",
	},
}

func document(t testing.TB, routes []rest.Route) []byte {
	t.Helper()
	b, err := rest.OpenAPI(testInfo, routes...)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// newValidator parses doc with libopenapi, which must build its 3.1
// model without an error, and checks it against the OpenAPI 3.1 schema.
func newValidator(t testing.TB, doc []byte) validator.Validator {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatal(err)
	}
	model, err := d.BuildV3Model()
	if err != nil {
		t.Fatalf("BuildV3Model: %v", err)
	}
	if model.Model.Version != "3.1.0" {
		t.Fatalf("version %q", model.Model.Version)
	}
	// Formats (date-time, int32, uri-reference) and base64 content are
	// checked, not only noted.
	v, verrs := validator.NewValidator(d, config.WithFormatAssertions(), config.WithContentAssertions())
	if len(verrs) > 0 {
		t.Fatalf("NewValidator: %v", verrs)
	}
	if ok, problems := v.ValidateDocument(); !ok {
		for _, p := range problems {
			t.Errorf("document: %s: %s %v", p.Message, p.Reason, p.SchemaValidationErrors)
		}
		t.FailNow()
	}
	return v
}

func TestOpenAPIIsAValidDocument(t *testing.T) {
	newValidator(t, document(t, documentedRoutes()))
}

func TestOpenAPIHasEveryRouteAndNothingMore(t *testing.T) {
	routes := documentedRoutes()
	doc := document(t, routes)
	got, err := rest.OpenAPIOperations(doc)
	if err != nil {
		t.Fatal(err)
	}
	var want []rest.Operation
	for _, rt := range routes {
		want = append(want, rest.Operation{Method: rt.Method(), Path: rest.OpenAPIPath(rt.Path())})
	}
	slices.SortFunc(want, func(a, b rest.Operation) int { return strings.Compare(a.Path+" "+a.Method, b.Path+" "+b.Method) })
	if !slices.Equal(got, want) {
		t.Fatalf("operations\n got %v\nwant %v", got, want)
	}
	if len(got) != 16 {
		t.Fatalf("%d operations, API.md has 16", len(got))
	}

	// Every path variable is a required path parameter; the query
	// parameters and headers are API.md's.
	var d openAPIDoc
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatal(err)
	}
	vars := regexp.MustCompile(`\{([^}]+)\}`)
	for _, op := range got {
		o := d.Paths[op.Path][strings.ToLower(op.Method)]
		var path []string
		for _, p := range o.Parameters {
			if p.In == "path" {
				if !p.Required {
					t.Errorf("%s: path parameter %s is not required", op, p.Name)
				}
				path = append(path, p.Name)
			}
		}
		var want []string
		for _, m := range vars.FindAllStringSubmatch(op.Path, -1) {
			want = append(want, m[1])
		}
		if !slices.Equal(path, want) {
			t.Errorf("%s: path parameters %v, want %v", op, path, want)
		}
	}
	for op, want := range map[string][]string{
		"GET /api/v1/products":               {"query q", "query category", "query min_price_cents", "query max_price_cents", "query page_size", "query page_token"},
		"GET /api/v1/orders":                 {"query page_size", "query page_token"},
		"POST /api/v1/orders":                {"header Idempotency-Key"},
		"POST /api/v1/orders/{id}/cancel":    {"path id", "header Idempotency-Key"},
		"POST /api/v1/products/{id}/stock":   {"path id", "header Idempotency-Key"},
		"GET /api/v1/users/me":               nil,
		"PATCH /api/v1/users/me":             nil,
		"GET /api/v1/payments/{id}":          {"path id"},
		"PATCH /api/v1/products/{id}":        {"path id"},
		"POST /api/v1/orders/{id}/ship":      {"path id"},
		"GET /api/v1/orders/{id}":            {"path id"},
		"POST /api/v1/auth/login":            nil,
		"POST /api/v1/users":                 nil,
		"GET /api/v1/users/{id}":             {"path id"},
		"GET /api/v1/products/{id}":          {"path id"},
		"POST /api/v1/products":              nil,
		"GET /api/v1/no/such/route/anywhere": nil,
	} {
		method, path, _ := strings.Cut(op, " ")
		o, ok := d.Paths[path][strings.ToLower(method)]
		if !ok {
			if !strings.Contains(path, "no/such") {
				t.Errorf("%s is missing", op)
			}
			continue
		}
		var got []string
		var common []string
		for _, p := range o.Parameters {
			if p.Ref != "" {
				common = append(common, p.Ref)
			} else {
				got = append(got, p.In+" "+p.Name)
			}
		}
		// The headers every operation takes come last, shared.
		if n := len(o.Parameters); n < 2 || !slices.Equal(common, []string{"#/components/parameters/X-API-Key", "#/components/parameters/traceparent"}) ||
			o.Parameters[n-1].Ref == "" {
			t.Errorf("%s: parameters %v lack the common headers", op, o.Parameters)
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s: parameters %v, want %v", op, got, want)
		}
	}
}

// openAPIDoc is the part of a document the tests look into.
type openAPIDoc struct {
	Paths map[string]map[string]struct {
		OperationID string `json:"operationId"`
		Parameters  []struct {
			Ref      string         `json:"$ref"`
			Name     string         `json:"name"`
			In       string         `json:"in"`
			Required bool           `json:"required"`
			Schema   map[string]any `json:"schema"`
		} `json:"parameters"`
		RequestBody *struct {
			Content map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		} `json:"requestBody"`
		Responses map[string]struct {
			Headers map[string]map[string]any `json:"headers"`
			Content map[string]struct {
				Schema map[string]any `json:"schema"`
			} `json:"content"`
		} `json:"responses"`
		Security []map[string][]string `json:"security"`
	} `json:"paths"`
	Components struct {
		Schemas map[string]map[string]any `json:"schemas"`
	} `json:"components"`
}

func TestOpenAPIDescribesTheCodec(t *testing.T) {
	var d openAPIDoc
	if err := json.Unmarshal(document(t, documentedRoutes()), &d); err != nil {
		t.Fatal(err)
	}
	schemas := d.Components.Schemas
	prop := func(schema, member string) string {
		t.Helper()
		s, ok := schemas[schema]
		if !ok {
			t.Fatalf("no component %s", schema)
		}
		props, _ := s["properties"].(map[string]any)
		return compact(t, props[member])
	}
	same := func(what, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s:\n got %s\nwant %s", what, got, want)
		}
	}

	// Enums are value names without the prefix; the zero value is among
	// them because the codec reads and writes it.
	same("OrderStatus", compact(t, schemas["kitshop.orders.v1.OrderStatus"]),
		`{"enum":["UNSPECIFIED","PENDING","CONFIRMED","SHIPPED","CANCELLED","REQUIRES_ATTENTION"],"type":"string"}`)
	same("Order.status", prop("kitshop.orders.v1.Order", "status"), `{"$ref":"#/components/schemas/kitshop.orders.v1.OrderStatus"}`)
	same("PaymentStatus", compact(t, schemas["kitshop.payments.v1.PaymentStatus"]["enum"]),
		`["UNSPECIFIED","CAPTURED","DECLINED","FAILED","REFUNDED","PENDING"]`)
	// int64 is a JSON number.
	same("Product.price_cents", prop("kitshop.products.v1.Product", "price_cents"), `{"format":"int64","type":"integer"}`)
	// A Timestamp is an RFC 3339 string, null when unset.
	same("Order.created_at", prop("kitshop.orders.v1.Order", "created_at"), `{"format":"date-time","type":["string","null"]}`)
	// An unset message is null; a repeated field never is.
	same("User.address", prop("kitshop.users.v1.User", "address"),
		`{"oneOf":[{"$ref":"#/components/schemas/kitshop.common.v1.Address"},{"type":"null"}]}`)
	same("Order.items", prop("kitshop.orders.v1.Order", "items"),
		`{"items":{"$ref":"#/components/schemas/kitshop.orders.v1.OrderItem"},"type":"array"}`)
	// Responses write every member.
	same("Product.required", compact(t, schemas["kitshop.products.v1.Product"]["required"]),
		`["id","sku","name","description","category","price_cents","currency","stock","reserved","available","active","created_at","updated_at"]`)

	// Placing an order: the body has the card's number as card_number,
	// not respond_async (a hook's) nor idempotency_key (a header's), and
	// refuses unknown members at every level.
	create := d.Paths["/api/v1/orders"]["post"]
	body := create.RequestBody.Content["application/json"].Schema
	if body["additionalProperties"] != false {
		t.Errorf("CreateOrder body allows unknown members: %s", compact(t, body))
	}
	members := body["properties"].(map[string]any)
	for _, absent := range []string{"respond_async", "idempotency_key"} {
		if members[absent] != nil {
			t.Errorf("CreateOrder body has %s", absent)
		}
	}
	payment := members["payment"].(map[string]any)
	same("CreateOrder payment", compact(t, payment["type"]), `["object","null"]`)
	card := payment["properties"].(map[string]any)
	if card["card_number"] == nil || card["number"] != nil || payment["additionalProperties"] != false {
		t.Errorf("payment: %s", compact(t, payment))
	}
	same("CreateOrder 201", compact(t, create.Responses["201"].Content["application/json"].Schema), `{"$ref":"#/components/schemas/kitshop.orders.v1.Order"}`)
	if create.Responses["201"].Headers["Location"] == nil || create.Responses["201"].Headers["Idempotent-Replayed"] == nil {
		t.Errorf("CreateOrder 201 headers: %v", create.Responses["201"].Headers)
	}
	// A failed checkout's problem carries the order.
	same("CreateOrder default", compact(t, create.Responses["default"].Content["application/problem+json"].Schema),
		`{"allOf":[{"$ref":"#/components/schemas/Problem"},{"properties":{"order":{"$ref":"#/components/schemas/kitshop.orders.v1.Order"}},"type":"object"}]}`)
	for _, st := range []string{"400", "401", "413", "415", "429", "503", "504", "default"} {
		if _, ok := create.Responses[st]; !ok {
			t.Errorf("CreateOrder has no %s response", st)
		}
	}
	if _, ok := create.Responses["403"]; ok {
		t.Error("CreateOrder documents 403, but any user may place an order")
	}
	if create.Responses["201"].Headers["X-Request-ID"] == nil || create.Responses["default"].Headers["traceparent"] == nil {
		t.Error("the headers of every response are missing")
	}
	if create.Responses["401"].Headers["WWW-Authenticate"] == nil || create.Responses["503"].Headers["Retry-After"] == nil {
		t.Error("401 without WWW-Authenticate or 503 without Retry-After")
	}
	same("CreateOrder security", compact(t, create.Security), `[{"bearerAuth":[]}]`)
	same("ShipOrder security", compact(t, d.Paths["/api/v1/orders/{id}/ship"]["post"].Security), `[{"bearerAuth":["admin"]}]`)
	if _, ok := d.Paths["/api/v1/orders/{id}/ship"]["post"].Responses["403"]; !ok {
		t.Error("ShipOrder has no 403")
	}
	if s := d.Paths["/api/v1/products/{id}"]["get"].Security; s != nil {
		t.Errorf("GetProduct is public, security %v", s)
	}

	// Required members are required and not null; others may be null.
	product := d.Paths["/api/v1/products"]["post"].RequestBody.Content["application/json"].Schema
	same("CreateProduct required", compact(t, product["required"]), `["price_cents"]`)
	same("CreateProduct price_cents", compact(t, product["properties"].(map[string]any)["price_cents"]), `{"format":"int64","type":"integer"}`)
	same("CreateProduct stock", compact(t, product["properties"].(map[string]any)["stock"]), `{"format":"int64","type":["integer","null"]}`)
	// The token's response must not be cached, and says so.
	same("login Cache-Control", compact(t, d.Paths["/api/v1/auth/login"]["post"].Responses["200"].Headers["Cache-Control"]),
		`{"schema":{"const":"no-store","type":"string"}}`)
	// Two routes of one RPC get distinct operation ids.
	same("GetUser ids", d.Paths["/api/v1/users/me"]["get"].OperationID+" "+d.Paths["/api/v1/users/{id}"]["get"].OperationID,
		"GetUser_api_v1_users_me GetUser_api_v1_users_id")
	same("CreateOrder id", create.OperationID, "CreateOrder")
}

func TestOpenAPIIsDeterministic(t *testing.T) {
	routes := documentedRoutes()
	first := document(t, routes)
	if again := document(t, documentedRoutes()); !bytes.Equal(first, again) {
		t.Fatal("two runs differ")
	}
	slices.Reverse(routes)
	if reversed := document(t, routes); !bytes.Equal(first, reversed) {
		t.Fatal("the routes' order changes the document")
	}
}

// The document is checked against what the routes really serve: real
// requests and responses, through the handlers, validated by
// libopenapi-validator.

const (
	productID = "9b1d6a52-58b7-4e3c-9b53-0f5e0c1e2a01"
	orderID   = "5c0e2f1a-3a9b-4d52-8f0e-1d6c7b9a4e02"
	userID    = "1f2e3d4c-5b6a-4978-8a9b-0c1d2e3f4a03"
)

var stamp = timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 123000000, time.UTC))

type fakeProducts struct{ productsclient.API }

func (fakeProducts) GetProduct(_ context.Context, req *productsv1.GetProductRequest) (*productsv1.Product, error) {
	if req.GetId() != productID {
		return nil, errs.New(errs.NotFound, "PRODUCT_NOT_FOUND", "no such product")
	}
	return &productsv1.Product{
		Id: productID, Sku: "SKU-1", Name: "Mug", Description: "A mug", Category: "kitchen",
		PriceCents: 1999, Currency: "USD", Stock: 10, Reserved: 2, Available: 8, Active: true,
		CreatedAt: stamp, UpdatedAt: stamp,
	}, nil
}

type fakeOrders struct{ ordersclient.API }

func order(address *commonv1.Address) *ordersv1.Order {
	return &ordersv1.Order{
		Id: orderID, UserId: userID, Status: ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED,
		Items: []*ordersv1.OrderItem{{
			ProductId: productID, Sku: "SKU-1", Name: "Mug", Quantity: 2, UnitPriceCents: 1999, LineTotalCents: 3998,
		}},
		TotalCents: 3998, Currency: "USD", ShippingAddress: address, PaymentId: "pay-1",
		CreatedAt: stamp, UpdatedAt: stamp,
	}
}

func (fakeOrders) GetOrder(_ context.Context, req *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	if req.GetId() == orderID {
		return order(&commonv1.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "12345", Country: "US"}), nil
	}
	// Another order, unset members and all: written as null.
	o := order(nil)
	o.Id, o.CreatedAt, o.UpdatedAt, o.Items = req.GetId(), nil, nil, nil
	return o, nil
}

func (fakeOrders) CreateOrder(_ context.Context, req *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	if req.GetPayment().GetNumber() != "4242424242424242" || req.GetIdempotencyKey() != "k1" {
		return nil, errs.New(errs.InvalidArgument, "UNEXPECTED", "the test sent another request")
	}
	return &ordersv1.CreateOrderResponse{Order: order(req.GetShippingAddress())}, nil
}

// exchange serves one request through h and validates both the request
// and the response against v, failing t unless each is as valid as
// wanted. It returns the response.
func exchange(t *testing.T, v validator.Validator, h http.Handler, method, target, body string, wantValid bool) *http.Response {
	t.Helper()
	newRequest := func() *http.Request {
		r := httptest.NewRequest(method, "http://localhost:8080"+target, strings.NewReader(body))
		if body != "" {
			r.Header.Set("Content-Type", "application/json")
		}
		r.Header.Set("Authorization", "Bearer test")
		if method == http.MethodPost && target == "/api/v1/orders" {
			r.Header.Set("Idempotency-Key", "k1")
		}
		return r
	}
	ok, problems := v.ValidateHttpRequest(newRequest())
	if ok != wantValid {
		t.Errorf("%s %s %s: request valid = %v, want %v (%v)", method, target, body, ok, wantValid, messages(problems))
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, newRequest())
	resp := rec.Result()
	raw, _ := io.ReadAll(resp.Body)
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	if ok, problems := v.ValidateHttpResponse(newRequest(), resp); !ok {
		t.Errorf("%s %s: response %d %s does not match the document: %v", method, target, resp.StatusCode, raw, messages(problems))
	}
	resp.Body = io.NopCloser(bytes.NewReader(raw))
	return resp
}

func messages[E interface{ Error() string }](problems []E) []string {
	var out []string
	for _, p := range problems {
		out = append(out, p.Error())
	}
	return out
}

func TestOpenAPIMatchesWhatIsServed(t *testing.T) {
	routes := publicRoutes(fakeProducts{}, fakeOrders{})
	v := newValidator(t, document(t, routes))
	router := httpx.NewRouter()
	rest.Mount(router, routes...)
	h := resttest.AsCaller(auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: userID}, Role: auth.RoleCustomer}, router)

	status := func(resp *http.Response, want int) {
		t.Helper()
		if resp.StatusCode != want {
			body, _ := io.ReadAll(resp.Body)
			t.Errorf("status %d, want %d: %s", resp.StatusCode, want, body)
		}
	}
	status(exchange(t, v, h, http.MethodGet, "/api/v1/products/"+productID, "", true), http.StatusOK)
	status(exchange(t, v, h, http.MethodGet, "/api/v1/products/"+orderID, "", true), http.StatusNotFound)
	status(exchange(t, v, h, http.MethodGet, "/api/v1/orders/"+orderID, "", true), http.StatusOK)
	status(exchange(t, v, h, http.MethodGet, "/api/v1/orders/"+productID, "", true), http.StatusOK) // nulls

	place := `{"items":[{"product_id":"` + productID + `","quantity":2}],` +
		`"shipping_address":{"line1":"1 Main St","line2":null,"city":"Springfield","postal_code":"12345","country":"US"},` +
		`"payment":{"card_number":"4242424242424242","exp_month":12,"exp_year":2030,"cvc":"123"}}`
	resp := exchange(t, v, h, http.MethodPost, "/api/v1/orders", place, true)
	status(resp, http.StatusCreated)
	if resp.Header.Get("Location") != "/api/v1/orders/"+orderID {
		t.Errorf("Location %q", resp.Header.Get("Location"))
	}

	// Members the handler refuses, the document refuses too.
	for _, bad := range []string{
		strings.Replace(place, `"items"`, `"respond_async":true,"items"`, 1), // a hook's field
		strings.Replace(place, `"card_number"`, `"number"`, 1),               // the proto name of a renamed one
		strings.Replace(place, `"line1"`, `"street"`, 1),                     // nested, unknown
		strings.Replace(place, `"quantity":2`, `"quantity":"2"`, 1),          // wrong type
		strings.Replace(place, `[{"product_id"`, `[null,{"product_id"`, 1),   // a null element
	} {
		resp := exchange(t, v, h, http.MethodPost, "/api/v1/orders", bad, false)
		status(resp, http.StatusBadRequest)
	}
}

// A response that breaks the document is caught: the validator really
// compares bodies with the schemas.
func TestOpenAPIValidatorCatchesAWrongResponse(t *testing.T) {
	v := newValidator(t, document(t, documentedRoutes()))
	for name, body := range map[string]string{
		"a string for an integer": `{"id":"x","sku":"","name":"","description":"","category":"","price_cents":"1999","currency":"","stock":0,"reserved":0,"available":0,"active":true,"created_at":null,"updated_at":null}`,
		"a member missing":        `{"id":"x","sku":"","name":"","description":"","category":"","currency":"","stock":0,"reserved":0,"available":0,"active":true,"created_at":null,"updated_at":null}`,
		"a bad timestamp":         `{"id":"x","sku":"","name":"","description":"","category":"","price_cents":1,"currency":"","stock":0,"reserved":0,"available":0,"active":true,"created_at":"yesterday","updated_at":null}`,
		"null for a boolean":      `{"id":"x","sku":"","name":"","description":"","category":"","price_cents":1,"currency":"","stock":0,"reserved":0,"available":0,"active":null,"created_at":null,"updated_at":null}`,
	} {
		req := httptest.NewRequest(http.MethodGet, "http://localhost:8080/api/v1/products/"+productID, nil)
		resp := &http.Response{
			StatusCode: http.StatusOK, Header: http.Header{"Content-Type": {"application/json"}},
			Body: io.NopCloser(strings.NewReader(body)), Request: req,
		}
		if ok, _ := v.ValidateHttpResponse(req, resp); ok {
			t.Errorf("%s: the response passes", name)
		}
	}
}

func compact(t testing.TB, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// With DocumentPath the document lists the route that serves it, so that
// it has every route a server serves.
func TestOpenAPIListsItsOwnRoute(t *testing.T) {
	info := testInfo
	info.DocumentPath = "/api/v1/openapi.json"
	routes := documentedRoutes()
	doc, err := rest.OpenAPI(info, routes...)
	if err != nil {
		t.Fatal(err)
	}
	v := newValidator(t, doc)
	ops, err := rest.OpenAPIOperations(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(ops) != len(routes)+1 || !slices.Contains(ops, rest.Operation{Method: http.MethodGet, Path: "/api/v1/openapi.json"}) {
		t.Fatalf("operations %v", ops)
	}
	serve := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(doc)
	})
	exchange(t, v, serve, http.MethodGet, "/api/v1/openapi.json", "", true)

	info.DocumentPath = "/api/v1/orders"
	if _, err := rest.OpenAPI(info, routes...); err == nil {
		t.Error("a DocumentPath that is a route's is accepted")
	}
}
