package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	kitpage "github.com/kitshop/kitshop/kit/page"
)

func (f *fixture) createFull(t testing.TB, p NewProduct) Product {
	t.Helper()
	if p.Currency == "" {
		p.Currency = "USD"
	}
	got, err := f.svc.CreateProduct(context.Background(), p)
	if err != nil {
		t.Fatalf("create %s: %v", p.SKU, err)
	}
	return got
}

func skus(ps []Product) string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.SKU
	}
	return strings.Join(out, ",")
}

func TestSearchRelevance(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		f.createFull(t, NewProduct{SKU: "DESC", Name: "Side table", Description: "goes well with any lamp", Category: "furniture", PriceCents: 5000})
		f.createFull(t, NewProduct{SKU: "NAME", Name: "Brass lamp", Description: "warm light", Category: "lighting", PriceCents: 3000})
		f.createFull(t, NewProduct{SKU: "CAT", Name: "Bulb holder", Description: "spare part", Category: "lamp", PriceCents: 200})
		f.createFull(t, NewProduct{SKU: "NONE", Name: "Chair", Description: "sit on it", Category: "furniture", PriceCents: 4000})
		off := f.createFull(t, NewProduct{SKU: "OFF", Name: "Old lamp", Category: "lighting", PriceCents: 100})
		inactive := false
		if _, err := f.svc.UpdateProduct(ctx, ProductUpdate{ID: off.ID, Active: &inactive}); err != nil {
			t.Fatal(err)
		}

		page, err := f.svc.SearchProducts(ctx, SearchRequest{Query: "lamp"})
		if err != nil {
			t.Fatal(err)
		}
		if got := skus(page.Products); got != "NAME,CAT,DESC" || page.TotalSize != 3 || page.NextPageToken != "" {
			t.Fatalf("lamp: %s total %d token %q; want NAME,CAT,DESC (name > category > description, inactive hidden)",
				got, page.TotalSize, page.NextPageToken)
		}

		min, max := int64(200), int64(4000)
		page, err = f.svc.SearchProducts(ctx, SearchRequest{MinPriceCents: &min, MaxPriceCents: &max})
		if err != nil || skus(page.Products) != "NAME,CAT,NONE" || page.TotalSize != 3 {
			t.Fatalf("price 200..4000 by name: %s, %v", skus(page.Products), err)
		}
		page, err = f.svc.SearchProducts(ctx, SearchRequest{Query: "lamp", Category: "furniture"})
		if err != nil || skus(page.Products) != "DESC" || page.TotalSize != 1 {
			t.Fatalf("lamp in furniture: %s, %v", skus(page.Products), err)
		}
		page, err = f.svc.SearchProducts(ctx, SearchRequest{Query: "submarine"})
		if err != nil || len(page.Products) != 0 || page.TotalSize != 0 || page.Products == nil {
			t.Fatalf("no match: %+v, %v", page, err)
		}
	})
}

func TestSearchPostgresFullText(t *testing.T) {
	f := newFixture(t, newPostgresTestStore(t), Options{})
	ctx := context.Background()
	f.createFull(t, NewProduct{SKU: "A", Name: "Running shoes", Description: "light and fast", Category: "sport"})
	f.createFull(t, NewProduct{SKU: "B", Name: "Shoe polish", Description: "for leather", Category: "care"})
	f.createFull(t, NewProduct{SKU: "C", Name: "Runner rug", Description: "hallway", Category: "home"})
	// Stemming ("shoe" finds "shoes"), AND of words, quoted phrases and
	// negation, as websearch_to_tsquery does them.
	for q, want := range map[string]string{
		"shoe":                 "A,B",
		"running shoe":         "A",
		`"shoe polish"`:        "B",
		"shoe -polish":         "A",
		"the":                  "", // only a stop word: matches nothing, no error
		"leather OR hallway":   "B,C",
		"'; DROP TABLE x; --":  "",
		"shoes & | ! ( ) : * ": "A,B",
	} {
		page, err := f.svc.SearchProducts(ctx, SearchRequest{Query: q})
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		got := strings.Split(skus(page.Products), ",")
		if got[0] == "" {
			got = nil
		}
		if strings.Join(slices.Sorted(slices.Values(got)), ",") != want {
			t.Errorf("%q found %v, want %s", q, got, want)
		}
	}
}

// TestSearchPaginationStable pages through results while rows are being
// inserted, in both sort modes: every row that existed at the start must be
// seen exactly once.
func TestSearchPaginationStable(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		for _, q := range []string{"", "gadget"} {
			t.Run("q="+q, func(t *testing.T) {
				f := newFixture(t, newStore(t), Options{})
				ctx := context.Background()
				original := map[string]bool{}
				for i := range 25 {
					p := f.createFull(t, NewProduct{SKU: fmt.Sprintf("G%02d", i), Name: fmt.Sprintf("Gadget %02d", i),
						Description: "a gadget", Category: "gadgets", PriceCents: 100})
					original[p.ID] = true
				}
				seen := map[string]int{}
				token := ""
				for page := 0; ; page++ {
					res, err := f.svc.SearchProducts(ctx, SearchRequest{Query: q, PageSize: 10, PageToken: token})
					if err != nil {
						t.Fatalf("page %d: %v", page, err)
					}
					if page == 0 && (res.TotalSize != 25 || len(res.Products) != 10) {
						t.Fatalf("first page: %d rows, total %d", len(res.Products), res.TotalSize)
					}
					for _, p := range res.Products {
						seen[p.ID]++
					}
					// New rows sorting before, among and after what is left.
					for _, name := range []string{"Gadget 00a", "Gadget 11a", "Gadget 99", "AAA gadget"} {
						f.createFull(t, NewProduct{SKU: fmt.Sprintf("N%d-%s", page, strings.ReplaceAll(name, " ", "")),
							Name: name, Description: "a gadget", Category: "gadgets", PriceCents: 100})
					}
					if res.NextPageToken == "" {
						break
					}
					token = res.NextPageToken
					if page > 20 {
						t.Fatal("pagination does not end")
					}
				}
				for id := range original {
					if seen[id] != 1 {
						t.Fatalf("original row %s seen %d times", id, seen[id])
					}
				}
				for id, n := range seen {
					if n != 1 {
						t.Fatalf("row %s seen %d times", id, n)
					}
				}
			})
		}
	})
}

func TestSearchPageTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		for i := range 101 {
			f.createFull(t, NewProduct{SKU: fmt.Sprintf("P%03d", i), Name: fmt.Sprintf("Thing %03d", i), Category: "c"})
		}
		page, err := f.svc.SearchProducts(ctx, SearchRequest{})
		if err != nil || len(page.Products) != kitpage.DefaultSize || page.TotalSize != 101 {
			t.Fatalf("default page: %d rows, %v", len(page.Products), err)
		}
		big, err := f.svc.SearchProducts(ctx, SearchRequest{PageSize: 1000})
		if err != nil || len(big.Products) != kitpage.MaxSize || big.NextPageToken == "" {
			t.Fatalf("page_size 1000: %d rows, %v", len(big.Products), err)
		}
		if _, err := f.svc.SearchProducts(ctx, SearchRequest{PageSize: -1}); errs.KindOf(err) != errs.InvalidArgument {
			t.Fatalf("page_size -1: %v", err)
		}
		min, max := int64(10), int64(5)
		_, err = f.svc.SearchProducts(ctx, SearchRequest{MinPriceCents: &min, MaxPriceCents: &max})
		wantFields(t, err, "max_price_cents")

		// A token only works for the query that made it.
		_, err = f.svc.SearchProducts(ctx, SearchRequest{Category: "other", PageToken: page.NextPageToken})
		kittest.WantErr(t, err, errs.InvalidArgument, "INVALID_PAGE_TOKEN")
		_, err = f.svc.SearchProducts(ctx, SearchRequest{Query: "thing", PageToken: page.NextPageToken})
		kittest.WantErr(t, err, errs.InvalidArgument, "INVALID_PAGE_TOKEN")
		// Page size may change between pages.
		next, err := f.svc.SearchProducts(ctx, SearchRequest{PageSize: 5, PageToken: page.NextPageToken})
		if err != nil || len(next.Products) != 5 || next.Products[0].SKU != "P020" {
			t.Fatalf("next page: %s, %v", skus(next.Products), err)
		}

		raw, _ := base64.RawURLEncoding.DecodeString(page.NextPageToken)
		for name, tok := range map[string]string{
			"not base64":     "%%%",
			"not json":       base64.RawURLEncoding.EncodeToString([]byte("hello")),
			"bad id":         base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"i":"`, `"i":"x`, 1))),
			"no sort key":    base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(raw), `"n":`, `"x":`, 1))),
			"truncated":      page.NextPageToken[:len(page.NextPageToken)/2],
			"padded base64":  base64.URLEncoding.EncodeToString(raw) + "=",
			"std base64 raw": base64.StdEncoding.EncodeToString([]byte(`{"f":"x"}`)),
		} {
			_, err := f.svc.SearchProducts(ctx, SearchRequest{PageToken: tok})
			if e := errs.As(err); err == nil || e.Reason != "INVALID_PAGE_TOKEN" || e.HTTPStatus() != 400 {
				t.Errorf("%s: %v", name, err)
			}
		}
	})
}
