package rest

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// fakeProducts records the last request each route passed to it.
type fakeProducts struct {
	search *productsv1.SearchProductsRequest
	adjust *productsv1.AdjustStockRequest
	update *productsv1.UpdateProductRequest
	err    error
}

var mug = &productsv1.Product{
	Id: "9b1d", Sku: "MUG-1", Name: "Blue mug", PriceCents: 1299, Currency: "USD", Stock: 5, Available: 5, Active: true,
	CreatedAt: timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)),
	UpdatedAt: timestamppb.New(time.Date(2024, 5, 1, 12, 0, 0, 500, time.UTC)),
}

func (f *fakeProducts) routes() []Route {
	return []Route{
		Unary(Spec[*productsv1.SearchProductsRequest, *productsv1.SearchProductsResponse]{
			Method: http.MethodGet, Path: "/api/v1/products",
			Query: []string{"q", "category", "min_price_cents", "max_price_cents", "page_size", "page_token"},
			Call: func(_ context.Context, r *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error) {
				f.search = r
				return &productsv1.SearchProductsResponse{Products: []*productsv1.Product{mug}, TotalSize: 1}, f.err
			},
		}),
		Unary(Spec[*productsv1.CreateProductRequest, *productsv1.Product]{
			Method: http.MethodPost, Path: "/api/v1/products", Body: true, Required: []string{"price_cents"},
			Status: http.StatusCreated, Location: "/api/v1/products/{id}",
			Call: func(context.Context, *productsv1.CreateProductRequest) (*productsv1.Product, error) {
				return mug, f.err
			},
		}),
		Unary(Spec[*productsv1.UpdateProductRequest, *productsv1.Product]{
			Method: http.MethodPatch, Path: "/api/v1/products/{id}", Body: true,
			Guard: func(r *http.Request) error {
				if r.Header.Get("X-Admin") == "no" {
					return errs.New(errs.PermissionDenied, errs.ReasonForbidden, "admins only")
				}
				return nil
			},
			Hide: []string{"reserved"},
			Call: func(_ context.Context, r *productsv1.UpdateProductRequest) (*productsv1.Product, error) {
				f.update = r
				return mug, f.err
			},
		}),
		Unary(Spec[*productsv1.AdjustStockRequest, *productsv1.Product]{
			Method: http.MethodPost, Path: "/api/v1/products/{id}/stock", Body: true, Required: []string{"delta"},
			Headers:         map[string]string{"Idempotency-Key": "idempotency_key"},
			ResponseHeaders: map[string]string{"cache-control": "no-store"},
			Respond: func(h http.Header, p *productsv1.Product) int {
				h.Set("X-Stock", "5")
				return http.StatusAccepted
			},
			Call: func(_ context.Context, r *productsv1.AdjustStockRequest) (*productsv1.Product, error) {
				f.adjust = r
				return mug, f.err
			},
		}),
	}
}

func serve(t *testing.T, routes []Route) http.Handler {
	t.Helper()
	r := httpx.NewRouter()
	Mount(r, routes...)
	return r
}

type response struct {
	status int
	header http.Header
	body   map[string]any
	raw    string
}

func do(t *testing.T, h http.Handler, r *http.Request) response {
	t.Helper()
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	resp := response{status: w.Code, header: w.Header(), raw: w.Body.String()}
	if w.Body.Len() > 0 {
		if err := json.Unmarshal(w.Body.Bytes(), &resp.body); err != nil {
			t.Fatalf("body %q: %v", w.Body.String(), err)
		}
	}
	return resp
}

func wantProblem(t *testing.T, r response, status int, code string, fields ...string) {
	t.Helper()
	if r.status != status || r.body["code"] != code || r.header.Get("Content-Type") != httpx.ProblemContentType {
		t.Fatalf("got %d %s, want %d %s problem", r.status, r.raw, status, code)
	}
	var got []string
	errors, _ := r.body["errors"].([]any)
	for _, e := range errors {
		m, _ := e.(map[string]any)
		field, _ := m["field"].(string)
		got = append(got, field)
	}
	if len(fields) > 0 && !slices.Equal(got, fields) {
		t.Fatalf("field errors %v, want %v: %s", got, fields, r.raw)
	}
}

func TestRouteQuery(t *testing.T) {
	f := &fakeProducts{}
	h := serve(t, f.routes())
	r := do(t, h, newRequest("GET", "/api/v1/products?q=blue+mug&min_price_cents=100&page_size=5&page_token=&other=x", "", nil))
	if r.status != 200 {
		t.Fatalf("%d %s", r.status, r.raw)
	}
	want := &productsv1.SearchProductsRequest{Q: "blue mug", MinPriceCents: proto.Int64(100), PageSize: 5}
	if !proto.Equal(f.search, want) {
		t.Fatalf("request %v, want %v", f.search, want)
	}
	if f.search.MaxPriceCents != nil {
		t.Fatal("absent optional parameter was set")
	}
	if r.body["total_size"] != float64(1) || r.body["next_page_token"] != "" {
		t.Fatalf("body %s", r.raw)
	}

	r = do(t, h, newRequest("GET", "/api/v1/products?min_price_cents=abc&max_price_cents=1.5&page_size=1&page_size=2", "", nil))
	wantProblem(t, r, 400, errs.ReasonValidation, "min_price_cents", "max_price_cents", "page_size")
}

func TestRouteCreated(t *testing.T) {
	f := &fakeProducts{}
	h := serve(t, f.routes())
	r := do(t, h, newRequest("POST", "/api/v1/products", `{"sku":"MUG-1","name":"Blue mug","price_cents":1299,"currency":"USD"}`, nil))
	if r.status != 201 || r.header.Get("Location") != "/api/v1/products/9b1d" {
		t.Fatalf("%d %v %s", r.status, r.header, r.raw)
	}
	const want = `{"id":"9b1d","sku":"MUG-1","name":"Blue mug","description":"","category":"","price_cents":1299,` +
		`"currency":"USD","stock":5,"reserved":0,"available":5,"active":true,` +
		`"created_at":"2024-05-01T12:00:00Z","updated_at":"2024-05-01T12:00:00.0000005Z"}` + "\n"
	if r.raw != want || r.header.Get("Content-Type") != "application/json; charset=utf-8" {
		t.Fatalf("body %s, want %s", r.raw, want)
	}

	// A zero price must be said, not implied by omission.
	wantProblem(t, do(t, h, newRequest("POST", "/api/v1/products", `{"sku":"MUG-1"}`, nil)), 400, errs.ReasonValidation, "price_cents")
	wantProblem(t, do(t, h, newRequest("POST", "/api/v1/products", `{"price_cents":null}`, nil)), 400, errs.ReasonValidation, "price_cents")
}

func TestRouteBodyRules(t *testing.T) {
	f := &fakeProducts{}
	h := serve(t, f.routes())
	post := func(body string, header http.Header) response {
		return do(t, h, newRequest("POST", "/api/v1/products", body, header))
	}
	wantProblem(t, post(`{"price_cents":1}`, http.Header{"Content-Type": {"text/plain"}}), 415, httpx.ReasonUnsupportedMediaType)
	if r := post(`{"price_cents":1}`, http.Header{"Content-Type": {"application/json; charset=utf-8"}}); r.status != 201 {
		t.Fatalf("charset parameter refused: %d %s", r.status, r.raw)
	}
	r := newRequest("POST", "/api/v1/products", `{"price_cents":1}`, nil)
	r.Header.Del("Content-Type")
	wantProblem(t, do(t, h, r), 415, httpx.ReasonUnsupportedMediaType)
	wantProblem(t, post(`{"name":"`+strings.Repeat("x", httpx.MaxBodyBytes)+`"}`, nil), 413, httpx.ReasonBodyTooLarge)
	// A body that lies about its length is cut off all the same.
	r = newRequest("POST", "/api/v1/products", `{"name":"`+strings.Repeat("x", httpx.MaxBodyBytes)+`"}`, nil)
	r.ContentLength = -1
	wantProblem(t, do(t, h, r), 413, httpx.ReasonBodyTooLarge)
	wantProblem(t, post(`{"price_cents":1,"stock":"x"}`, nil), 400, httpx.ReasonMalformedJSON, "stock")
}

func (r response) ok() bool { return r.status < 300 }

func TestRoutePathHeaderAndHooks(t *testing.T) {
	f := &fakeProducts{}
	h := serve(t, f.routes())
	r := do(t, h, newRequest("POST", "/api/v1/products/9b1d/stock", `{"delta":-2}`, http.Header{"Idempotency-Key": {"k1"}}))
	if r.status != http.StatusAccepted || r.header.Get("X-Stock") != "5" || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("%d %v", r.status, r.header)
	}
	want := &productsv1.AdjustStockRequest{Id: "9b1d", Delta: -2, IdempotencyKey: "k1"}
	if !proto.Equal(f.adjust, want) {
		t.Fatalf("request %v, want %v", f.adjust, want)
	}
	// The path fills id: the body may not.
	wantProblem(t, do(t, h, newRequest("POST", "/api/v1/products/9b1d/stock", `{"id":"other","delta":1}`, nil)), 400, httpx.ReasonUnknownField, "id")
	// So does the header.
	wantProblem(t, do(t, h, newRequest("POST", "/api/v1/products/9b1d/stock", `{"idempotency_key":"k","delta":1}`, nil)), 400, httpx.ReasonUnknownField, "idempotency_key")
	wantProblem(t, do(t, h, newRequest("POST", "/api/v1/products/9b1d/stock", `{"delta":1}`,
		http.Header{"Idempotency-Key": {"a", "b"}})), 400, errs.ReasonValidation, "Idempotency-Key")

	// PATCH: optional fields keep presence; null and absence leave them unset.
	r = do(t, h, newRequest("PATCH", "/api/v1/products/9b1d", `{"price_cents":0,"name":null}`, nil))
	if !r.ok() || f.update.PriceCents == nil || *f.update.PriceCents != 0 || f.update.Name != nil || f.update.Active != nil {
		t.Fatalf("%d update %v", r.status, f.update)
	}
	if _, ok := r.body["reserved"]; ok {
		t.Fatalf("hidden field written: %s", r.raw)
	}
	// The guard answers before the body is read: a bad body still gets 403.
	f.update = nil
	wantProblem(t, do(t, h, newRequest("PATCH", "/api/v1/products/9b1d", `{"bogus":`, http.Header{"X-Admin": {"no"}})), 403, errs.ReasonForbidden)
	if f.update != nil {
		t.Fatal("guarded call went through")
	}
}

func TestRouteErrors(t *testing.T) {
	f := &fakeProducts{}
	h := serve(t, f.routes())
	// A domain error, as the in-process server returns it.
	f.err = errs.New(errs.AlreadyExists, "SKU_TAKEN", "sku taken")
	wantProblem(t, do(t, h, newRequest("POST", "/api/v1/products", `{"price_cents":1}`, nil)), 409, "SKU_TAKEN")
	// The same error as a remote client returns it: a gRPC status.
	f.err = errs.ToGRPC(errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "not enough").With("available", 1))
	r := do(t, h, newRequest("POST", "/api/v1/products/9b1d/stock", `{"delta":-9}`, nil))
	wantProblem(t, r, 409, "INSUFFICIENT_STOCK")
	if r.body["available"] != float64(1) {
		t.Fatalf("metadata lost: %s", r.raw)
	}
	f.err = nil

	wantProblem(t, do(t, h, newRequest("GET", "/api/v1/nowhere", "", nil)), 404, httpx.ReasonRouteNotFound)
	r = do(t, h, newRequest("DELETE", "/api/v1/products/9b1d", "", nil))
	wantProblem(t, r, 405, httpx.ReasonMethodNotAllowed)
	if r.header.Get("Allow") != "PATCH" {
		t.Fatalf("Allow %q", r.header.Get("Allow"))
	}
	// HEAD on a GET route answers as the GET does.
	if r := do(t, h, newRequest("HEAD", "/api/v1/products", "", nil)); r.status != 200 {
		t.Fatalf("HEAD %d", r.status)
	}
}

func TestRouteNilResponseIs500(t *testing.T) {
	h := serve(t, []Route{Unary(Spec[*productsv1.GetProductRequest, *productsv1.Product]{
		Method: "GET", Path: "/p/{id}",
		Call: func(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error) { return nil, nil },
	})})
	wantProblem(t, do(t, h, newRequest("GET", "/p/1", "", nil)), 500, errs.ReasonInternal)
}

func TestEnumsInResponses(t *testing.T) {
	h := serve(t, []Route{Unary(Spec[*paymentsv1.GetPaymentRequest, *paymentsv1.Payment]{
		Method: "GET", Path: "/payments/{id}",
		Call: func(_ context.Context, r *paymentsv1.GetPaymentRequest) (*paymentsv1.Payment, error) {
			return &paymentsv1.Payment{Id: r.GetId(), Status: paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED, AmountCents: 1 << 53}, nil
		},
	})})
	r := do(t, h, newRequest("GET", "/payments/p1", "", nil))
	if r.body["status"] != "CAPTURED" || !strings.Contains(r.raw, `"amount_cents":9007199254740992,`) || r.body["id"] != "p1" {
		t.Fatalf("%s", r.raw)
	}
}

func TestBrokenSpecs(t *testing.T) {
	call := func(context.Context, *productsv1.AdjustStockRequest) (*productsv1.Product, error) { return mug, nil }
	type spec = Spec[*productsv1.AdjustStockRequest, *productsv1.Product]
	for name, s := range map[string]spec{
		"no call":             {Method: "POST", Path: "/x"},
		"lower-case method":   {Method: "post", Path: "/x", Call: call},
		"relative path":       {Method: "POST", Path: "x", Call: call},
		"unknown path var":    {Method: "POST", Path: "/x/{nope}", Call: call},
		"unbalanced template": {Method: "POST", Path: "/x/{id", Call: call},
		"unknown query":       {Method: "POST", Path: "/x", Query: []string{"nope"}, Call: call},
		"bound twice":         {Method: "POST", Path: "/x/{id}", Query: []string{"id"}, Call: call},
		"unknown header":      {Method: "POST", Path: "/x", Headers: map[string]string{"X-A": "nope"}, Call: call},
		"required sans body":  {Method: "POST", Path: "/x", Required: []string{"delta"}, Call: call},
		"required not body":   {Method: "POST", Path: "/x/{id}", Body: true, Required: []string{"id"}, Call: call},
		"unknown NotInBody":   {Method: "POST", Path: "/x", Body: true, NotInBody: []string{"nope"}, Call: call},
		"HookFills sans Hook": {Method: "POST", Path: "/x", HookFills: []string{"delta"}, Call: call},
		"unknown Hide":        {Method: "POST", Path: "/x", Hide: []string{"nope.x"}, Call: call},
		"Hide into scalar":    {Method: "POST", Path: "/x", Hide: []string{"id.x"}, Call: call},
		"unknown Location":    {Method: "POST", Path: "/x", Location: "/p/{nope}", Call: call},
		"Location timestamp":  {Method: "POST", Path: "/x", Location: "/p/{created_at}", Call: call},
	} {
		if Unary(s).Err() == nil {
			t.Errorf("%s: no error", name)
		}
	}
	// A message field cannot come from text.
	bad := Unary(Spec[*productsv1.ReserveInventoryRequest, *productsv1.Reservation]{
		Method: "POST", Path: "/r", Query: []string{"items"},
		Call: func(context.Context, *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error) {
			return nil, nil
		},
	})
	if bad.Err() == nil {
		t.Error("message-typed query parameter accepted")
	}
	ok := Unary(spec{Method: "POST", Path: "/x/{id}", Call: call})
	if err := Check(ok, ok); err == nil || !strings.Contains(err.Error(), "twice") {
		t.Errorf("duplicate route: %v", err)
	}
	defer func() {
		if recover() == nil {
			t.Error("Mount took a broken route")
		}
	}()
	Mount(httpx.NewRouter(), bad)
}

func TestGaps(t *testing.T) {
	f := &fakeProducts{}
	req, resp := Gaps(f.routes()...)
	// UpdateProductRequest and AdjustStockRequest are fully reached (path,
	// body, header); SearchProductsRequest by its query. Responses hide
	// only "reserved", which another route shows.
	if len(req) != 0 || len(resp) != 0 {
		t.Fatalf("gaps %v %v", req, resp)
	}
	only := f.routes()[2:3] // PATCH: reserved hidden, nothing else shows it
	req, resp = Gaps(only...)
	if len(req) != 0 || !slices.Equal(resp, []string{"kitshop.products.v1.Product.reserved"}) {
		t.Fatalf("gaps %v %v", req, resp)
	}
	get := Unary(Spec[*productsv1.SearchProductsRequest, *productsv1.SearchProductsResponse]{
		Method: "GET", Path: "/s", Query: []string{"q"},
		Call: func(context.Context, *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error) {
			return nil, nil
		},
	})
	req, _ = Gaps(get)
	want := []string{
		"kitshop.products.v1.SearchProductsRequest.category", "kitshop.products.v1.SearchProductsRequest.max_price_cents",
		"kitshop.products.v1.SearchProductsRequest.min_price_cents", "kitshop.products.v1.SearchProductsRequest.page_size",
		"kitshop.products.v1.SearchProductsRequest.page_token",
	}
	if !slices.Equal(req, want) {
		t.Fatalf("request gaps %v, want %v", req, want)
	}
	// A nested field kept out of the body is a gap of its own.
	reserve := Unary(Spec[*productsv1.ReserveInventoryRequest, *productsv1.Reservation]{
		Method: "POST", Path: "/r", Body: true, NotInBody: []string{"items.product_id", "ttl"},
		Call: func(context.Context, *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error) {
			return nil, nil
		},
	})
	req, _ = Gaps(reserve)
	want = []string{"kitshop.products.v1.ReserveInventoryRequest.items.product_id", "kitshop.products.v1.ReserveInventoryRequest.ttl"}
	if !slices.Equal(req, want) {
		t.Fatalf("request gaps %v, want %v", req, want)
	}
}

func TestScreamingSnake(t *testing.T) {
	for in, want := range map[string]string{
		"PaymentStatus": "PAYMENT_STATUS", "HTTPStatus": "HTTP_STATUS", "Status": "STATUS", "V2Kind": "V2_KIND", "OAuth2Flow": "O_AUTH2_FLOW",
	} {
		if got := screamingSnake(in); got != want {
			t.Errorf("%s: %s, want %s", in, got, want)
		}
	}
}

// TestRouteControlCharacterIsAValidationFailure: through a route, a
// control character in a body string is the 400 VALIDATION_FAILED
// problem every other transport answers, naming the member's full path.
func TestRouteControlCharacterIsAValidationFailure(t *testing.T) {
	h := serve(t, []Route{Unary(Spec[*productsv1.ReserveInventoryRequest, *productsv1.Reservation]{
		Method: http.MethodPost, Path: "/reservations", Body: true,
		Call: func(context.Context, *productsv1.ReserveInventoryRequest) (*productsv1.Reservation, error) {
			t.Error("a request with a control character reached the call")
			return nil, nil
		},
	})})
	body := `{"items":[{"product_id":"p1","quantity":1},{"product_id":"p\u00002","quantity":1}]}`
	wantProblem(t, do(t, h, newRequest(http.MethodPost, "/reservations", body, nil)),
		http.StatusBadRequest, errs.ReasonValidation, "items[1].product_id")
}

func TestRouteUUIDs(t *testing.T) {
	var got *productsv1.GetProductRequest
	get := Unary(Spec[*productsv1.GetProductRequest, *productsv1.Product]{
		Method: http.MethodGet, Path: "/api/v1/products/{id}", UUIDs: []string{"id"},
		Call: func(_ context.Context, r *productsv1.GetProductRequest) (*productsv1.Product, error) {
			got = r
			return mug, nil
		},
	})
	h := serve(t, []Route{get})
	wantProblem(t, do(t, h, newRequest("GET", "/api/v1/products/9b1d", "", nil)), 400, errs.ReasonValidation, "id")
	if got != nil {
		t.Fatal("a malformed id reached Call")
	}
	if r := do(t, h, newRequest("GET", "/api/v1/products/9B1D2E3F-0A1B-4C2D-8E3F-405162738495", "", nil)); !r.ok() || got == nil {
		t.Fatalf("a UUID was refused: %d", r.status)
	}
	for _, bad := range [][]string{{"nope"}, {"id", "q"}} {
		rt := Unary(Spec[*productsv1.GetProductRequest, *productsv1.Product]{
			Method: http.MethodGet, Path: "/p/{id}", UUIDs: bad, Call: get.handler.(*handler[*productsv1.GetProductRequest, *productsv1.Product]).call,
		})
		if rt.Err() == nil {
			t.Fatalf("UUIDs %v: accepted", bad)
		}
	}
}
