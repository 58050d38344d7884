package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
	"github.com/kitshop/kitshop/kit/valid"
)

// Field limits. They bound what one row can cost to store, index and send.
const (
	maxSKULen         = 64
	maxNameLen        = 200
	maxDescriptionLen = 5000
	maxCategoryLen    = 100
	maxQueryLen       = 500
)

var skuPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func (s *service) CreateProduct(ctx context.Context, in NewProduct) (Product, error) {
	p := Product{
		SKU: strings.TrimSpace(in.SKU), Name: strings.TrimSpace(in.Name),
		Description: strings.TrimSpace(in.Description), Category: strings.TrimSpace(in.Category),
		PriceCents: in.PriceCents, Currency: in.Currency, Stock: in.Stock,
	}
	var v errs.Validation
	validateProduct(&v, "", p)
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	now := s.now()
	p.ID = uuid.NewString()
	p.Active = true
	p.Version = 1
	p.CreatedAt, p.UpdatedAt = now, now
	return s.store.CreateProduct(ctx, p)
}

func (s *service) UpdateProduct(ctx context.Context, u ProductUpdate) (Product, error) {
	var v errs.Validation
	u.ID = valid.ID(&v, "id", u.ID)
	if u.Name != nil {
		n := strings.TrimSpace(*u.Name)
		u.Name = &n
		checkName(&v, "name", n)
	}
	if u.Description != nil {
		d := strings.TrimSpace(*u.Description)
		u.Description = &d
		checkLen(&v, "description", d, maxDescriptionLen)
	}
	if u.Category != nil {
		c := strings.TrimSpace(*u.Category)
		u.Category = &c
		checkLen(&v, "category", c, maxCategoryLen)
		valid.SingleLine(&v, "category", c)
	}
	if u.PriceCents != nil {
		valid.Price(&v, "price_cents", *u.PriceCents)
	}
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	if u.Name == nil && u.Description == nil && u.Category == nil && u.PriceCents == nil && u.Active == nil {
		// Nothing to change: answer like a read rather than bumping
		// updated_at and the version for no reason.
		return s.store.GetProduct(ctx, u.ID)
	}
	return s.store.UpdateProduct(ctx, u, s.now())
}

func (s *service) GetProduct(ctx context.Context, id string) (Product, error) {
	var v errs.Validation
	id = valid.ID(&v, "id", id)
	if err := v.Err(); err != nil {
		return Product{}, err
	}
	return s.store.GetProduct(ctx, id)
}

func (s *service) BatchGetProducts(ctx context.Context, ids []string) (BatchResult, error) {
	var v errs.Validation
	v.Check(len(ids) <= MaxBatchIDs, "ids", fmt.Sprintf("at most %d ids", MaxBatchIDs))
	want := make([]string, 0, len(ids))
	seen := make(map[string]bool, len(ids))
	for i, id := range ids {
		id = valid.ID(&v, fmt.Sprintf("ids[%d]", i), id)
		if id != "" && !seen[id] {
			seen[id] = true
			want = append(want, id)
		}
	}
	if err := v.Err(); err != nil {
		return BatchResult{}, err
	}
	res := BatchResult{Products: []Product{}, MissingIDs: []string{}}
	if len(want) == 0 {
		return res, nil
	}
	found, err := s.store.GetProducts(ctx, want)
	if err != nil {
		return BatchResult{}, err
	}
	byID := make(map[string]Product, len(found))
	for _, p := range found {
		byID[p.ID] = p
	}
	for _, id := range want {
		if p, ok := byID[id]; ok {
			res.Products = append(res.Products, p)
		} else {
			res.MissingIDs = append(res.MissingIDs, id)
		}
	}
	return res, nil
}

func (s *service) SearchProducts(ctx context.Context, r SearchRequest) (SearchPage, error) {
	q := SearchQuery{
		Text: strings.TrimSpace(r.Query), Category: strings.TrimSpace(r.Category),
		MinPriceCents: r.MinPriceCents, MaxPriceCents: r.MaxPriceCents,
	}
	var v errs.Validation
	checkLen(&v, "q", q.Text, maxQueryLen)
	checkLen(&v, "category", q.Category, maxCategoryLen)
	q.Limit = page.CheckSize(&v, r.PageSize)
	if q.MinPriceCents != nil {
		v.Check(*q.MinPriceCents >= 0, "min_price_cents", "must be >= 0")
	}
	if q.MaxPriceCents != nil {
		v.Check(*q.MaxPriceCents >= 0, "max_price_cents", "must be >= 0")
	}
	if q.MinPriceCents != nil && q.MaxPriceCents != nil {
		v.Check(*q.MinPriceCents <= *q.MaxPriceCents, "max_price_cents", "must be >= min_price_cents")
	}
	if err := v.Err(); err != nil {
		return SearchPage{}, err
	}
	fp := q.fingerprint()
	if r.PageToken != "" {
		c, err := decodeSearchToken(r.PageToken, fp, q.Text != "")
		if err != nil {
			return SearchPage{}, err
		}
		q.After = &c
	}
	res, err := s.store.SearchProducts(ctx, q)
	if err != nil {
		return SearchPage{}, err
	}
	out := SearchPage{Products: res.Products, TotalSize: res.Total}
	if out.Products == nil {
		out.Products = []Product{}
	}
	if res.Next != nil {
		if out.NextPageToken, err = encodeSearchToken(*res.Next, fp, q.Text != ""); err != nil {
			return SearchPage{}, err
		}
	}
	return out, nil
}

func (s *service) AdjustStock(ctx context.Context, a StockAdjustment) (StockResult, error) {
	var v errs.Validation
	a.ProductID = valid.ID(&v, "id", a.ProductID)
	v.Check(a.Delta != 0, "delta", "must not be zero")
	v.Check(a.Delta >= -MaxStock && a.Delta <= MaxStock, "delta", fmt.Sprintf("must be within ±%d", MaxStock))
	valid.OptionalIdempotencyKey(&v, "idempotency_key", a.IdempotencyKey)
	if err := v.Err(); err != nil {
		return StockResult{}, err
	}
	p, prior, err := s.store.AdjustStock(ctx, a, s.now())
	if err != nil {
		return StockResult{}, err
	}
	if prior != nil && (prior.ProductID != a.ProductID || prior.Delta != a.Delta) {
		return StockResult{}, ErrIdempotencyKeyReused
	}
	return StockResult{Product: p, Replayed: prior != nil}, nil
}

func (s *service) ListProducts(ctx context.Context, batchSize int, emit func([]Product) error) error {
	switch {
	case batchSize < 0:
		return errs.Invalid(errs.FieldViolation{Field: "batch_size", Message: "must be >= 0"})
	case batchSize == 0:
		batchSize = DefaultListBatch
	case batchSize > MaxListBatch:
		batchSize = MaxListBatch
	}
	after := ""
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		batch, err := s.store.ListProducts(ctx, after, batchSize)
		if err != nil {
			return err
		}
		if len(batch) > 0 {
			if err := emit(batch); err != nil {
				return err
			}
			after = batch[len(batch)-1].ID
		}
		if len(batch) < batchSize {
			return nil
		}
	}
}

func (s *service) ImportProducts(ctx context.Context, next func() (ImportRow, error)) (ImportResult, error) {
	res := ImportResult{Errors: []ImportError{}}
	fail := func(row int64, sku string, err error) {
		res.Failed++
		if len(res.Errors) >= MaxImportErrors {
			return
		}
		e := errs.As(err)
		msg := e.Message
		if len(e.Fields) > 0 {
			parts := make([]string, len(e.Fields))
			for i, f := range e.Fields {
				parts[i] = f.Field + ": " + f.Message
			}
			msg = strings.Join(parts, "; ")
		}
		res.Errors = append(res.Errors, ImportError{Row: row, SKU: sku, Code: e.Reason, Message: msg})
	}
	for row := int64(0); ; row++ {
		in, err := next()
		if errors.Is(err, io.EOF) {
			return res, nil
		}
		if err != nil {
			return res, err
		}
		p := Product{
			SKU: strings.TrimSpace(in.SKU), Name: strings.TrimSpace(in.Name),
			Description: strings.TrimSpace(in.Description), Category: strings.TrimSpace(in.Category),
			PriceCents: in.PriceCents, Currency: in.Currency, Stock: in.Stock, Active: in.Active,
		}
		var v errs.Validation
		validateProduct(&v, "", p)
		if err := v.Err(); err != nil {
			fail(row, in.SKU, err)
			continue
		}
		now := s.now()
		p.ID = uuid.NewString()
		p.Version = 1
		p.CreatedAt, p.UpdatedAt = now, now
		_, created, err := s.store.UpsertProduct(ctx, p)
		switch {
		case err != nil && ctx.Err() != nil:
			// The stream is gone; nobody would read the per-row report.
			return res, ctx.Err()
		case err != nil:
			// Each row is its own statement, so a failure here (even an
			// infrastructure one) leaves the other rows unaffected.
			fail(row, p.SKU, err)
		case created:
			res.Created++
		default:
			res.Updated++
		}
	}
}

// validateProduct checks the fields shared by CreateProduct and imports;
// prefix names the fields in a larger message.
func validateProduct(v *errs.Validation, prefix string, p Product) {
	switch {
	case p.SKU == "":
		v.Add(prefix+"sku", "is required")
	case len(p.SKU) > maxSKULen:
		v.Add(prefix+"sku", fmt.Sprintf("at most %d characters", maxSKULen))
	case !skuPattern.MatchString(p.SKU):
		v.Add(prefix+"sku", "letters, digits, '.', '_' and '-' only, starting with a letter or digit")
	}
	checkName(v, prefix+"name", p.Name)
	checkLen(v, prefix+"description", p.Description, maxDescriptionLen)
	checkLen(v, prefix+"category", p.Category, maxCategoryLen)
	valid.SingleLine(v, prefix+"category", p.Category)
	valid.Price(v, prefix+"price_cents", p.PriceCents)
	valid.Currency(v, prefix+"currency", p.Currency)
	v.Check(p.Stock >= 0 && p.Stock <= MaxStock, prefix+"stock", fmt.Sprintf("must be between 0 and %d", MaxStock))
}

func checkName(v *errs.Validation, field, name string) {
	if name == "" {
		v.Add(field, "is required")
		return
	}
	checkLen(v, field, name, maxNameLen)
	valid.SingleLine(v, field, name)
}

func checkLen(v *errs.Validation, field, s string, n int) {
	switch {
	case !utf8.ValidString(s):
		v.Add(field, "must be valid UTF-8")
	case strings.ContainsRune(s, 0):
		// Postgres text cannot hold NUL; refuse it here rather than as a 500.
		v.Add(field, "must not contain NUL characters")
	case utf8.RuneCountInString(s) > n:
		v.Add(field, fmt.Sprintf("at most %d characters", n))
	}
}
