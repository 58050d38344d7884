package client

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest"
	"github.com/kitshop/kitshop/kit/rest/resttest"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// hiddenRequestFields are request fields that API.md deliberately gives
// no way to set over HTTP, each with its reason. None today: every field
// of the routed requests is a path variable, query parameter, header or
// body member. A field missing here and from the mapping fails
// TestMappingCoversTheService.
var hiddenRequestFields = map[string]string{}

// hiddenResponseFields are response fields never written to JSON. None
// today: Product's fields are all API.md's (available included).
var hiddenResponseFields = map[string]string{}

// internalMethods are ProductsService methods with no HTTP route, and why.
var internalMethods = map[string]string{
	"BatchGetProducts":   "orders enriches its items with it; API.md has no batch route",
	"ReserveInventory":   "checkout saga, orders only",
	"CommitReservation":  "checkout saga, orders only",
	"ReleaseReservation": "checkout saga, orders only",
	"RestockItems":       "cancelled orders, orders only",
	"GetReservation":     "orders' consistency checker reads a checkout's reservation; orders only",
	"ListProducts":       "stream: the whole catalog, for bulk readers",
	"ImportProducts":     "stream: bulk upsert for admins over gRPC",
	"WatchStock":         "stream: stock changes pushed to watchers",
}

// The typed Client serves the routes too (the gateway's choice, with
// discovery and retries), as does a bare pb client through RemoteAPI.
var _ API = Client(nil)

// TestMappingCoversTheService: every ProductsService method is routed or
// internal, and every field of the routed messages, nested ones included,
// reaches JSON or is hidden above, with its reason. A field or method
// added to products.proto therefore reaches the API with no edit or fails
// here, never silently.
func TestMappingCoversTheService(t *testing.T) {
	resttest.CheckCoverage(t, rest.Coverage{
		Service:        productsv1.File_products_v1_products_proto.Services().ByName("ProductsService"),
		Routes:         Routes(&fakeAPI{}),
		HiddenRequest:  hiddenRequestFields,
		HiddenResponse: hiddenResponseFields,
		Internal:       internalMethods,
	})
}

// fakeAPI records requests and answers with a fixed product; replayed
// makes AdjustStock set ReplayedMetadata, as the service does on a replay.
type fakeAPI struct {
	got      proto.Message
	err      error
	replayed bool
	product  *productsv1.Product
}

var mug = &productsv1.Product{
	Id: "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f", Sku: "MUG-1", Name: "Tom & Jerry <XL>", Description: "A mug",
	Category: "kitchen", PriceCents: 1299, Currency: "USD", Stock: 5, Reserved: 2, Available: 3, Active: true,
	CreatedAt: timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)),
	UpdatedAt: timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 123456000, time.UTC)),
}

// mugJSON is mug in API.md's shape, exactly: nothing HTML-escaped.
const mugJSON = `{"id":"6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f","sku":"MUG-1","name":"Tom & Jerry <XL>","description":"A mug",` +
	`"category":"kitchen","price_cents":1299,"currency":"USD","stock":5,"reserved":2,"available":3,"active":true,` +
	`"created_at":"2024-05-01T12:00:00Z","updated_at":"2024-05-01T12:00:00.123456Z"}`

func (f *fakeAPI) answer(r proto.Message) (*productsv1.Product, error) {
	f.got = r
	if f.err != nil {
		return nil, f.err
	}
	if f.product != nil {
		return f.product, nil
	}
	return mug, nil
}

func (f *fakeAPI) CreateProduct(_ context.Context, r *productsv1.CreateProductRequest) (*productsv1.Product, error) {
	return f.answer(r)
}

func (f *fakeAPI) UpdateProduct(_ context.Context, r *productsv1.UpdateProductRequest) (*productsv1.Product, error) {
	return f.answer(r)
}

func (f *fakeAPI) GetProduct(_ context.Context, r *productsv1.GetProductRequest) (*productsv1.Product, error) {
	return f.answer(r)
}

func (f *fakeAPI) SearchProducts(_ context.Context, r *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error) {
	f.got = r
	if f.err != nil {
		return nil, f.err
	}
	return &productsv1.SearchProductsResponse{Products: []*productsv1.Product{mug}, NextPageToken: "next", TotalSize: 7}, nil
}

func (f *fakeAPI) AdjustStock(ctx context.Context, r *productsv1.AdjustStockRequest) (*productsv1.Product, error) {
	// Set even with an error, so that the tests see the mapping keep it
	// off problems.
	if f.replayed {
		if err := grpc.SetHeader(ctx, metadata.Pairs(ReplayedMetadata, "true")); err != nil {
			return nil, err
		}
	}
	return f.answer(r)
}

// asRole serves h with claims of role in the context, as the verifier
// middleware puts them there; "" sends no claims.
func asRole(role string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if role != "" {
			r = r.WithContext(auth.WithClaims(r.Context(), auth.Claims{Role: role}))
		}
		h.ServeHTTP(w, r)
	})
}

func newRouter(api API) http.Handler {
	router := httpx.NewRouter()
	RegisterHTTP(router, api)
	return router
}

func TestMappingShapes(t *testing.T) {
	f := &fakeAPI{}
	admin := asRole(auth.RoleAdmin, newRouter(f))

	w := resttest.Do(t, admin, "POST", "/api/v1/products", `{"sku":"MUG-1","name":"Mug","description":"","category":"kitchen","price_cents":0,"currency":"USD"}`)
	if w.Code != 201 || w.Body.String() != mugJSON+"\n" || w.Header().Get("Location") != "/api/v1/products/"+mug.Id {
		t.Fatalf("create: %d %v %s", w.Code, w.Header(), w.Body)
	}
	// A price of 0 is a real price when sent; a missing stock is none.
	if want := (&productsv1.CreateProductRequest{Sku: "MUG-1", Name: "Mug", Category: "kitchen", Currency: "USD"}); !proto.Equal(f.got, want) {
		t.Fatalf("create request %v", f.got)
	}

	w = resttest.Do(t, admin, "GET", "/api/v1/products/"+mug.Id, "")
	if w.Code != 200 || w.Body.String() != mugJSON+"\n" || !proto.Equal(f.got, &productsv1.GetProductRequest{Id: mug.Id}) {
		t.Fatalf("get: %d %s, request %v", w.Code, w.Body, f.got)
	}

	w = resttest.Do(t, admin, "GET", "/api/v1/products?q=blue+mug&category=kitchen&min_price_cents=100&max_price_cents=2000&page_size=5&page_token=tok&other=x", "")
	if w.Code != 200 || w.Body.String() != `{"products":[`+mugJSON+`],"next_page_token":"next","total_size":7}`+"\n" {
		t.Fatalf("search: %d %s", w.Code, w.Body)
	}
	if want := (&productsv1.SearchProductsRequest{Q: "blue mug", Category: "kitchen", MinPriceCents: proto.Int64(100),
		MaxPriceCents: proto.Int64(2000), PageSize: 5, PageToken: "tok"}); !proto.Equal(f.got, want) {
		t.Fatalf("search request %v", f.got)
	}
	// Empty parameters are absent: no price bound, the default page.
	if w := resttest.Do(t, admin, "GET", "/api/v1/products?min_price_cents=&page_size=", ""); w.Code != 200 || !proto.Equal(f.got, &productsv1.SearchProductsRequest{}) {
		t.Fatalf("empty parameters: %d, request %v", w.Code, f.got)
	}

	for body, want := range map[string]*productsv1.UpdateProductRequest{
		`{"name":"Big mug"}`: {Id: mug.Id, Name: proto.String("Big mug")},
		`{"description":"","category":"cups","price_cents":0,"active":false}`: {Id: mug.Id, Description: proto.String(""),
			Category: proto.String("cups"), PriceCents: proto.Int64(0), Active: proto.Bool(false)},
		// Null keeps the value, as absence does.
		`{"name":null,"active":null}`: {Id: mug.Id},
	} {
		if w := resttest.Do(t, admin, "PATCH", "/api/v1/products/"+mug.Id, body); w.Code != 200 || !proto.Equal(f.got, want) {
			t.Fatalf("PATCH %s: %d %s, request %v", body, w.Code, w.Body, f.got)
		}
	}

	w = resttest.Do(t, admin, "POST", "/api/v1/products/"+mug.Id+"/stock", `{"delta":-2}`, "Idempotency-Key", "restock-7")
	if w.Code != 200 || w.Body.String() != mugJSON+"\n" || w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("stock: %d %v %s", w.Code, w.Header(), w.Body)
	}
	if want := (&productsv1.AdjustStockRequest{Id: mug.Id, Delta: -2, IdempotencyKey: "restock-7"}); !proto.Equal(f.got, want) {
		t.Fatalf("stock request %v", f.got)
	}
	f.replayed = true
	w = resttest.Do(t, admin, "POST", "/api/v1/products/"+mug.Id+"/stock", `{"delta":-2}`, "Idempotency-Key", "restock-7")
	if w.Code != 200 || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replayed stock: %d %v %s", w.Code, w.Header(), w.Body)
	}
}

func TestMappingRefusals(t *testing.T) {
	f := &fakeAPI{}
	router := newRouter(f)
	admin := asRole(auth.RoleAdmin, router)
	id := "/api/v1/products/" + mug.Id
	for _, c := range []struct {
		name               string
		h                  http.Handler
		method, path, body string
		header             []string
		status             int
		code               string
	}{
		{"create without a price", admin, "POST", "/api/v1/products", `{"sku":"A","name":"A","currency":"USD"}`, nil, 400, errs.ReasonValidation},
		{"create with a null price", admin, "POST", "/api/v1/products", `{"sku":"A","price_cents":null}`, nil, 400, errs.ReasonValidation},
		{"create with an id", admin, "POST", "/api/v1/products", `{"id":"x","price_cents":1}`, nil, 400, httpx.ReasonUnknownField},
		{"create with reserved", admin, "POST", "/api/v1/products", `{"reserved":1,"price_cents":1}`, nil, 400, httpx.ReasonUnknownField},
		{"fractional price", admin, "POST", "/api/v1/products", `{"price_cents":1.5}`, nil, 400, httpx.ReasonMalformedJSON},
		{"patch stock", admin, "PATCH", id, `{"stock":1}`, nil, 400, httpx.ReasonUnknownField},
		{"patch id", admin, "PATCH", id, `{"id":"other"}`, nil, 400, httpx.ReasonUnknownField},
		{"stock without delta", admin, "POST", id + "/stock", `{}`, nil, 400, errs.ReasonValidation},
		{"delta as a string", admin, "POST", id + "/stock", `{"delta":"3"}`, nil, 400, httpx.ReasonMalformedJSON},
		{"key in the body", admin, "POST", id + "/stock", `{"delta":1,"idempotency_key":"k"}`, nil, 400, httpx.ReasonUnknownField},
		{"two keys", admin, "POST", id + "/stock", `{"delta":1}`, []string{"Idempotency-Key", "a", "Idempotency-Key", "b"}, 400, errs.ReasonValidation},
		{"price bound not a number", router, "GET", "/api/v1/products?min_price_cents=cheap", "", nil, 400, errs.ReasonValidation},
		{"page size not a number", router, "GET", "/api/v1/products?page_size=ten", "", nil, 400, errs.ReasonValidation},
		{"page size out of range", router, "GET", "/api/v1/products?page_size=99999999999", "", nil, 400, errs.ReasonValidation},
		// The guard answers before the body is read: a broken body is
		// still 401 or 403.
		{"anonymous create", router, "POST", "/api/v1/products", `{"sku":`, nil, 401, errs.ReasonUnauth},
		{"customer create", asRole(auth.RoleCustomer, router), "POST", "/api/v1/products", `{"sku":`, nil, 403, errs.ReasonForbidden},
		{"anonymous patch", router, "PATCH", id, `{"name":"x"}`, nil, 401, errs.ReasonUnauth},
		{"customer stock", asRole(auth.RoleCustomer, router), "POST", id + "/stock", `{"delta":1}`, nil, 403, errs.ReasonForbidden},
		{"no such route", router, "POST", id + "/restock", `{}`, nil, 404, httpx.ReasonRouteNotFound},
	} {
		f.got = nil
		w := resttest.Do(t, c.h, c.method, c.path, c.body, c.header...)
		var problem map[string]any
		_ = json.Unmarshal(w.Body.Bytes(), &problem)
		if w.Code != c.status || problem["code"] != c.code || w.Header().Get("Content-Type") != "application/problem+json" {
			t.Errorf("%s: %d %s, want %d %s", c.name, w.Code, w.Body, c.status, c.code)
		}
		if f.got != nil {
			t.Errorf("%s: the API was called with %v", c.name, f.got)
		}
	}

	// An error from the API is a problem. (Products answers a replay only
	// on success; what a call sets is forwarded either way, by kit/rest.)
	f.replayed = false
	f.err = errs.New(errs.FailedPrecondition, ReasonInsufficientStock, "insufficient stock").
		With("product_id", mug.Id).With("available", int64(2))
	w := resttest.Do(t, admin, "POST", id+"/stock", `{"delta":-3}`)
	var problem map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &problem); err != nil || w.Code != 409 || problem["code"] != ReasonInsufficientStock ||
		problem["available"] != float64(2) || w.Header().Get("Idempotent-Replayed") != "" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), w.Body)
	}
}

// TestRemoteAPI serves the mapping over a real gRPC hop, as the gateway
// will: the pb messages cross the wire, an error's kind and reason survive
// as a gRPC status, and the replay header comes back as gRPC metadata.
func TestRemoteAPI(t *testing.T) {
	f := &fakeAPI{}
	conn := resttest.ServeGRPC(t, func(srv *grpc.Server) { productsv1.RegisterProductsServiceServer(srv, remoteFake{f: f}) })
	admin := asRole(auth.RoleAdmin, newRouter(RemoteAPI(productsv1.NewProductsServiceClient(conn))))

	path := "/api/v1/products/" + mug.Id + "/stock"
	w := resttest.Do(t, admin, "POST", path, `{"delta":4}`, "Idempotency-Key", "k1")
	if w.Code != 200 || w.Body.String() != mugJSON+"\n" || w.Header().Get("Idempotent-Replayed") != "" ||
		!proto.Equal(f.got, &productsv1.AdjustStockRequest{Id: mug.Id, Delta: 4, IdempotencyKey: "k1"}) {
		t.Fatalf("%d %v %s, request %v", w.Code, w.Header(), w.Body, f.got)
	}
	f.replayed = true
	if w := resttest.Do(t, admin, "POST", path, `{"delta":4}`, "Idempotency-Key", "k1"); w.Code != 200 || w.Header().Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay: %d %v %s", w.Code, w.Header(), w.Body)
	}

	f.err = errs.New(errs.AlreadyExists, ReasonSKUTaken, "a product with this SKU already exists")
	w = resttest.Do(t, admin, "POST", "/api/v1/products", `{"sku":"MUG-1","price_cents":1}`)
	var body map[string]any
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != 409 || body["code"] != ReasonSKUTaken {
		t.Fatalf("%d %s", w.Code, w.Body)
	}
}

// remoteFake serves fakeAPI over gRPC, converting errors as kitshop's
// server interceptors do.
type remoteFake struct {
	productsv1.UnimplementedProductsServiceServer
	f *fakeAPI
}

func (r remoteFake) CreateProduct(ctx context.Context, req *productsv1.CreateProductRequest) (*productsv1.Product, error) {
	p, err := r.f.CreateProduct(ctx, req)
	return p, errs.ToGRPC(err)
}

func (r remoteFake) AdjustStock(ctx context.Context, req *productsv1.AdjustStockRequest) (*productsv1.Product, error) {
	p, err := r.f.AdjustStock(ctx, req)
	return p, errs.ToGRPC(err)
}
