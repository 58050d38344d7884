package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
)

type fixture struct {
	svc   Service
	impl  *service
	store Store
	clock *kittest.Clock
}

func newFixture(t testing.TB, store Store, opts Options) *fixture {
	t.Helper()
	f := &fixture{store: store, clock: kittest.NewClock(testEpoch)}
	if opts.Now == nil {
		opts.Now = f.clock.Now
	}
	f.impl = newService(store, opts)
	f.svc = f.impl
	return f
}

func (f *fixture) create(t testing.TB, sku string, stock int64) Product {
	t.Helper()
	p, err := f.svc.CreateProduct(context.Background(), NewProduct{SKU: sku, Name: "Product " + sku,
		Category: "misc", PriceCents: 500, Currency: "EUR", Stock: stock})
	if err != nil {
		t.Fatalf("create %s: %v", sku, err)
	}
	return p
}

func (f *fixture) get(t testing.TB, id string) Product {
	t.Helper()
	p, err := f.svc.GetProduct(context.Background(), id)
	if err != nil {
		t.Fatalf("get %s: %v", id, err)
	}
	return p
}

// fields lists the field names of a validation error.
func fields(err error) []string {
	var out []string
	for _, f := range errs.As(err).Fields {
		out = append(out, f.Field)
	}
	return out
}

func wantFields(t *testing.T, err error, want ...string) {
	t.Helper()
	kittest.WantErr(t, err, errs.InvalidArgument, errs.ReasonValidation)
	got := fields(err)
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("violations on %v, want %v (%v)", got, want, err)
	}
}

func TestCreateProductValidation(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{})
	ctx := context.Background()
	_, err := f.svc.CreateProduct(ctx, NewProduct{SKU: " bad sku", Name: " ", Description: strings.Repeat("x", 5001),
		PriceCents: -1, Currency: "usd", Stock: -1})
	wantFields(t, err, "sku", "name", "description", "price_cents", "currency", "stock")

	p, err := f.svc.CreateProduct(ctx, NewProduct{SKU: " AB-1 ", Name: " Lamp ", PriceCents: 0, Currency: "USD", Stock: 0})
	if err != nil {
		t.Fatal(err)
	}
	if p.SKU != "AB-1" || p.Name != "Lamp" || !p.Active || p.Version != 1 || !p.CreatedAt.Equal(testEpoch) ||
		uuid.Validate(p.ID) != nil {
		t.Fatalf("created %+v", p)
	}
	_, err = f.svc.CreateProduct(ctx, NewProduct{SKU: "AB-1", Name: "Other", Currency: "USD"})
	kittest.WantErr(t, err, errs.AlreadyExists, "SKU_TAKEN")
}

func TestIDsAreValidatedAndCanonical(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{})
	ctx := context.Background()
	_, err := f.svc.GetProduct(ctx, "not-a-uuid")
	wantFields(t, err, "id")
	p := f.create(t, "CANON", 1)
	if got, err := f.svc.GetProduct(ctx, strings.ToUpper(p.ID)); err != nil || got.ID != p.ID {
		t.Fatalf("upper-case id: %+v, %v", got, err)
	}
	_, err = f.svc.GetProduct(ctx, uuid.NewString())
	kittest.WantErr(t, err, errs.NotFound, "PRODUCT_NOT_FOUND")
}

func TestUpdateProduct(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{})
	ctx := context.Background()
	p := f.create(t, "U1", 1)
	empty := ""
	neg := int64(-5)
	_, err := f.svc.UpdateProduct(ctx, ProductUpdate{ID: p.ID, Name: &empty, PriceCents: &neg})
	wantFields(t, err, "name", "price_cents")

	same, err := f.svc.UpdateProduct(ctx, ProductUpdate{ID: p.ID})
	if err != nil || same != p {
		t.Fatalf("empty update changed something: %+v, %v", same, err)
	}
	f.clock.Advance(time.Minute)
	price, off := int64(750), false
	got, err := f.svc.UpdateProduct(ctx, ProductUpdate{ID: p.ID, PriceCents: &price, Active: &off})
	if err != nil || got.PriceCents != 750 || got.Active || got.Name != p.Name || !got.UpdatedAt.Equal(testEpoch.Add(time.Minute)) {
		t.Fatalf("update = %+v, %v", got, err)
	}
}

func TestBatchGetProducts(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{})
	ctx := context.Background()
	a, b := f.create(t, "BA", 1), f.create(t, "BB", 1)
	missing := uuid.NewString()
	res, err := f.svc.BatchGetProducts(ctx, []string{b.ID, missing, a.ID, b.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Products) != 2 || res.Products[0].ID != b.ID || res.Products[1].ID != a.ID ||
		len(res.MissingIDs) != 1 || res.MissingIDs[0] != missing {
		t.Fatalf("batch = %+v", res)
	}
	_, err = f.svc.BatchGetProducts(ctx, []string{a.ID, "x"})
	wantFields(t, err, "ids[1]")
	many := make([]string, MaxBatchIDs+1)
	for i := range many {
		many[i] = uuid.NewString()
	}
	_, err = f.svc.BatchGetProducts(ctx, many)
	wantFields(t, err, "ids")
}

func TestReserveValidation(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{})
	_, err := f.svc.ReserveInventory(context.Background(), ReserveRequest{
		ReservationID: "nope",
		Items:         []StockItem{{ProductID: "x", Quantity: 1}, {ProductID: uuid.NewString(), Quantity: 0}},
		TTL:           -time.Second,
	})
	wantFields(t, err, "reservation_id", "ttl", "items[0].product_id", "items[1].quantity")
	_, err = f.svc.ReserveInventory(context.Background(), ReserveRequest{ReservationID: uuid.NewString()})
	wantFields(t, err, "items")
	_, err = f.svc.CommitReservation(context.Background(), ReservationRef{ReservationID: ""})
	wantFields(t, err, "reservation_id")
}

func TestAdjustStockService(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{})
	ctx := context.Background()
	p := f.create(t, "ADJ", 5)
	_, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 0})
	wantFields(t, err, "delta")
	got, err := f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 3, IdempotencyKey: "k1"})
	if err != nil || got.Product.Stock != 8 || got.Replayed {
		t.Fatalf("adjust = %+v, %v", got, err)
	}
	got, err = f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 3, IdempotencyKey: "k1"})
	if err != nil || got.Product.Stock != 8 || !got.Replayed {
		t.Fatalf("replay = %+v, %v", got, err)
	}
	_, err = f.svc.AdjustStock(ctx, StockAdjustment{ProductID: p.ID, Delta: 4, IdempotencyKey: "k1"})
	if e := kittest.WantErr(t, err, errs.FailedPrecondition, "IDEMPOTENCY_KEY_REUSED"); e.HTTPStatus() != 422 {
		t.Fatalf("status %d", e.HTTPStatus())
	}
}

func TestListProducts(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{})
	for i := range 5 {
		f.create(t, fmt.Sprintf("LP%d", i), 1)
	}
	var sizes []int
	err := f.svc.ListProducts(context.Background(), 2, func(b []Product) error {
		sizes = append(sizes, len(b))
		return nil
	})
	if err != nil || fmt.Sprint(sizes) != "[2 2 1]" {
		t.Fatalf("batches %v, %v", sizes, err)
	}
	stop := errors.New("stop")
	calls := 0
	err = f.svc.ListProducts(context.Background(), 2, func([]Product) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Fatalf("emit error: %v after %d calls", err, calls)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := f.svc.ListProducts(ctx, 2, func([]Product) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled: %v", err)
	}
	if err := f.svc.ListProducts(context.Background(), -1, nil); errs.KindOf(err) != errs.InvalidArgument {
		t.Fatalf("negative batch: %v", err)
	}
}

// rowsOf feeds ImportProducts from a slice.
func rowsOf(rows ...ImportRow) func() (ImportRow, error) {
	i := 0
	return func() (ImportRow, error) {
		if i == len(rows) {
			return ImportRow{}, io.EOF
		}
		i++
		return rows[i-1], nil
	}
}

func TestImportProducts(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		existing := f.create(t, "IMP-1", 10)
		if _, err := f.svc.ReserveInventory(ctx, ReserveRequest{ReservationID: uuid.NewString(),
			Items: []StockItem{item(existing.ID, 4)}}); err != nil {
			t.Fatal(err)
		}
		row := func(sku string, stock int64) ImportRow {
			return ImportRow{SKU: sku, Name: "Imported " + sku, Category: "imp", PriceCents: 100, Currency: "USD", Stock: stock, Active: true}
		}
		bad := row("", 1)
		bad.Currency = "dollars"
		res, err := f.svc.ImportProducts(ctx, rowsOf(
			row("IMP-1", 20),   // 0: update
			row("IMP-2", 5),    // 1: create
			bad,                // 2: invalid
			row("IMP-1", 3),    // 3: below the 4 reserved
			row("IMP-3", 1),    // 4: create
			row("bad sku!", 1), // 5: invalid
			row("IMP-2", 6),    // 6: update of a row created above
		))
		if err != nil {
			t.Fatal(err)
		}
		if res.Created != 2 || res.Updated != 2 || res.Failed != 3 || len(res.Errors) != 3 {
			t.Fatalf("result %+v", res)
		}
		want := []struct {
			row  int64
			code string
		}{{2, errs.ReasonValidation}, {3, "INSUFFICIENT_STOCK"}, {5, errs.ReasonValidation}}
		for i, w := range want {
			if e := res.Errors[i]; e.Row != w.row || e.Code != w.code || e.Message == "" {
				t.Fatalf("error %d = %+v, want row %d code %s", i, e, w.row, w.code)
			}
		}
		if !strings.Contains(res.Errors[0].Message, "currency") || !strings.Contains(res.Errors[0].Message, "sku") {
			t.Fatalf("message does not name the fields: %q", res.Errors[0].Message)
		}
		if got := f.get(t, existing.ID); got.Stock != 20 || got.Reserved != 4 || got.Name != "Imported IMP-1" {
			t.Fatalf("IMP-1 = %+v", got)
		}
		page, err := f.svc.SearchProducts(ctx, SearchRequest{Category: "imp"})
		if err != nil || page.TotalSize != 3 {
			t.Fatalf("imported rows: %+v, %v", page, err)
		}
	})
}

func TestImportStopsOnStreamError(t *testing.T) {
	f := newFixture(t, newMemoryStore(), Options{})
	broken := errors.New("stream broke")
	n := 0
	res, err := f.svc.ImportProducts(context.Background(), func() (ImportRow, error) {
		n++
		if n > 1 {
			return ImportRow{}, broken
		}
		return ImportRow{SKU: "S1", Name: "n", Currency: "USD", Active: true}, nil
	})
	if !errors.Is(err, broken) || res.Created != 1 {
		t.Fatalf("res %+v, err %v", res, err)
	}
}
