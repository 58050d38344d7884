package client

import (
	"context"
	"net/http"
	"slices"

	"github.com/gorilla/mux"
	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/rest"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// API is the part of kitshop.products.v1.ProductsService that API.md's
// HTTP routes call. The service's own pb server is one as it stands, so
// HTTP runs through the same endpoint chain as gRPC; RemoteAPI makes one
// of a gRPC client, for the gateway.
type API interface {
	CreateProduct(context.Context, *productsv1.CreateProductRequest) (*productsv1.Product, error)
	UpdateProduct(context.Context, *productsv1.UpdateProductRequest) (*productsv1.Product, error)
	GetProduct(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error)
	SearchProducts(context.Context, *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error)
	// AdjustStock sets the response header ReplayedMetadata (with
	// grpc.SetHeader) when it repeated an adjustment already applied.
	AdjustStock(context.Context, *productsv1.AdjustStockRequest) (*productsv1.Product, error)
}

// ReplayedMetadata is the gRPC response header, "true", with which
// AdjustStock says that its idempotency key named an adjustment already
// applied: nothing changed, and the product is as it is now. The response
// is a bare Product, which has no room for it. Over HTTP it is
// Idempotent-Replayed: true, as on every replayed idempotent request.
const ReplayedMetadata = "idempotent-replayed"

// forwarded are the gRPC response headers that the HTTP API shows, by
// the HTTP header they become. Any other metadata stays on the gRPC side.
var forwarded = map[string]string{ReplayedMetadata: "Idempotent-Replayed"}

// RegisterHTTP serves the Products routes of API.md on router (made by
// httpx.NewRouter) with api behind them. Authentication is the caller's
// middleware's job: it puts the verified claims in the request context,
// where the admin routes' guard and api (in-process) read them, or from
// which a remote api forwards the token.
//
// The stock route forwards the response header ReplayedMetadata
// (kit/rest's Spec.Metadata): api answers it the same way in-process and
// remotely, and it becomes the HTTP header Idempotent-Replayed.
func RegisterHTTP(router *mux.Router, api API) {
	rest.Mount(router, Routes(api)...)
}

// Routes is the REST mapping of the Products part of API.md: the one
// place where its JSON shapes, paths and statuses are written down. Every
// JSON member is the pb field of the same name (see kit/rest for the
// rules), so a field added to a products message appears in the API with
// no edit here; the descriptor test in this package says when one cannot.
//
// The writes are admin-only. Their guard refuses other callers before the
// body is read, so an anonymous caller learns nothing about what a valid
// body looks like; the service checks again, which is what guards the
// same methods over gRPC.
func Routes(api API) []rest.Route {
	return []rest.Route{
		// Paging follows kit/page, applied by the service as for gRPC:
		// page_size 0 is 20, above 100 is 100, negative is 400; a token
		// reused with other filters is 400 INVALID_PAGE_TOKEN.
		rest.Unary(rest.Spec[*productsv1.SearchProductsRequest, *productsv1.SearchProductsResponse]{
			Method: http.MethodGet, Path: "/api/v1/products", Call: api.SearchProducts,
			Hook:  rest.CheckPageSize[*productsv1.SearchProductsRequest],
			Query: []string{"q", "category", "min_price_cents", "max_price_cents", "page_size", "page_token"},
		}),
		rest.Unary(rest.Spec[*productsv1.GetProductRequest, *productsv1.Product]{
			Method: http.MethodGet, Path: "/api/v1/products/{id}", Call: api.GetProduct, UUIDs: ids,
		}),
		rest.Unary(rest.Spec[*productsv1.CreateProductRequest, *productsv1.Product]{
			Method: http.MethodPost, Path: "/api/v1/products", Call: api.CreateProduct,
			Doc:   rest.Doc{Summary: "Add a product (admin).", Problems: []int{http.StatusConflict}},
			Guard: auth.AdminGuard, Body: true,
			// A price has no sensible default (0 would be a free
			// product); a missing stock means none on hand.
			Required: []string{"price_cents"},
			Status:   http.StatusCreated, Location: "/api/v1/products/{id}",
		}),
		// Absent or null members keep their value. Stock is not among
		// them: the stock route is the one way to change it.
		rest.Unary(rest.Spec[*productsv1.UpdateProductRequest, *productsv1.Product]{
			Method: http.MethodPatch, Path: "/api/v1/products/{id}", Call: api.UpdateProduct, UUIDs: ids,
			Guard: auth.AdminGuard, Body: true,
		}),
		// With an Idempotency-Key a retried adjustment is applied once;
		// the repeat answers Idempotent-Replayed: true (see
		// ReplayedMetadata and RegisterHTTP).
		rest.Unary(rest.Spec[*productsv1.AdjustStockRequest, *productsv1.Product]{
			Method: http.MethodPost, Path: "/api/v1/products/{id}/stock", Call: api.AdjustStock, UUIDs: ids,
			Doc:   rest.Doc{Summary: "Add or remove stock (admin).", Problems: []int{http.StatusConflict}},
			Guard: auth.AdminGuard, Body: true,
			Headers:  map[string]string{"Idempotency-Key": "idempotency_key"},
			Required: []string{"delta"},
			Metadata: forwarded,
		}),
	}
}

// RemoteAPI serves API with a ProductsService gRPC client, passing opts
// on every call. The caller's identity travels as the connection's
// interceptors send it (auth.UnaryClientInterceptor forwards the bearer
// token that the HTTP verifier put in the context).
func RemoteAPI(c productsv1.ProductsServiceClient, opts ...grpc.CallOption) API {
	return remoteAPI{c: c, opts: opts}
}

type remoteAPI struct {
	c    productsv1.ProductsServiceClient
	opts []grpc.CallOption
}

func (r remoteAPI) CreateProduct(ctx context.Context, req *productsv1.CreateProductRequest) (*productsv1.Product, error) {
	return r.c.CreateProduct(ctx, req, r.opts...)
}

func (r remoteAPI) UpdateProduct(ctx context.Context, req *productsv1.UpdateProductRequest) (*productsv1.Product, error) {
	return r.c.UpdateProduct(ctx, req, r.opts...)
}

func (r remoteAPI) GetProduct(ctx context.Context, req *productsv1.GetProductRequest) (*productsv1.Product, error) {
	return r.c.GetProduct(ctx, req, r.opts...)
}

func (r remoteAPI) SearchProducts(ctx context.Context, req *productsv1.SearchProductsRequest) (*productsv1.SearchProductsResponse, error) {
	return r.c.SearchProducts(ctx, req, r.opts...)
}

// AdjustStock passes the service's ReplayedMetadata on to ctx's
// ServerTransportStream (RegisterHTTP's), as the in-process server sets
// it there directly.
func (r remoteAPI) AdjustStock(ctx context.Context, req *productsv1.AdjustStockRequest) (*productsv1.Product, error) {
	var header metadata.MD
	// A fresh slice: appending to r.opts could share its array between
	// concurrent calls.
	p, err := r.c.AdjustStock(ctx, req, slices.Concat(r.opts, []grpc.CallOption{grpc.Header(&header)})...)
	rest.ForwardMetadata(ctx, header, ReplayedMetadata)
	return p, err
}

// ids are the path variables that hold ids: a malformed one is refused
// before any call, at the gateway too.
var ids = []string{"id"}
