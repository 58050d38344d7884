package main

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/payments/client"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

type grpcFixture struct {
	client paymentsv1.PaymentsServiceClient
	iss    *authtest.Issuer
	logs   *kittest.LogBuffer
}

// newGRPCFixture serves the service on a real 127.0.0.1 listener, wired as
// main wires it (endpoint chain with the production logger, kit/grpcx
// server, kit/auth interceptor), and returns a plain grpc-go client so
// tests see exactly what goes over the wire.
func newGRPCFixture(t *testing.T) *grpcFixture {
	t.Helper()
	logs := &kittest.LogBuffer{}
	logger := logx.New(logs, "payments")
	iss := authtest.NewIssuer(t)
	svc := NewService(newMemoryStore(), nil, Options{Logger: logger, Now: func() time.Time { return testNow }})
	srv := grpcx.NewServer(grpcx.ServerConfig{Service: "payments", Logger: logger},
		grpc.ChainUnaryInterceptor(iss.Verifier.UnaryServerInterceptor()))
	paymentsv1.RegisterPaymentsServiceServer(srv, NewGRPCServer(MakeEndpoints(svc, mw.Chain{Service: "payments", Logger: logger})))
	conn := kittest.ServeGRPC(t, srv)
	return &grpcFixture{client: paymentsv1.NewPaymentsServiceClient(conn), iss: iss, logs: logs}
}

func pbCharge(number string) *paymentsv1.ChargeRequest {
	return &paymentsv1.ChargeRequest{
		OrderId: uuid.NewString(), UserId: uuid.NewString(), AmountCents: 4200, Currency: "USD",
		Card:           &commonv1.Card{Number: number, ExpMonth: 12, ExpYear: 2031, Cvc: "321"},
		IdempotencyKey: "k-" + uuid.NewString(),
	}
}

func withToken(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

func TestGRPCCharge(t *testing.T) {
	f := newGRPCFixture(t)
	ctx := context.Background()

	req := pbCharge(TestCardApproved)
	p, err := f.client.Charge(ctx, req)
	if err != nil {
		t.Fatalf("Charge: %v", err)
	}
	if p.GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED || p.GetCardBrand() != "visa" ||
		p.GetCardLast4() != "4242" || p.GetAmountCents() != 4200 || p.GetOrderId() != req.GetOrderId() ||
		!p.GetCreatedAt().AsTime().Equal(testNow) || uuid.Validate(p.GetId()) != nil {
		t.Fatalf("Charge = %v", p)
	}
	again, err := f.client.Charge(ctx, req)
	if err != nil || again.GetId() != p.GetId() {
		t.Fatalf("replay = %v, %v; want payment %s", again, err, p.GetId())
	}

	for _, tc := range []struct {
		number string
		code   codes.Code
		reason string
	}{
		{TestCardDeclined, codes.FailedPrecondition, client.ReasonCardDeclined},
		{TestCardInsufficientFunds, codes.FailedPrecondition, client.ReasonInsufficientFunds},
		{TestCardProcessingError, codes.Unavailable, client.ReasonProcessingError},
	} {
		t.Run(tc.reason, func(t *testing.T) {
			_, err := f.client.Charge(ctx, pbCharge(tc.number))
			meta := kittest.ErrorMetadata(kittest.WantStatus(t, err, tc.code, tc.reason))
			if uuid.Validate(meta["payment_id"]) != nil {
				t.Fatalf("metadata %v, want a payment_id", meta)
			}
			if _, ok := meta["http_status"]; ok {
				t.Fatalf("metadata %v exposes the internal http_status flag", meta)
			}
			// The 402 travels in kitshop's private detail, for the gateway.
			if back := errs.As(errs.FromGRPC(err)); tc.code == codes.FailedPrecondition && back.HTTPStatus() != http.StatusPaymentRequired {
				t.Fatalf("decline decodes to status %d, want 402", back.HTTPStatus())
			}
		})
	}

	t.Run("invalid card", func(t *testing.T) {
		bad := pbCharge("4242424242424241")
		bad.Card.ExpYear, bad.Card.Cvc = 2020, "1"
		_, err := f.client.Charge(ctx, bad)
		fields := kittest.FieldViolations(kittest.WantStatus(t, err, codes.InvalidArgument, "VALIDATION_FAILED"))
		if strings.Join(fields, ",") != "card.number,card.exp_year,card.cvc" {
			t.Fatalf("field violations %v", fields)
		}
	})
	t.Run("missing card", func(t *testing.T) {
		bad := pbCharge(TestCardApproved)
		bad.Card = nil
		_, err := f.client.Charge(ctx, bad)
		kittest.WantStatus(t, err, codes.InvalidArgument, "VALIDATION_FAILED")
	})
	t.Run("key reused", func(t *testing.T) {
		other := pbCharge(TestCardApproved)
		other.IdempotencyKey = req.GetIdempotencyKey()
		_, err := f.client.Charge(ctx, other)
		meta := kittest.ErrorMetadata(kittest.WantStatus(t, err, codes.FailedPrecondition, errs.ReasonIdempotencyKeyReused))
		if meta["payment_id"] != p.GetId() {
			t.Fatalf("metadata %v, want payment_id %s", meta, p.GetId())
		}
	})
}

func TestGRPCRefund(t *testing.T) {
	f := newGRPCFixture(t)
	ctx := context.Background()
	charge := pbCharge(TestCardApproved)
	p, err := f.client.Charge(ctx, charge)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.client.Refund(ctx, &paymentsv1.RefundRequest{PaymentId: p.GetId(), AmountCents: 5000, IdempotencyKey: "r0"})
	if meta := kittest.ErrorMetadata(kittest.WantStatus(t, err, codes.FailedPrecondition, client.ReasonRefundExceedsCaptured)); meta[client.MetaRefundableCents] != "4200" {
		t.Fatalf("metadata %v, want refundable_cents 4200", meta)
	}
	refunded := paymentsv1.RefundOutcome_REFUND_OUTCOME_REFUNDED
	part, err := f.client.Refund(ctx, &paymentsv1.RefundRequest{PaymentId: p.GetId(), AmountCents: 200, IdempotencyKey: "r1", Reason: "damaged"})
	if err != nil || part.GetOutcome() != refunded || part.GetAmountCents() != 200 || part.GetPayment().GetRefundedCents() != 200 ||
		part.GetPayment().GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED {
		t.Fatalf("partial refund = %v, %v", part, err)
	}
	// By the charge's key, the rest.
	full, err := f.client.Refund(ctx, &paymentsv1.RefundRequest{ChargeIdempotencyKey: charge.GetIdempotencyKey(), IdempotencyKey: "r2"})
	if err != nil || full.GetOutcome() != refunded || full.GetAmountCents() != 4000 || full.GetPayment().GetId() != p.GetId() ||
		full.GetPayment().GetRefundedCents() != 4200 || full.GetPayment().GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED {
		t.Fatalf("full refund by charge key = %v, %v", full, err)
	}
	if again, err := f.client.Refund(ctx, &paymentsv1.RefundRequest{ChargeIdempotencyKey: charge.GetIdempotencyKey(), IdempotencyKey: "r2"}); err != nil ||
		again.GetOutcome() != refunded || again.GetAmountCents() != 4000 || again.GetPayment().GetRefundedCents() != 4200 {
		t.Fatalf("repeat = %v, %v", again, err)
	}
	_, err = f.client.Refund(ctx, &paymentsv1.RefundRequest{PaymentId: uuid.NewString(), IdempotencyKey: "r3"})
	kittest.WantStatus(t, err, codes.NotFound, "NOT_FOUND")

	// A charge that never happened: nothing to refund, and no payment.
	none, err := f.client.Refund(ctx, &paymentsv1.RefundRequest{ChargeIdempotencyKey: "never-sent", IdempotencyKey: "r4"})
	if err != nil || none.GetOutcome() != paymentsv1.RefundOutcome_REFUND_OUTCOME_NOTHING_TO_REFUND || none.GetPayment() != nil ||
		none.GetAmountCents() != 0 {
		t.Fatalf("refund of a charge that never happened = %v, %v; want NOTHING_TO_REFUND without a payment", none, err)
	}
	_, err = f.client.Refund(ctx, &paymentsv1.RefundRequest{PaymentId: p.GetId(), ChargeIdempotencyKey: "k", IdempotencyKey: "r5"})
	if fields := kittest.FieldViolations(kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)); strings.Join(fields, ",") != "charge_idempotency_key" {
		t.Fatalf("field violations %v", fields)
	}
}

func TestGRPCGetChargeByKey(t *testing.T) {
	f := newGRPCFixture(t)
	ctx := context.Background()
	req := pbCharge(TestCardApproved)
	p, err := f.client.Charge(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.client.GetChargeByKey(ctx, &paymentsv1.GetChargeByKeyRequest{IdempotencyKey: req.GetIdempotencyKey()})
	if err != nil || got.GetId() != p.GetId() || got.GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED {
		t.Fatalf("GetChargeByKey = %v, %v; want payment %s CAPTURED", got, err, p.GetId())
	}
	declined := pbCharge(TestCardDeclined)
	_, _ = f.client.Charge(ctx, declined)
	got, err = f.client.GetChargeByKey(ctx, &paymentsv1.GetChargeByKeyRequest{IdempotencyKey: declined.GetIdempotencyKey()})
	if err != nil || got.GetStatus() != paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED || got.GetDeclineCode() != CodeCardDeclined {
		t.Fatalf("GetChargeByKey(declined) = %v, %v; want the DECLINED payment, not an error", got, err)
	}
	_, err = f.client.GetChargeByKey(ctx, &paymentsv1.GetChargeByKeyRequest{IdempotencyKey: "never-sent"})
	kittest.WantStatus(t, err, codes.NotFound, client.ReasonChargeNotFound)
	_, err = f.client.GetChargeByKey(ctx, &paymentsv1.GetChargeByKeyRequest{})
	kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation)
}

func TestGRPCGetPayment(t *testing.T) {
	f := newGRPCFixture(t)
	req := pbCharge(TestCardApproved)
	p, err := f.client.Charge(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	get := &paymentsv1.GetPaymentRequest{Id: p.GetId()}
	for _, token := range []string{
		f.iss.Token(t, req.GetUserId(), auth.RoleCustomer),
		f.iss.Token(t, uuid.NewString(), auth.RoleAdmin),
	} {
		if got, err := f.client.GetPayment(withToken(token), get); err != nil || got.GetId() != p.GetId() {
			t.Fatalf("GetPayment = %v, %v", got, err)
		}
	}
	_, err = f.client.GetPayment(withToken(f.iss.Token(t, uuid.NewString(), auth.RoleCustomer)), get)
	kittest.WantStatus(t, err, codes.NotFound, "NOT_FOUND")
	_, err = f.client.GetPayment(context.Background(), get)
	kittest.WantStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED")
	_, err = f.client.GetPayment(withToken("garbage"), get)
	kittest.WantStatus(t, err, codes.Unauthenticated, "UNAUTHENTICATED")
}

// TestGRPCLogsNeverShowCardNumbers charges every kind of card over gRPC,
// valid or not, and searches everything the process logged (the endpoint
// logging middleware, the gRPC server's own logging and the service's
// business log) for the numbers and CVCs.
func TestGRPCLogsNeverShowCardNumbers(t *testing.T) {
	f := newGRPCFixture(t)
	ctx := context.Background()
	numbers := []string{TestCardApproved, TestCardDeclined, TestCardInsufficientFunds, TestCardProcessingError,
		"5555555555554444", "4242424242424241", "4111111111111111"}
	for i, n := range numbers {
		req := pbCharge(n)
		req.Card.Cvc = "9876"
		if i == len(numbers)-1 {
			req.Card.ExpYear = 2020 // expired: a validation failure that names the card's fields
		}
		_, _ = f.client.Charge(ctx, req)
		_, _ = f.client.Charge(ctx, req) // the replay path logs too
	}
	logs := f.logs.String()
	for _, n := range numbers {
		if strings.Contains(logs, n) || strings.Contains(logs, n[:12]) {
			t.Errorf("card number %s appears in the logs", n)
		}
	}
	// The CVC as a value of its own, or any field naming it. (A bare
	// "9876" also turns up by chance inside ids and durations.)
	if strings.Contains(logs, `"9876"`) || strings.Contains(logs, `:9876`) || strings.Contains(strings.ToLower(logs), "cvc") {
		t.Error("a CVC appears in the logs")
	}
	// The capture is real: the endpoint log and the service's own
	// brand-and-last-four line are both there.
	for _, want := range []string{`"method":"kitshop.payments.v1.PaymentsService/Charge"`, `"card":{"brand":"visa","last4":"4242"}`, `"err_reason":"CARD_DECLINED"`,
		`"card":{"brand":"mastercard","last4":"4444"}`} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %s:\n%s", want, logs)
		}
	}
}
