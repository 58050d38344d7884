package httpx

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/typed"
)

type createReq struct {
	Name string `json:"name"`
}

type product struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// accepted answers 202 with a Location, as an async create does.
type accepted struct {
	ID string `json:"id"`
}

func (accepted) StatusCode() int { return http.StatusAccepted }
func (a accepted) Headers() http.Header {
	return http.Header{"Location": {"/api/v1/orders/" + a.ID}}
}

func serve(h http.Handler, method, path, body string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec
}

func TestHandlerCreated(t *testing.T) {
	e := typed.Endpoint(func(_ context.Context, req createReq) (product, error) {
		if req.Name == "" {
			return product{}, errs.Invalid(errs.FieldViolation{Field: "name", Message: "is required"})
		}
		return product{ID: "p1", Name: req.Name}, nil
	})
	h := Handler[createReq, product](e, JSONBody[createReq](), http.StatusCreated)

	rec := serve(h, http.MethodPost, "/api/v1/products", `{"name":"mug"}`)
	if rec.Code != http.StatusCreated || !strings.HasPrefix(rec.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d headers %v", rec.Code, rec.Header())
	}
	var got product
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil || got != (product{ID: "p1", Name: "mug"}) {
		t.Fatalf("body %s (%v)", rec.Body, err)
	}

	rec = serve(h, http.MethodPost, "/api/v1/products", `{"name":""}`)
	p := problemBody(t, rec)
	if rec.Code != 400 || p["instance"] != "/api/v1/products" || p["errors"] == nil {
		t.Fatalf("endpoint error: %d %v", rec.Code, p)
	}

	rec = serve(h, http.MethodPost, "/api/v1/products", `{"name":"mug","price":1}`)
	if p := problemBody(t, rec); rec.Code != 400 || p["code"] != ReasonUnknownField {
		t.Fatalf("decode error: %d %v", rec.Code, p)
	}

	r := httptest.NewRequest(http.MethodPost, "/api/v1/products", strings.NewReader(`{}`))
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	if p := problemBody(t, rec); rec.Code != 415 || p["code"] != ReasonUnsupportedMediaType {
		t.Fatalf("content type: %d %v", rec.Code, p)
	}
}

func TestHandlerEmptyResponses(t *testing.T) {
	for name, e := range map[string]endpoint.Endpoint{
		"nil":        func(context.Context, any) (any, error) { return nil, nil },
		"nil ptr":    func(context.Context, any) (any, error) { return (*product)(nil), nil },
		"empty type": func(context.Context, any) (any, error) { return struct{}{}, nil },
	} {
		t.Run(name, func(t *testing.T) {
			var h http.Handler
			if name == "empty type" {
				h = Handler[struct{}, struct{}](e, nil, http.StatusOK)
			} else {
				h = Handler[struct{}, *product](e, nil, http.StatusOK)
			}
			rec := serve(h, http.MethodDelete, "/x", "")
			if rec.Code != http.StatusNoContent || rec.Body.Len() != 0 {
				t.Fatalf("status %d body %q", rec.Code, rec.Body)
			}
		})
	}
}

func TestHandlerStatusCoderAndHeaderer(t *testing.T) {
	e := func(context.Context, any) (any, error) { return accepted{ID: "o9"}, nil }
	rec := serve(Handler[struct{}, accepted](e, nil, http.StatusCreated), http.MethodPost, "/api/v1/orders", "")
	if rec.Code != http.StatusAccepted || rec.Header().Get("Location") != "/api/v1/orders/o9" {
		t.Fatalf("status %d headers %v", rec.Code, rec.Header())
	}
}

func TestHandlerWrongResponseTypeIsInternal(t *testing.T) {
	e := func(context.Context, any) (any, error) { return "not a product", nil }
	rec := serve(Handler[struct{}, product](e, nil, http.StatusOK), http.MethodGet, "/x", "")
	if p := problemBody(t, rec); rec.Code != 500 || strings.Contains(rec.Body.String(), "string") {
		t.Fatalf("%d %v", rec.Code, p)
	}
}

func TestHandlerOptionsOverride(t *testing.T) {
	e := func(context.Context, any) (any, error) { return nil, errors.New("x") }
	called := false
	h := Handler[struct{}, product](e, nil, http.StatusOK, httptransport.ServerErrorEncoder(func(_ context.Context, _ error, w http.ResponseWriter) {
		called = true
		w.WriteHeader(http.StatusTeapot)
	}))
	rec := serve(h, http.MethodGet, "/x", "")
	if !called || rec.Code != http.StatusTeapot {
		t.Fatalf("caller's error encoder not used: %d", rec.Code)
	}
}

func TestWriteJSON(t *testing.T) {
	rec := httptest.NewRecorder()
	WriteJSON(rec, http.StatusOK, map[string]int{"a": 1})
	if rec.Code != 200 || rec.Body.String() != "{\"a\":1}\n" {
		t.Fatalf("%d %q", rec.Code, rec.Body)
	}
	rec = httptest.NewRecorder()
	WriteJSON(rec, http.StatusOK, map[string]any{"f": func() {}})
	if rec.Code != 500 || rec.Header().Get("Content-Type") != ProblemContentType {
		t.Fatalf("unencodable value: %d %v", rec.Code, rec.Header())
	}
	rec = httptest.NewRecorder()
	WriteJSON(rec, http.StatusNoContent, map[string]int{"a": 1})
	if rec.Code != 204 || rec.Body.Len() != 0 {
		t.Fatalf("204 with body %q", rec.Body)
	}
}

type created struct {
	ID       string `json:"id"`
	replayed bool
}

func (c created) Replayed() bool { return c.replayed }

func TestLocationAndIdempotentReplayed(t *testing.T) {
	e := typed.Endpoint(func(_ context.Context, req createReq) (created, error) {
		return created{ID: "p1", replayed: req.Name == "again"}, nil
	})
	h := Handler[createReq, created](e, JSONBody[createReq](), http.StatusCreated,
		Location(func(c created) string { return "/api/v1/products/" + c.ID }))

	rec := serve(h, http.MethodPost, "/api/v1/products", `{"name":"mug"}`)
	if rec.Code != 201 || rec.Header().Get("Location") != "/api/v1/products/p1" {
		t.Fatalf("status %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
	if got := rec.Header().Get(HeaderIdempotentReplayed); got != "" {
		t.Fatalf("first request marked replayed: %q", got)
	}
	rec = serve(h, http.MethodPost, "/api/v1/products", `{"name":"again"}`)
	if got := rec.Header().Get(HeaderIdempotentReplayed); rec.Code != 201 || got != "true" {
		t.Fatalf("replay: status %d %s %q", rec.Code, HeaderIdempotentReplayed, got)
	}
	// No Location on errors.
	rec = serve(h, http.MethodPost, "/api/v1/products", `{"nope":1}`)
	if rec.Code != 400 || rec.Header().Get("Location") != "" {
		t.Fatalf("error: status %d Location %q", rec.Code, rec.Header().Get("Location"))
	}
}
