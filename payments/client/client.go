package client

import (
	"context"

	"github.com/kitshop/kitshop/kit/sd"
	paymentsv1 "github.com/kitshop/kitshop/pb/payments/v1"
)

// Service is the name payments registers under.
const Service = "payments"

// Client calls the payments service. Every write carries an idempotency
// key, so Charge and Refund are retried on another instance when one is
// unavailable or an attempt times out: the service answers a repeat with
// the first outcome and the simulated processor charges a key once.
// Errors keep the kind and reason the service returned (see the Reason
// constants), or are Unavailable with kit/sd's NO_INSTANCES or kit/mw's
// BREAKER_OPEN when no call was made.
type Client interface {
	// Charge, Refund and GetChargeByKey are internal: orders only.
	Charge(context.Context, *paymentsv1.ChargeRequest) (*paymentsv1.Payment, error)
	Refund(context.Context, *paymentsv1.RefundRequest) (*paymentsv1.RefundResponse, error)
	GetChargeByKey(context.Context, *paymentsv1.GetChargeByKeyRequest) (*paymentsv1.Payment, error)
	GetPayment(context.Context, *paymentsv1.GetPaymentRequest) (*paymentsv1.Payment, error)
	// ListPayments is internal too (orders' consistency checker): a read,
	// retried like GetPayment.
	ListPayments(context.Context, *paymentsv1.ListPaymentsRequest) (*paymentsv1.ListPaymentsResponse, error)
	// Close releases the connections; calls fail afterwards.
	Close() error
}

// New returns a Client for the backend cfg describes (see
// kit/boot.Process.Backend); cfg.Service defaults to "payments".
func New(cfg sd.BackendConfig) (Client, error) {
	if cfg.Service == "" {
		cfg.Service = Service
	}
	b, err := sd.NewBackend(cfg, paymentsv1.NewPaymentsServiceClient)
	if err != nil {
		return nil, err
	}
	return &client{
		Backend:        b,
		charge:         sd.Unary(b, "Charge", sd.Keyed, paymentsv1.PaymentsServiceClient.Charge),
		refund:         sd.Unary(b, "Refund", sd.Keyed, paymentsv1.PaymentsServiceClient.Refund),
		getChargeByKey: sd.Unary(b, "GetChargeByKey", sd.Read, paymentsv1.PaymentsServiceClient.GetChargeByKey),
		getPayment:     sd.Unary(b, "GetPayment", sd.Read, paymentsv1.PaymentsServiceClient.GetPayment),
		listPayments:   sd.Unary(b, "ListPayments", sd.Read, paymentsv1.PaymentsServiceClient.ListPayments),
	}, nil
}

type client struct {
	*sd.Backend[paymentsv1.PaymentsServiceClient]
	charge         func(context.Context, *paymentsv1.ChargeRequest) (*paymentsv1.Payment, error)
	refund         func(context.Context, *paymentsv1.RefundRequest) (*paymentsv1.RefundResponse, error)
	getChargeByKey func(context.Context, *paymentsv1.GetChargeByKeyRequest) (*paymentsv1.Payment, error)
	getPayment     func(context.Context, *paymentsv1.GetPaymentRequest) (*paymentsv1.Payment, error)
	listPayments   func(context.Context, *paymentsv1.ListPaymentsRequest) (*paymentsv1.ListPaymentsResponse, error)
}

func (c *client) Charge(ctx context.Context, r *paymentsv1.ChargeRequest) (*paymentsv1.Payment, error) {
	return c.charge(ctx, r)
}

func (c *client) Refund(ctx context.Context, r *paymentsv1.RefundRequest) (*paymentsv1.RefundResponse, error) {
	return c.refund(ctx, r)
}

func (c *client) GetChargeByKey(ctx context.Context, r *paymentsv1.GetChargeByKeyRequest) (*paymentsv1.Payment, error) {
	return c.getChargeByKey(ctx, r)
}

func (c *client) GetPayment(ctx context.Context, r *paymentsv1.GetPaymentRequest) (*paymentsv1.Payment, error) {
	return c.getPayment(ctx, r)
}

func (c *client) ListPayments(ctx context.Context, r *paymentsv1.ListPaymentsRequest) (*paymentsv1.ListPaymentsResponse, error) {
	return c.listPayments(ctx, r)
}
