package main

import (
	"github.com/go-kit/kit/endpoint"

	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
)

// Endpoints are the payments service's operations, each wrapped in the
// standard middleware chain. Both transports serve these same values.
type Endpoints struct {
	Charge         endpoint.Endpoint // ChargeRequest -> Payment
	Refund         endpoint.Endpoint // RefundRequest -> RefundResult
	GetPayment     endpoint.Endpoint // string (payment id) -> Payment
	GetChargeByKey endpoint.Endpoint // string (charge idempotency key) -> Payment
	ListPayments   endpoint.Endpoint // ListRequest -> PaymentPage
}

// MakeEndpoints wires s behind chain; method names match the gRPC methods
// so logs and metrics read the same whichever transport served a call.
func MakeEndpoints(s Service, chain mw.Chain) Endpoints {
	return Endpoints{
		Charge:         chain.Wrap("Charge", typed.Endpoint(s.Charge)),
		Refund:         chain.Wrap("Refund", typed.Endpoint(s.Refund)),
		GetPayment:     chain.Wrap("GetPayment", typed.Endpoint(s.GetPayment)),
		GetChargeByKey: chain.Wrap("GetChargeByKey", typed.Endpoint(s.GetChargeByKey)),
		ListPayments:   chain.Wrap("ListPayments", typed.Endpoint(s.ListPayments)),
	}
}
