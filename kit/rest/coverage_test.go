package rest

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"

	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// productsInternal are the ProductsService methods fakeProducts does not
// route: all but its four, read from the descriptor so that a method
// added to products.proto does not break this test of the mechanism.
func productsInternal() map[string]string {
	routed := map[string]bool{"SearchProducts": true, "CreateProduct": true, "UpdateProduct": true, "AdjustStock": true}
	out := map[string]string{}
	methods := productsv1.File_products_v1_products_proto.Services().ByName("ProductsService").Methods()
	for i := range methods.Len() {
		if name := string(methods.Get(i).Name()); !routed[name] {
			out[name] = "-"
		}
	}
	return out
}

func TestCoverageProblems(t *testing.T) {
	service := productsv1.File_products_v1_products_proto.Services().ByName("ProductsService")
	f := &fakeProducts{}
	full := Coverage{Service: service, Routes: f.routes(), Internal: productsInternal()}
	if p := full.Problems(); len(p) != 0 {
		t.Fatalf("a mapping that accounts for everything has problems: %q", p)
	}

	for _, c := range []struct {
		name string
		edit func(*Coverage)
		want []string // each must be a substring of one problem, in order
	}{
		{"unrouted method not listed", func(c *Coverage) { delete(c.Internal, "GetProduct") },
			[]string{"GetProduct: routed=false, internal=false"}},
		{"routed method listed as internal", func(c *Coverage) { c.Internal["SearchProducts"] = "-" },
			[]string{"SearchProducts: routed=true, internal=true"}},
		{"internal method gone from the service", func(c *Coverage) { c.Internal["Gone"] = "-" },
			[]string{"internal method Gone is not in ProductsService"}},
		{"hidden field the mapping reaches", func(c *Coverage) {
			c.HiddenResponse = map[string]string{"kitshop.products.v1.Product.reserved": "-"}
		}, []string{"allow-list entry kitshop.products.v1.Product.reserved is stale"}},
		{"field neither reached nor hidden", func(c *Coverage) {
			c.Routes = []Route{c.Routes[2]} // PATCH hides reserved
			for _, name := range []string{"CreateProduct", "SearchProducts", "AdjustStock"} {
				c.Internal[name] = "-"
			}
		}, []string{"response field kitshop.products.v1.Product.reserved is not in the REST mapping"}},
		{"broken route", func(c *Coverage) {
			c.Routes = append(c.Routes, Unary(Spec[*productsv1.GetProductRequest, *productsv1.Product]{
				Method: "GET", Path: "/p/{nope}",
				Call: func(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error) { return nil, nil },
			}))
			delete(c.Internal, "GetProduct")
		}, []string{"/p/{nope}"}},
		{"no service", func(c *Coverage) { c.Service = nil }, []string{"needs the service descriptor"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			cov := full
			cov.Routes = slices.Clone(full.Routes)
			cov.Internal = maps.Clone(full.Internal)
			c.edit(&cov)
			got := cov.Problems()
			if len(got) != len(c.want) {
				t.Fatalf("problems %q, want %d like %q", got, len(c.want), c.want)
			}
			for i, w := range c.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("problem %q lacks %q", got[i], w)
				}
			}
		})
	}
}
