package web

import (
	"context"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/valid"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// catalogPageSize is the products one page lists.
const catalogPageSize = 20

// maxQueryLen bounds the search and category inputs.
const maxQueryLen = 200

type catalogData struct {
	Q, Category, MinPrice, MaxPrice string
	Products                        []*productsv1.Product
	Total                           int64
	// NextURL and FirstURL are the pagination links ("" for none).
	NextURL, FirstURL string
}

// catalog is the product list: full-text search, category, a price range
// in major units (the form's "10" or "9.99"), and pagination with the
// API's page tokens (next, and back to the first page: tokens are
// opaque, so there is no "previous").
func (s *Server) catalog(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	d := catalogData{
		Q: strings.TrimSpace(q.Get("q")), Category: strings.TrimSpace(q.Get("category")),
		MinPrice: strings.TrimSpace(q.Get("min_price")), MaxPrice: strings.TrimSpace(q.Get("max_price")),
	}
	req := &productsv1.SearchProductsRequest{Q: d.Q, Category: d.Category, PageSize: catalogPageSize, PageToken: q.Get("page_token")}
	var v errs.Validation
	v.Check(len(d.Q) <= maxQueryLen, "q", "is too long")
	v.Check(len(d.Category) <= maxQueryLen, "category", "is too long")
	req.MinPriceCents = priceParam(&v, "min price", d.MinPrice)
	req.MaxPriceCents = priceParam(&v, "max price", d.MaxPrice)
	if err := v.Err(); err != nil {
		status, msg := userMessage(err)
		s.render(w, r, status, "catalog", "Products", d, msg)
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PageTimeout)
	defer cancel()
	resp, err := s.cfg.Products.SearchProducts(ctx, req)
	if err != nil {
		s.fail(w, r, "catalog", "Products", d, err)
		return
	}
	d.Products, d.Total = resp.GetProducts(), resp.GetTotalSize()
	// The links keep the filters and change only the page token.
	u := url.Values{}
	for k, vs := range q {
		if k != "page_token" {
			u[k] = vs
		}
	}
	if q.Get("page_token") != "" {
		d.FirstURL = "/?" + u.Encode()
	}
	if next := resp.GetNextPageToken(); next != "" {
		u.Set("page_token", next)
		d.NextURL = "/?" + u.Encode()
	}
	s.render(w, r, http.StatusOK, "catalog", "Products", d, "")
}

// priceParam parses a price in major units into cents; "" is no bound.
func priceParam(v *errs.Validation, field, s string) *int64 {
	if s == "" {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f < 0 || math.IsInf(f, 0) || f > 1e12 {
		v.Add(field, "must be an amount such as 10 or 9.99")
		return nil
	}
	cents := int64(math.Round(f * 100))
	return &cents
}

type productData struct {
	Product *productsv1.Product
}

func (s *Server) product(w http.ResponseWriter, r *http.Request) {
	id, ok := s.pathID(w, r)
	if !ok {
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), s.cfg.PageTimeout)
	defer cancel()
	p, err := s.cfg.Products.GetProduct(ctx, &productsv1.GetProductRequest{Id: id})
	if err != nil {
		s.fail(w, r, "error", "Product", nil, err)
		return
	}
	s.render(w, r, http.StatusOK, "product", p.GetName(), productData{Product: p}, "")
}

// pathID is the request's {id}, or a not-found page (and false) when it
// is not an id: a malformed one cannot name anything, and asking a backend
// would only cost a call.
func (s *Server) pathID(w http.ResponseWriter, r *http.Request) (string, bool) {
	id := r.PathValue("id")
	if !valid.IsID(id) {
		s.notFound(w, r)
		return "", false
	}
	return id, true
}

// fail renders page with err's sentence. Failures of the platform itself
// are logged: the shopper sees a sentence, the operator the cause.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, page, title string, data any, err error) {
	if errs.IsInfrastructure(err) || errs.KindOf(err) == errs.Internal {
		s.logError(r, "backend call", err)
	}
	status, msg := userMessage(err)
	if status == http.StatusNotFound && page == "error" {
		title = "Not found"
	}
	s.render(w, r, status, page, title, data, msg)
}
