package main

import (
	"context"
	"encoding/base64"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
)

// TestSearchForgedTokens: tokens are not signed, so a client can build
// one that kit/page accepts. Its values must still give a 400 or a
// correct page, never a 500 from the store.
func TestSearchForgedTokens(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		a := f.createFull(t, NewProduct{SKU: "A", Name: "Alpha thing", Category: "c"})
		b := f.createFull(t, NewProduct{SKU: "B", Name: "Beta thing", Category: "c"})
		byName := SearchQuery{}.fingerprint()
		byRank := SearchQuery{Text: "thing"}.fingerprint()
		forge := func(c searchToken, fp string) string {
			tok, err := page.EncodeToken(c, fp)
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}
		raw := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		name, nul := "Alpha thing", "A\x00"
		id := a.ID
		for what, req := range map[string]SearchRequest{
			"uppercase id":        {PageToken: forge(searchToken{N: &name, I: strings.ToUpper(id)}, byName)},
			"not an id":           {PageToken: forge(searchToken{N: &name, I: "x"}, byName)},
			"non-canonical id":    {PageToken: forge(searchToken{N: &name, I: "{" + id + "}"}, byName)},
			"rank for name sort":  {PageToken: forge(searchToken{R: new(float32), I: id}, byName)},
			"name for rank sort":  {Query: "thing", PageToken: forge(searchToken{N: &name, I: id}, byRank)},
			"rank beyond float32": {Query: "thing", PageToken: raw(`{"b":"` + byRank + `","c":{"r":1e39,"i":"` + id + `"}}`)},
			"NUL in name":         {PageToken: forge(searchToken{N: &nul, I: id}, byName)},
			"other query's token": {Query: "other", PageToken: forge(searchToken{N: &name, I: id}, byRank)},
		} {
			_, err := f.svc.SearchProducts(ctx, req)
			if e := errs.As(err); err == nil || e.Reason != "INVALID_PAGE_TOKEN" || e.HTTPStatus() != 400 {
				t.Errorf("%s: err = %v, want 400 INVALID_PAGE_TOKEN", what, err)
			}
		}

		// A well-formed forged cursor is just a position in the list.
		res, err := f.svc.SearchProducts(ctx, SearchRequest{PageToken: forge(searchToken{N: &name, I: a.ID}, byName)})
		if err != nil || skus(res.Products) != "B" || res.Products[0].ID != b.ID {
			t.Fatalf("page after a forged cursor: %s, %v", skus(res.Products), err)
		}
	})
}
