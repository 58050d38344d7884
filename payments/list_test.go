package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/boot/boottest"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/page"
	"github.com/kitshop/kitshop/kit/tlsx"
	"github.com/kitshop/kitshop/payments/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// record stores a payment of orderID created at, in status, directly in
// s: the tests choose creation times (and ties) that charges through the
// service could not.
func record(t *testing.T, s Store, orderID string, at time.Time, status Status) Payment {
	t.Helper()
	key := "list-" + uuid.NewString()
	want := draftPayment(key, status)
	want.OrderID, want.CreatedAt, want.UpdatedAt = orderID, at, at
	got, err := s.WriteCharge(context.Background(), key, func(*Payment) (*Change, error) {
		return &Change{Payment: want, Event: chargeEvent(want, EventAttempted)}, nil
	})
	if err != nil {
		t.Fatalf("record: %v", err)
	}
	return got
}

// walk lists every page of req, checking each page's size, and returns
// the payment ids in the order listed.
func walk(t *testing.T, svc Service, req ListRequest) []string {
	t.Helper()
	var ids []string
	for range 100 {
		pg, err := svc.ListPayments(context.Background(), req)
		if err != nil {
			t.Fatalf("ListPayments(%+v): %v", req, err)
		}
		if len(pg.Payments) == 0 || (req.PageSize > 0 && len(pg.Payments) > req.PageSize) {
			t.Fatalf("page of %d payments for page_size %d", len(pg.Payments), req.PageSize)
		}
		for _, p := range pg.Payments {
			ids = append(ids, p.ID)
		}
		if pg.NextPageToken == "" {
			return ids
		}
		req.PageToken = pg.NextPageToken
	}
	t.Fatal("ListPayments never reached a last page")
	return nil
}

func sortedIDs(ps []Payment) []string {
	ps = slices.Clone(ps)
	slices.SortFunc(ps, func(a, b Payment) int { return comparePayment(a, PaymentCursor{CreatedAt: b.CreatedAt, ID: b.ID}) })
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return ids
}

// TestListPayments: keyset pages in (created_at, id) order over every
// status, ties broken by id, a filter by order, and tokens that only
// work for the list they came from.
func TestListPayments(t *testing.T) {
	for _, sf := range storeFactories {
		t.Run(sf.name, func(t *testing.T) {
			f := newSvcFixture(t, sf.new(t))
			ctx := context.Background()
			order := uuid.NewString()
			var all, mine []Payment
			statuses := []Status{StatusCaptured, StatusDeclined, StatusFailed, StatusPending, StatusCaptured}
			for i, st := range statuses {
				// Two payments share each instant: their ids order them.
				for j := range 2 {
					o := uuid.NewString()
					if j == 0 && i%2 == 0 {
						o = order
					}
					p := record(t, f.store, o, testEpoch.Add(time.Duration(i)*time.Second), st)
					all = append(all, p)
					if o == order {
						mine = append(mine, p)
					}
				}
			}

			if got, want := walk(t, f.svc, ListRequest{PageSize: 3}), sortedIDs(all); !slices.Equal(got, want) {
				t.Fatalf("pages of 3 listed %v, want %v", got, want)
			}
			if got, want := walk(t, f.svc, ListRequest{}), sortedIDs(all); !slices.Equal(got, want) {
				t.Fatalf("default page listed %v, want %v", got, want)
			}
			if got, want := walk(t, f.svc, ListRequest{PageSize: 1, OrderID: order}), sortedIDs(mine); !slices.Equal(got, want) {
				t.Fatalf("order's payments %v, want %v", got, want)
			}

			// Every payment is listed exactly as recorded: a PENDING one
			// is not settled (the processor is not asked).
			first, err := f.svc.ListPayments(ctx, ListRequest{PageSize: 100})
			if err != nil || len(first.Payments) != len(all) {
				t.Fatalf("one page of all: %d payments, %v", len(first.Payments), err)
			}
			for _, p := range first.Payments {
				i := slices.IndexFunc(all, func(q Payment) bool { return q.ID == p.ID })
				if i < 0 || all[i] != p {
					t.Fatalf("listed %+v, not as recorded", p)
				}
			}

			// Payments recorded between pages: one earlier than the
			// cursor is not listed, one later is; nothing that existed is
			// repeated or skipped.
			pg, err := f.svc.ListPayments(ctx, ListRequest{PageSize: 4})
			if err != nil || pg.NextPageToken == "" {
				t.Fatalf("first page: %+v, %v", pg, err)
			}
			early := record(t, f.store, uuid.NewString(), testEpoch.Add(-time.Hour), StatusCaptured)
			late := record(t, f.store, uuid.NewString(), testEpoch.Add(time.Hour), StatusCaptured)
			rest := walk(t, f.svc, ListRequest{PageSize: 4, PageToken: pg.NextPageToken})
			var seen []string
			for _, p := range pg.Payments {
				seen = append(seen, p.ID)
			}
			seen = append(seen, rest...)
			if want := append(sortedIDs(all), late.ID); !slices.Equal(seen, want) {
				t.Fatalf("listed %v, want %v (early %s)", seen, want, early.ID)
			}

			// Tokens belong to their list.
			mineFirst, err := f.svc.ListPayments(ctx, ListRequest{PageSize: 1, OrderID: order})
			if err != nil || mineFirst.NextPageToken == "" {
				t.Fatalf("order page: %+v, %v", mineFirst, err)
			}
			_, err = f.svc.ListPayments(ctx, ListRequest{PageToken: mineFirst.NextPageToken})
			kittest.WantErr(t, err, errs.InvalidArgument, page.ReasonInvalidToken)
			_, err = f.svc.ListPayments(ctx, ListRequest{PageToken: pg.NextPageToken, OrderID: order})
			kittest.WantErr(t, err, errs.InvalidArgument, page.ReasonInvalidToken)
			_, err = f.svc.ListPayments(ctx, ListRequest{PageToken: "garbage"})
			kittest.WantErr(t, err, errs.InvalidArgument, page.ReasonInvalidToken)
			for _, forged := range []listToken{{C: testEpoch, I: "NOT-A-UUID"}, {C: testEpoch, I: "{" + order + "}"},
				{C: testEpoch, I: strings.ToUpper(order)}, {I: order}} {
				tok, err := page.EncodeToken(forged, listFingerprint(""))
				if err != nil {
					t.Fatal(err)
				}
				_, err = f.svc.ListPayments(ctx, ListRequest{PageToken: tok})
				kittest.WantErr(t, err, errs.InvalidArgument, page.ReasonInvalidToken)
			}

			_, err = f.svc.ListPayments(ctx, ListRequest{PageSize: -1, OrderID: "nope"})
			wantFields(t, err, "page_size", "order_id")

			empty, err := f.svc.ListPayments(ctx, ListRequest{OrderID: uuid.NewString()})
			if err != nil || len(empty.Payments) != 0 || empty.NextPageToken != "" {
				t.Fatalf("unknown order: %+v, %v", empty, err)
			}
		})
	}
}

// TestGRPCListPayments: over gRPC with no user token, pages come back
// with their token, and bad input is INVALID_ARGUMENT.
func TestGRPCListPayments(t *testing.T) {
	f := newGRPCFixture(t)
	ctx := context.Background()
	var charged []string
	for range 3 {
		p, err := f.client.Charge(ctx, pbCharge(TestCardApproved))
		if err != nil {
			t.Fatal(err)
		}
		charged = append(charged, p.GetId())
	}
	var listed []string
	req := &paymentsv1.ListPaymentsRequest{PageSize: 2}
	for {
		resp, err := f.client.ListPayments(ctx, req)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range resp.GetPayments() {
			if p.GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED || p.GetAmountCents() != 4200 || p.GetOrderId() == "" {
				t.Fatalf("listed %v", p)
			}
			listed = append(listed, p.GetId())
		}
		if resp.GetNextPageToken() == "" {
			break
		}
		req.PageToken = resp.GetNextPageToken()
	}
	// One instant (the test clock): ordered by id alone.
	slices.Sort(charged)
	if !slices.Equal(listed, charged) {
		t.Fatalf("listed %v, charged %v", listed, charged)
	}
	_, err := f.client.ListPayments(ctx, &paymentsv1.ListPaymentsRequest{OrderId: "x"})
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
	_, err = f.client.ListPayments(ctx, &paymentsv1.ListPaymentsRequest{PageToken: "x"})
	kittest.WantStatus(t, err, codes.InvalidArgument, page.ReasonInvalidToken)
}

// TestListPaymentsOnlyForOrders: under mTLS the typed client reaches
// ListPayments as orders, and any other service is refused: it shows
// every customer's payments.
func TestListPaymentsOnlyForOrders(t *testing.T) {
	store := newMemoryStore()
	order := uuid.NewString()
	p := record(t, store, order, testEpoch, StatusCaptured)
	svc := NewService(store, nil, Options{Now: func() time.Time { return testNow }})
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	files, err := tlsx.WriteDevFiles(t.TempDir(), client.Service, "orders", "gateway")
	if err != nil {
		t.Fatal(err)
	}
	proc := boottest.Process(t, client.Service, true, files[client.Service])
	verifier := auth.NewVerifier(auth.StaticKeys(pub))
	endpoints := MakeEndpoints(svc, proc.Chain)
	grpcSrv := proc.GRPCServer(append(proc.AllowCallers(internalMethods), verifier.GRPCServerOptions()...)...)
	paymentsv1.RegisterPaymentsServiceServer(grpcSrv, NewGRPCServer(endpoints))
	addr := boottest.Serve(t, proc, NewHTTPHandler(endpoints, verifier), grpcSrv)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req := &paymentsv1.ListPaymentsRequest{OrderId: order}
	resp, err := newPaymentsCaller(t, "orders", addr, files["orders"]).ListPayments(ctx, req)
	if err != nil || len(resp.GetPayments()) != 1 || resp.GetPayments()[0].GetId() != p.ID {
		t.Fatalf("orders: %v, %v", resp, err)
	}
	_, err = newPaymentsCaller(t, "gateway", addr, files["gateway"]).ListPayments(ctx, req)
	kittest.WantErr(t, err, errs.PermissionDenied, tlsx.ReasonCallerNotAllowed)
}

// newPaymentsCaller is payments/client as the kitshop process caller
// builds it, pointed at addr, with files' identity.
func newPaymentsCaller(t *testing.T, caller, addr string, files tlsx.Files) client.Client {
	t.Helper()
	c, err := client.New(boottest.Backend(t, caller, client.Service, addr, files))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}
