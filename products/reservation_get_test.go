package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/kitshop/kitshop/kit/boot/boottest"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/tlsx"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
	"github.com/kitshop/kitshop/products/client"
)

// TestGetReservation: the checker's read shows a reservation as it is,
// by id or by its Reserve key, through every status, and holds or
// releases nothing itself.
func TestGetReservation(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		ctx := context.Background()
		p := f.create(t, "GR", 10)

		req := reserveReq(item(p.ID, 3))
		req.IdempotencyKey = req.ReservationID + "/reserve"
		r, err := f.svc.ReserveInventory(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, ref := range []ReservationRef{{ReservationID: r.ID}, {ReservationKey: req.IdempotencyKey}} {
			got, err := f.svc.GetReservation(ctx, ref)
			if err != nil || !equalReservations(got, r) || got.Status != ReservationReserved {
				t.Fatalf("get %+v = %+v, %v; want %+v", ref, got, err, r)
			}
			if it := got.Items[0]; it.ProductID != p.ID || it.Quantity != 3 || it.UnitPriceCents != 500 || it.Currency != "EUR" {
				t.Fatalf("item %+v", it)
			}
		}
		if got := f.get(t, p.ID); got.Reserved != 3 || got.Stock != 10 {
			t.Fatalf("reads changed stock: %+v", got)
		}

		f.clock.Advance(time.Second)
		if _, err := f.svc.CommitReservation(ctx, ReservationRef{ReservationID: r.ID}); err != nil {
			t.Fatal(err)
		}
		got, err := f.svc.GetReservation(ctx, ReservationRef{ReservationID: r.ID})
		if err != nil || got.Status != ReservationCommitted || !got.UpdatedAt.Equal(testEpoch.Add(time.Second)) {
			t.Fatalf("after commit: %+v, %v", got, err)
		}

		// A compensation that found nothing records RELEASED, no items.
		unmade := uuid.NewString()
		if _, err := f.svc.ReleaseReservation(ctx, ReservationRef{ReservationID: unmade}); err != nil {
			t.Fatal(err)
		}
		got, err = f.svc.GetReservation(ctx, ReservationRef{ReservationID: unmade})
		if err != nil || got.Status != ReservationReleased || len(got.Items) != 0 {
			t.Fatalf("released unmade: %+v, %v", got, err)
		}

		_, err = f.svc.GetReservation(ctx, ReservationRef{ReservationID: uuid.NewString()})
		kittest.WantErr(t, err, errs.NotFound, "RESERVATION_NOT_FOUND")
		_, err = f.svc.GetReservation(ctx, ReservationRef{ReservationKey: "never-sent"})
		kittest.WantErr(t, err, errs.NotFound, "RESERVATION_NOT_FOUND")

		_, err = f.svc.GetReservation(ctx, ReservationRef{ReservationID: r.ID, ReservationKey: req.IdempotencyKey})
		wantFields(t, err, "reservation_idempotency_key")
		_, err = f.svc.GetReservation(ctx, ReservationRef{})
		wantFields(t, err, "reservation_id")
		_, err = f.svc.GetReservation(ctx, ReservationRef{ReservationID: "not-a-uuid"})
		wantFields(t, err, "reservation_id")
	})
}

// TestGRPCGetReservation: the method over gRPC, on Postgres, needs no user
// token and answers the stable codes.
func TestGRPCGetReservation(t *testing.T) {
	g := newGRPCFixture(t, newFixture(t, newPostgresTestStore(t), Options{}))
	ctx := context.Background()
	p := g.create(t, "GRG", 5)
	id := uuid.NewString()
	if _, err := g.client.ReserveInventory(ctx, &productsv1.ReserveInventoryRequest{ReservationId: id,
		Items: []*productsv1.ReservationItem{{ProductId: p.ID, Quantity: 2}}}); err != nil {
		t.Fatal(err)
	}
	for _, req := range []*productsv1.GetReservationRequest{{ReservationId: id}, {ReservationIdempotencyKey: id}} {
		got, err := g.client.GetReservation(ctx, req)
		if err != nil || got.GetId() != id || got.GetStatus() != productsv1.ReservationStatus_RESERVATION_STATUS_RESERVED ||
			len(got.GetItems()) != 1 || got.GetItems()[0].GetUnitPriceCents() != 500 || got.GetExpiresAt() == nil {
			t.Fatalf("get %v = %v, %v", req, got, err)
		}
	}
	_, err := g.client.GetReservation(ctx, &productsv1.GetReservationRequest{ReservationId: uuid.NewString()})
	kittest.WantStatus(t, err, codes.NotFound, "RESERVATION_NOT_FOUND")
	_, err = g.client.GetReservation(ctx, &productsv1.GetReservationRequest{})
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
}

// TestGetReservationOnlyForOrders: under mTLS the typed client reaches
// GetReservation as orders, and any other service is refused.
func TestGetReservationOnlyForOrders(t *testing.T) {
	svc := NewService(newMemoryStore(), Options{})
	ctx := context.Background()
	p, err := svc.CreateProduct(ctx, NewProduct{SKU: "ALLOW-1", Name: "Allow", Category: "misc", PriceCents: 100, Currency: "USD", Stock: 1})
	if err != nil {
		t.Fatal(err)
	}
	r, err := svc.ReserveInventory(ctx, ReserveRequest{ReservationID: uuid.NewString(), Items: []StockItem{{ProductID: p.ID, Quantity: 1}}})
	if err != nil {
		t.Fatal(err)
	}
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	files, err := tlsx.WriteDevFiles(t.TempDir(), client.Service, "orders", "gateway")
	if err != nil {
		t.Fatal(err)
	}
	addr := startProductsProcess(t, svc, pub, files[client.Service])
	req := &productsv1.GetReservationRequest{ReservationId: r.ID}

	callCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	orders := newCaller(t, "orders", addr, files["orders"])
	got, err := orders.GetReservation(callCtx, req)
	if err != nil || got.GetId() != r.ID || got.GetStatus() != productsv1.ReservationStatus_RESERVATION_STATUS_RESERVED {
		t.Fatalf("orders: %v, %v", got, err)
	}
	_, err = newCaller(t, "gateway", addr, files["gateway"]).GetReservation(callCtx, req)
	kittest.WantErr(t, err, errs.PermissionDenied, tlsx.ReasonCallerNotAllowed)
}

// newCaller is products/client as the kitshop process caller builds it,
// pointed at addr, with files' identity.
func newCaller(t *testing.T, caller, addr string, files tlsx.Files) client.Client {
	t.Helper()
	c, err := client.New(boottest.Backend(t, caller, client.Service, addr, files))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
