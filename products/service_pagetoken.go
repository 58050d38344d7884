package main

import (
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/page"
)

// searchToken is the cursor inside a search page token (see kit/page): the
// last row's sort key, R the rank for text searches or N the name
// otherwise, and I the id that breaks ties. kit/page binds it to the
// query's fingerprint and refuses tokens it cannot read; the values it
// decodes are still client input, which decodeSearchToken checks, so that
// a forged token gives 400 INVALID_PAGE_TOKEN, never a wrong page or a 500.
type searchToken struct {
	R *float32 `json:"r,omitempty"`
	N *string  `json:"n,omitempty"`
	I string   `json:"i"`
}

// encodeSearchToken is the next_page_token after c. text says which sort
// key the query uses.
func encodeSearchToken(c SearchCursor, fingerprint string, text bool) (string, error) {
	t := searchToken{I: c.ID}
	if text {
		t.R = &c.Rank
	} else {
		t.N = &c.Name
	}
	return page.EncodeToken(t, fingerprint)
}

// decodeSearchToken reverses encodeSearchToken for the query whose
// fingerprint and kind are given. Every refusal is ErrInvalidPageToken.
func decodeSearchToken(s, fingerprint string, text bool) (SearchCursor, error) {
	t, err := page.DecodeToken[searchToken](s, fingerprint)
	if err != nil {
		return SearchCursor{}, err
	}
	// Postgres compares I as a uuid and the memory store as a string;
	// they order alike only in the canonical form.
	if id, err := uuid.Parse(t.I); err != nil || id.String() != t.I {
		return SearchCursor{}, page.InvalidToken(errors.New("products: cursor id is not a canonical UUID"))
	}
	c := SearchCursor{ID: t.I}
	switch {
	case text && t.R != nil && !math.IsNaN(float64(*t.R)) && !math.IsInf(float64(*t.R), 0):
		c.Rank = *t.R
	// Postgres text cannot hold NUL: such a name would fail the query.
	case !text && t.N != nil && !strings.ContainsRune(*t.N, 0):
		c.Name = *t.N
	default:
		return SearchCursor{}, page.InvalidToken(errors.New("products: cursor lacks the query's sort key"))
	}
	return c, nil
}

// fingerprint identifies the query and filters, not the page size, which
// may change between pages. An unset price bound is "-", which no bound
// formats as.
func (q SearchQuery) fingerprint() string {
	bound := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	return page.Fingerprint(q.Text, q.Category, bound(q.MinPriceCents), bound(q.MaxPriceCents))
}
