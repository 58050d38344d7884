package main

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/go-kit/kit/endpoint"
	"github.com/gorilla/mux"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
)

// BenchmarkHTTP compares products HTTP requests served through the REST
// mapping (products/client's routes: JSON -> pb -> the in-process pb
// server -> the endpoint chain -> pb -> JSON) with the transport it
// replaced (go-kit's HTTP server with httpx.DecodeJSON into domain
// structs and Product.MarshalJSON, kept below as legacyHTTPHandler). Both
// run in-process behind the same JWT middleware, with the same bare
// endpoint chain and memory store, so that the difference is the
// transport's own work rather than logging or tracing. Run with -count:
// the VM is noisy.
func BenchmarkHTTP(b *testing.B) {
	f := newFixture(b, newMemoryStore(), Options{})
	for i := range 30 {
		f.create(b, fmt.Sprintf("BENCH-%d", i), 1000)
	}
	p := f.create(b, "BENCH-P", 1000)
	iss := authtest.NewIssuer(b)
	admin := iss.Token(b, uuid.NewString(), auth.RoleAdmin)
	endpoints := MakeEndpoints(f.svc, mw.Chain{Service: "products"})
	handlers := []struct {
		name string
		h    http.Handler
	}{
		{"legacy", legacyHTTPHandler(endpoints, iss.Verifier)},
		{"mapping", NewHTTPHandler(endpoints, iss.Verifier)},
	}
	requests := []struct {
		name, method, path, body string
	}{
		{"GetProduct", http.MethodGet, "/api/v1/products/" + p.ID, ""},
		{"Search20", http.MethodGet, "/api/v1/products?category=misc&page_size=20&min_price_cents=100", ""},
		{"Patch", http.MethodPatch, "/api/v1/products/" + p.ID, `{"name":"Bench product","price_cents":700}`},
		{"AdjustStock", http.MethodPost, "/api/v1/products/" + p.ID + "/stock", `{"delta":1}`},
	}
	for _, rq := range requests {
		for _, h := range handlers {
			b.Run(rq.name+"/"+h.name, func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					r := httptest.NewRequest(rq.method, rq.path, strings.NewReader(rq.body))
					r.Header.Set("Authorization", "Bearer "+admin)
					if rq.body != "" {
						r.Header.Set("Content-Type", "application/json")
					}
					w := httptest.NewRecorder()
					h.h.ServeHTTP(w, r)
					if w.Code != http.StatusOK {
						b.Fatalf("%d %s", w.Code, w.Body)
					}
				}
			})
		}
	}
}

// legacyHTTPHandler is the part of products' HTTP transport the benchmark
// uses, as it was before kit/rest, kept only as the baseline.
func legacyHTTPHandler(e Endpoints, verifier *auth.Verifier) http.Handler {
	r := httpx.NewRouter()
	api := r.PathPrefix("/api/v1").Subrouter()
	api.Methods(http.MethodGet).Path("/products").
		Handler(httpx.Handler[SearchRequest, legacyPage](legacyJSON(e.SearchProducts, legacyPageOf), legacyDecodeSearch, http.StatusOK))
	api.Methods(http.MethodGet).Path("/products/{id}").
		Handler(httpx.Handler[string, legacyProduct](legacyJSON(e.GetProduct, legacyProductOf), legacyPathID, http.StatusOK))
	api.Methods(http.MethodPatch).Path("/products/{id}").
		Handler(legacyAdmin(httpx.Handler[ProductUpdate, legacyProduct](legacyJSON(e.UpdateProduct, legacyProductOf), legacyDecodePatch, http.StatusOK)))
	api.Methods(http.MethodPost).Path("/products/{id}/stock").
		Handler(legacyAdmin(httpx.Handler[StockAdjustment, legacyStock](legacyJSON(e.AdjustStock, legacyStockOf), legacyDecodeStock, http.StatusOK)))
	return verifier.Middleware(r)
}

func legacyAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := auth.RequireAdmin(r.Context()); err != nil {
			httpx.WriteProblem(w, r, err)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// legacyJSON converts e's domain answer into the JSON-marshalling type
// the legacy transport wrote (Product and StockResult had MarshalJSON).
func legacyJSON[T, J any](e endpoint.Endpoint, conv func(T) J) endpoint.Endpoint {
	return func(ctx context.Context, req any) (any, error) {
		resp, err := e(ctx, req)
		if err != nil {
			return nil, err
		}
		v, err := typed.Cast[T](resp)
		if err != nil {
			return nil, err
		}
		return conv(v), nil
	}
}

type legacyProduct struct{ p Product }

type legacyProductJSON struct {
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

func (l legacyProduct) MarshalJSON() ([]byte, error) {
	p := l.p
	return httpx.MarshalJSON(legacyProductJSON{
		ID: p.ID, SKU: p.SKU, Name: p.Name, Description: p.Description, Category: p.Category,
		PriceCents: p.PriceCents, Currency: p.Currency, Stock: p.Stock, Reserved: p.Reserved,
		Available: p.Available(), Active: p.Active, CreatedAt: p.CreatedAt.UTC(), UpdatedAt: p.UpdatedAt.UTC(),
	})
}

func legacyProductOf(p Product) legacyProduct { return legacyProduct{p} }

type legacyPage struct {
	Products      []legacyProduct `json:"products"`
	NextPageToken string          `json:"next_page_token"`
	TotalSize     int64           `json:"total_size"`
}

func legacyPageOf(pg SearchPage) legacyPage {
	out := legacyPage{Products: make([]legacyProduct, len(pg.Products)), NextPageToken: pg.NextPageToken, TotalSize: pg.TotalSize}
	for i, p := range pg.Products {
		out.Products[i] = legacyProduct{p}
	}
	return out
}

type legacyStock struct{ r StockResult }

func legacyStockOf(r StockResult) legacyStock { return legacyStock{r} }

func (l legacyStock) MarshalJSON() ([]byte, error) { return legacyProduct{l.r.Product}.MarshalJSON() }

func (l legacyStock) Headers() http.Header {
	if !l.r.Replayed {
		return nil
	}
	return http.Header{"Idempotent-Replayed": {"true"}}
}

type legacyPatchBody struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	Category    *string `json:"category"`
	PriceCents  *int64  `json:"price_cents"`
	Active      *bool   `json:"active"`
}

func legacyDecodePatch(_ context.Context, r *http.Request) (ProductUpdate, error) {
	b, err := httpx.DecodeJSON[legacyPatchBody](r)
	if err != nil {
		return ProductUpdate{}, err
	}
	return ProductUpdate{ID: mux.Vars(r)["id"], Name: b.Name, Description: b.Description, Category: b.Category,
		PriceCents: b.PriceCents, Active: b.Active}, nil
}

type legacyStockBody struct {
	Delta *int64 `json:"delta"`
}

func legacyDecodeStock(_ context.Context, r *http.Request) (StockAdjustment, error) {
	b, err := httpx.DecodeJSON[legacyStockBody](r)
	if err != nil {
		return StockAdjustment{}, err
	}
	if b.Delta == nil {
		return StockAdjustment{}, errs.Invalid(errs.FieldViolation{Field: "delta", Message: "is required"})
	}
	return StockAdjustment{ProductID: mux.Vars(r)["id"], Delta: *b.Delta,
		IdempotencyKey: r.Header.Get("Idempotency-Key")}, nil
}

func legacyDecodeSearch(_ context.Context, r *http.Request) (SearchRequest, error) {
	page, err := httpx.ParsePage(r)
	if err != nil {
		return SearchRequest{}, err
	}
	q := r.URL.Query()
	req := SearchRequest{Query: q.Get("q"), Category: q.Get("category"), PageSize: page.Size, PageToken: page.Token}
	var v errs.Validation
	for field, dst := range map[string]**int64{"min_price_cents": &req.MinPriceCents, "max_price_cents": &req.MaxPriceCents} {
		if raw := q.Get(field); raw != "" {
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				v.Add(field, "must be an integer")
				continue
			}
			*dst = &n
		}
	}
	return req, v.Err()
}

func legacyPathID(_ context.Context, r *http.Request) (string, error) {
	return mux.Vars(r)["id"], nil
}
