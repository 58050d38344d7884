package main

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/rest/resttest"
	"github.com/kitshop/kitshop/kit/sd"
	ordersclient "github.com/kitshop/kitshop/orders/client"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	productsclient "github.com/kitshop/kitshop/products/client"
)

const (
	orderID = "0b6c2b5e-8b8a-4f7e-9d8f-1a2b3c4d5e6f"
	mugID   = "6f1c1a52-7d4c-4c59-9a55-2f0f2f2f2f2f"
	bookID  = "9b1d2e3f-0a1b-4c2d-8e3f-405162738495"
)

type fakeOrders struct{ ordersclient.Client }

func (fakeOrders) GetOrder(context.Context, *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	return &ordersv1.Order{Id: orderID, Items: []*ordersv1.OrderItem{
		{ProductId: mugID, Sku: "MUG-OLD", Name: "Old mug", Quantity: 1},
		{ProductId: bookID, Sku: "BOOK-1", Name: "A book", Quantity: 2},
		{ProductId: mugID, Sku: "MUG-OLD", Name: "Old mug", Quantity: 3},
	}}, nil
}

type fakeProducts struct {
	productsclient.Client
	err   error
	asked [][]string
}

func (f *fakeProducts) BatchGetProducts(_ context.Context, r *productsv1.BatchGetProductsRequest) (*productsv1.BatchGetProductsResponse, error) {
	f.asked = append(f.asked, r.GetIds())
	if f.err != nil {
		return nil, f.err
	}
	// The book is gone from the catalog: it keeps what the order says.
	return &productsv1.BatchGetProductsResponse{
		Products:   []*productsv1.Product{{Id: mugID, Sku: "MUG-1", Name: "Blue mug"}},
		MissingIds: []string{bookID},
	}, nil
}

func serveOrders(products *fakeProducts) http.Handler {
	r := httpx.NewRouter()
	ordersclient.RegisterHTTP(r, enrichedOrders{Client: fakeOrders{}, products: products})
	return resttest.AsRole(auth.RoleCustomer, mugID, r)
}

func TestOrderReadIsEnrichedWithOneBatchLookup(t *testing.T) {
	products := &fakeProducts{}
	w := resttest.Do(t, serveOrders(products), "GET", "/api/v1/orders/"+orderID, "")
	body := w.Body.String()
	if w.Code != 200 || w.Header().Get("Warning") != "" {
		t.Fatalf("%d %v %s", w.Code, w.Header(), body)
	}
	if strings.Count(body, `"sku":"MUG-1","name":"Blue mug"`) != 2 || !strings.Contains(body, `"sku":"BOOK-1","name":"A book"`) {
		t.Fatalf("items not enriched as the catalog says: %s", body)
	}
	if len(products.asked) != 1 || len(products.asked[0]) != 2 {
		t.Fatalf("catalog asked %v, want one call with the two distinct ids", products.asked)
	}
}

func TestOrderReadSurvivesTheCatalogBeingDown(t *testing.T) {
	products := &fakeProducts{err: errs.New(errs.Unavailable, sd.ReasonNoInstances, "no instance of products")}
	w := resttest.Do(t, serveOrders(products), "GET", "/api/v1/orders/"+orderID, "")
	if w.Code != 200 || !strings.HasPrefix(w.Header().Get("Warning"), "199 ") {
		t.Fatalf("%d Warning %q: %s", w.Code, w.Header().Get("Warning"), w.Body)
	}
	if !strings.Contains(w.Body.String(), `"sku":"MUG-OLD","name":"Old mug"`) {
		t.Fatalf("the order should keep the names it was placed with: %s", w.Body)
	}
}
