package main

import (
	"context"

	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/payments/client"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// grpcServer adapts Endpoints to the generated PaymentsServiceServer.
// Errors become statuses with ErrorInfo in kit/grpcx's interceptors.
type grpcServer struct {
	paymentsv1.UnimplementedPaymentsServiceServer
	charge         *grpcx.Handler[*paymentsv1.ChargeRequest, *paymentsv1.Payment]
	refund         *grpcx.Handler[*paymentsv1.RefundRequest, *paymentsv1.RefundResponse]
	getPayment     *grpcx.Handler[*paymentsv1.GetPaymentRequest, *paymentsv1.Payment]
	getChargeByKey *grpcx.Handler[*paymentsv1.GetChargeByKeyRequest, *paymentsv1.Payment]
	listPayments   *grpcx.Handler[*paymentsv1.ListPaymentsRequest, *paymentsv1.ListPaymentsResponse]
}

// The HTTP transport serves payments/client's REST mapping over this same
// adapter, in-process.
var _ client.API = (*grpcServer)(nil)

// NewGRPCServer serves e as kitshop.payments.v1.PaymentsService.
func NewGRPCServer(e Endpoints) paymentsv1.PaymentsServiceServer {
	return &grpcServer{
		charge:         grpcx.NewHandler(e.Charge, decodeCharge, encodePayment),
		refund:         grpcx.NewHandler(e.Refund, decodeRefund, encodeRefund),
		getPayment:     grpcx.NewHandler(e.GetPayment, decodeGetPayment, encodePayment),
		getChargeByKey: grpcx.NewHandler(e.GetChargeByKey, decodeGetChargeByKey, encodePayment),
		listPayments:   grpcx.NewHandler(e.ListPayments, decodeListPayments, encodePaymentPage),
	}
}

func (s *grpcServer) Charge(ctx context.Context, r *paymentsv1.ChargeRequest) (*paymentsv1.Payment, error) {
	return s.charge.Serve(ctx, r)
}

func (s *grpcServer) Refund(ctx context.Context, r *paymentsv1.RefundRequest) (*paymentsv1.RefundResponse, error) {
	return s.refund.Serve(ctx, r)
}

func (s *grpcServer) GetPayment(ctx context.Context, r *paymentsv1.GetPaymentRequest) (*paymentsv1.Payment, error) {
	return s.getPayment.Serve(ctx, r)
}

func (s *grpcServer) GetChargeByKey(ctx context.Context, r *paymentsv1.GetChargeByKeyRequest) (*paymentsv1.Payment, error) {
	return s.getChargeByKey.Serve(ctx, r)
}

func (s *grpcServer) ListPayments(ctx context.Context, r *paymentsv1.ListPaymentsRequest) (*paymentsv1.ListPaymentsResponse, error) {
	return s.listPayments.Serve(ctx, r)
}

// decodeCharge moves the card out of the pb message, whose printing is
// not redacted, into Card, whose is; the pb request is never logged.
func decodeCharge(_ context.Context, r *paymentsv1.ChargeRequest) (ChargeRequest, error) {
	c := r.GetCard()
	return ChargeRequest{
		OrderID: r.GetOrderId(), UserID: r.GetUserId(), AmountCents: r.GetAmountCents(), Currency: r.GetCurrency(),
		Card: Card{
			Number: CardNumber(c.GetNumber()), ExpMonth: int(c.GetExpMonth()), ExpYear: int(c.GetExpYear()),
			CVC: CVC(c.GetCvc()),
		},
		IdempotencyKey: r.GetIdempotencyKey(),
	}, nil
}

func decodeRefund(_ context.Context, r *paymentsv1.RefundRequest) (RefundRequest, error) {
	return RefundRequest{
		PaymentID: r.GetPaymentId(), ChargeKey: r.GetChargeIdempotencyKey(), AmountCents: r.GetAmountCents(),
		IdempotencyKey: r.GetIdempotencyKey(), Reason: r.GetReason(),
	}, nil
}

func decodeGetChargeByKey(_ context.Context, r *paymentsv1.GetChargeByKeyRequest) (string, error) {
	return r.GetIdempotencyKey(), nil
}

func decodeListPayments(_ context.Context, r *paymentsv1.ListPaymentsRequest) (ListRequest, error) {
	return ListRequest{PageSize: int(r.GetPageSize()), PageToken: r.GetPageToken(), OrderID: r.GetOrderId()}, nil
}

func encodePaymentPage(_ context.Context, pg PaymentPage) (*paymentsv1.ListPaymentsResponse, error) {
	out := &paymentsv1.ListPaymentsResponse{Payments: make([]*paymentsv1.Payment, len(pg.Payments)), NextPageToken: pg.NextPageToken}
	for i, p := range pg.Payments {
		out.Payments[i] = paymentToPB(p)
	}
	return out, nil
}

func encodeRefund(_ context.Context, r RefundResult) (*paymentsv1.RefundResponse, error) {
	out := &paymentsv1.RefundResponse{AmountCents: r.AmountCents}
	switch r.Outcome {
	case RefundRefunded:
		out.Outcome = paymentsv1.RefundOutcome_REFUND_OUTCOME_REFUNDED
	case RefundNothingToRefund:
		out.Outcome = paymentsv1.RefundOutcome_REFUND_OUTCOME_NOTHING_TO_REFUND
	}
	if r.Payment != nil {
		out.Payment = paymentToPB(*r.Payment)
	}
	return out, nil
}

func decodeGetPayment(_ context.Context, r *paymentsv1.GetPaymentRequest) (string, error) {
	return r.GetId(), nil
}

func encodePayment(_ context.Context, p Payment) (*paymentsv1.Payment, error) {
	return paymentToPB(p), nil
}

func paymentToPB(p Payment) *paymentsv1.Payment {
	return &paymentsv1.Payment{
		Id: p.ID, OrderId: p.OrderID, UserId: p.UserID, AmountCents: p.AmountCents, Currency: p.Currency,
		Status: statusToPB(p.Status), CardBrand: string(p.CardBrand), CardLast4: p.CardLast4,
		DeclineCode: p.DeclineCode, RefundedCents: p.RefundedCents,
		CreatedAt: timestamppb.New(p.CreatedAt), UpdatedAt: timestamppb.New(p.UpdatedAt),
	}
}

func statusToPB(s Status) paymentsv1.PaymentStatus {
	switch s {
	case StatusCaptured:
		return paymentsv1.PaymentStatus_PAYMENT_STATUS_CAPTURED
	case StatusDeclined:
		return paymentsv1.PaymentStatus_PAYMENT_STATUS_DECLINED
	case StatusFailed:
		return paymentsv1.PaymentStatus_PAYMENT_STATUS_FAILED
	case StatusRefunded:
		return paymentsv1.PaymentStatus_PAYMENT_STATUS_REFUNDED
	case StatusPending:
		return paymentsv1.PaymentStatus_PAYMENT_STATUS_PENDING
	}
	return paymentsv1.PaymentStatus_PAYMENT_STATUS_UNSPECIFIED
}
