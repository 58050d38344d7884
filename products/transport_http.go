package main

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/go-kit/kit/endpoint"
	"github.com/gorilla/mux"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/typed"
)

// NewHTTPHandler serves the Products routes of API.md. verifier
// authenticates bearer tokens; the write routes require the admin role.
// The admin check runs before the body is decoded, so an anonymous caller
// learns nothing about what a valid body looks like; the endpoints check
// again, which is what guards the same operations over gRPC.
func NewHTTPHandler(e Endpoints, verifier *auth.Verifier) http.Handler {
	r := httpx.NewRouter()
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Methods(http.MethodGet).Path("/products").
		Handler(httpx.Handler[SearchRequest, SearchPage](e.SearchProducts, decodeSearchQuery, http.StatusOK))
	api.Methods(http.MethodGet).Path("/products/{id}").
		Handler(httpx.Handler[string, Product](e.GetProduct, pathID, http.StatusOK))
	api.Methods(http.MethodPost).Path("/products").
		Handler(requireAdmin(httpx.Handler[NewProduct, createdProduct](located(e.CreateProduct), decodeCreate, http.StatusCreated)))
	api.Methods(http.MethodPatch).Path("/products/{id}").
		Handler(requireAdmin(httpx.Handler[ProductUpdate, Product](e.UpdateProduct, decodePatch, http.StatusOK)))
	api.Methods(http.MethodPost).Path("/products/{id}/stock").
		Handler(requireAdmin(httpx.Handler[StockAdjustment, StockResult](e.AdjustStock, decodeStock, http.StatusOK)))
	return verifier.Middleware(r)
}

func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := auth.RequireAdmin(r.Context()); err != nil {
			httpx.WriteProblem(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// productJSON is a Product as API.md shows it: available is derived, the
// row version is internal.
type productJSON struct {
	ID          string    `json:"id"`
	SKU         string    `json:"sku"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Category    string    `json:"category"`
	PriceCents  int64     `json:"price_cents"`
	Currency    string    `json:"currency"`
	Stock       int64     `json:"stock"`
	Reserved    int64     `json:"reserved"`
	Available   int64     `json:"available"`
	Active      bool      `json:"active"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

// MarshalJSON writes p in its API.md shape, without HTML escaping (see
// httpx.MarshalJSON): "Tom & Jerry" stays as written.
func (p Product) MarshalJSON() ([]byte, error) {
	return httpx.MarshalJSON(productJSON{
		ID: p.ID, SKU: p.SKU, Name: p.Name, Description: p.Description, Category: p.Category,
		PriceCents: p.PriceCents, Currency: p.Currency, Stock: p.Stock, Reserved: p.Reserved,
		Available: p.Available(), Active: p.Active, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	})
}

// Response headers API.md asks for. Stopgap: kit/httpx is getting one
// mechanism for Location and Idempotent-Replayed; until then these use its
// httptransport.Headerer support.

// createdProduct is the 201 of POST /products, with the new product's
// Location; its JSON is the Product's.
type createdProduct struct{ Product }

func (c createdProduct) Headers() http.Header {
	return http.Header{"Location": {"/api/v1/products/" + c.ID}}
}

// located answers e's Product as a createdProduct.
func located(e endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		resp, err := e(ctx, req)
		if err != nil {
			return nil, err
		}
		p, err := typed.Cast[Product](resp)
		if err != nil {
			return nil, err
		}
		return createdProduct{p}, nil
	}
}

// MarshalJSON writes the adjusted product.
func (r StockResult) MarshalJSON() ([]byte, error) { return r.Product.MarshalJSON() }

// Headers marks a repeat of a keyed adjustment, as for every replayed
// idempotent request.
func (r StockResult) Headers() http.Header {
	if !r.Replayed {
		return nil
	}
	return http.Header{"Idempotent-Replayed": {"true"}}
}

// createBody is the POST /products body. price_cents has no sensible
// default, so it must be present; a missing stock means none on hand.
type createBody struct {
	SKU         string `json:"sku"`
	Name        string `json:"name"`
	Description string `json:"description"`
	Category    string `json:"category"`
	PriceCents  *int64 `json:"price_cents"`
	Currency    string `json:"currency"`
	Stock       int64  `json:"stock"`
}

func decodeCreate(_ context.Context, r *http.Request) (NewProduct, error) {
	b, err := httpx.DecodeJSON[createBody](r)
	if err != nil {
		return NewProduct{}, err
	}
	if b.PriceCents == nil {
		return NewProduct{}, errs.Invalid(errs.FieldViolation{Field: "price_cents", Message: "is required"})
	}
	return NewProduct{SKU: b.SKU, Name: b.Name, Description: b.Description, Category: b.Category,
		PriceCents: *b.PriceCents, Currency: b.Currency, Stock: b.Stock}, nil
}

// patchBody is the PATCH /products/{id} body; absent (or null) members
// keep their value.
type patchBody struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Category    *string `json:"category"`
	PriceCents  *int64  `json:"price_cents"`
	Active      *bool   `json:"active"`
}

func decodePatch(_ context.Context, r *http.Request) (ProductUpdate, error) {
	b, err := httpx.DecodeJSON[patchBody](r)
	if err != nil {
		return ProductUpdate{}, err
	}
	return ProductUpdate{ID: mux.Vars(r)["id"], Name: b.Name, Description: b.Description, Category: b.Category,
		PriceCents: b.PriceCents, Active: b.Active}, nil
}

type stockBody struct {
	Delta *int64 `json:"delta"`
}

// decodeStock reads {delta} and the optional Idempotency-Key header, with
// which a retried adjustment is applied once.
func decodeStock(_ context.Context, r *http.Request) (StockAdjustment, error) {
	b, err := httpx.DecodeJSON[stockBody](r)
	if err != nil {
		return StockAdjustment{}, err
	}
	if b.Delta == nil {
		return StockAdjustment{}, errs.Invalid(errs.FieldViolation{Field: "delta", Message: "is required"})
	}
	return StockAdjustment{ProductID: mux.Vars(r)["id"], Delta: *b.Delta,
		IdempotencyKey: r.Header.Get("Idempotency-Key")}, nil
}

func decodeSearchQuery(_ context.Context, r *http.Request) (SearchRequest, error) {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return SearchRequest{}, err
	}
	q := r.URL.Query()
	req := SearchRequest{Query: q.Get("q"), Category: q.Get("category"), PageSize: page.Size, PageToken: page.Token}
	var v errs.Validation
	req.MinPriceCents = queryInt(&v, q.Get("min_price_cents"), "min_price_cents")
	req.MaxPriceCents = queryInt(&v, q.Get("max_price_cents"), "max_price_cents")
	return req, v.Err()
}

// queryInt parses an optional integer query parameter; "" is absent.
func queryInt(v *errs.Validation, raw, field string) *int64 {
	if raw == "" {
		return nil
	}
	n, err := strconv.ParseInt(raw, 10, 64)
	if err != nil {
		v.Add(field, "must be an integer")
		return nil
	}
	return &n
}

func pathID(_ context.Context, r *http.Request) (string, error) {
	return mux.Vars(r)["id"], nil
}
