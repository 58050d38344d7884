package main

import (
	"context"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/card"
	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/orders/client"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// unaryServer serves Endpoints as the unary methods of
// OrdersServiceServer. It is the whole pb server as HTTP sees it:
// orders/client's REST mapping calls it in-process (it is a client.API),
// so an HTTP request runs through the same decode, endpoint chain and
// encode as a gRPC call.
//
// What an answer needs beyond its message is added here, once for both
// transports: the order a failure carries (OrderOf) as an Order status
// detail, which HTTP shows as the problem's "order" member, and the
// response header client.ReplayedMetadata on a replayed answer, which
// HTTP shows as Idempotent-Replayed. Errors are otherwise returned as
// domain errors; kit/grpcx's interceptors make statuses with ErrorInfo of
// them, and over HTTP the mapping writes problems.
type unaryServer struct {
	ordersv1.UnimplementedOrdersServiceServer
	createOrder *grpcx.Handler[*ordersv1.CreateOrderRequest, *ordersv1.CreateOrderResponse]
	getOrder    *grpcx.Handler[*ordersv1.GetOrderRequest, *ordersv1.Order]
	listOrders  *grpcx.Handler[*ordersv1.ListOrdersRequest, *ordersv1.ListOrdersResponse]
	cancelOrder *grpcx.Handler[*ordersv1.CancelOrderRequest, *ordersv1.Order]
	shipOrder   *grpcx.Handler[*ordersv1.ShipOrderRequest, *ordersv1.Order]
}

// The HTTP transport serves orders/client's REST mapping over this
// adapter, in-process.
var _ client.API = (*unaryServer)(nil)

func newUnaryServer(e Endpoints) *unaryServer {
	return &unaryServer{
		createOrder: grpcx.NewHandler(e.PlaceOrder, decodePlaceOrder, encodePlaced),
		getOrder:    grpcx.NewHandler(e.GetOrder, decodeGetOrder, encodeOrder),
		listOrders:  grpcx.NewHandler(e.ListOrders, decodeListOrders, encodeOrderPage),
		cancelOrder: grpcx.NewHandler(e.CancelOrder, decodeCancelOrder, encodeCancelled),
		shipOrder:   grpcx.NewHandler(e.ShipOrder, decodeShipOrder, encodeOrder),
	}
}

// grpcServer is the generated OrdersServiceServer: the unary methods of
// unaryServer, and WatchOrder (transport_grpc_watch.go), which calls the
// Service directly (go-kit has no streams) under kit/grpcx's stream
// interceptors.
type grpcServer struct {
	*unaryServer
	svc Service
	// draining is closed once shutdown begins; watches end then (see
	// WatchOrder).
	draining <-chan struct{}
}

// NewGRPCServer serves e, and s's WatchOrder, as
// kitshop.orders.v1.OrdersService. ready is the process's readiness (nil
// in tests): when it turns false after having been true, shutdown has
// begun and WatchOrder streams end with UNAVAILABLE.
func NewGRPCServer(e Endpoints, s Service, ready *health.Readiness) ordersv1.OrdersServiceServer {
	return &grpcServer{unaryServer: newUnaryServer(e), svc: s, draining: health.DrainSignal(ready)}
}

func (s *unaryServer) CreateOrder(ctx context.Context, r *ordersv1.CreateOrderRequest) (*ordersv1.CreateOrderResponse, error) {
	resp, err := s.createOrder.Serve(ctx, r)
	return resp, failure(ctx, err)
}

func (s *unaryServer) GetOrder(ctx context.Context, r *ordersv1.GetOrderRequest) (*ordersv1.Order, error) {
	return s.getOrder.Serve(ctx, r)
}

func (s *unaryServer) ListOrders(ctx context.Context, r *ordersv1.ListOrdersRequest) (*ordersv1.ListOrdersResponse, error) {
	return s.listOrders.Serve(ctx, r)
}

func (s *unaryServer) CancelOrder(ctx context.Context, r *ordersv1.CancelOrderRequest) (*ordersv1.Order, error) {
	resp, err := s.cancelOrder.Serve(ctx, r)
	return resp, failure(ctx, err)
}

func (s *unaryServer) ShipOrder(ctx context.Context, r *ordersv1.ShipOrderRequest) (*ordersv1.Order, error) {
	resp, err := s.shipOrder.Serve(ctx, r)
	return resp, failure(ctx, err)
}

// failure is err with the order it carries as an Order detail, after
// setting the replayed header when err repeats a first answer.
func failure(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if isReplay(err) {
		setReplayed(ctx)
	}
	o, ok := OrderOf(err)
	if !ok {
		return err
	}
	return errs.As(err).WithDetail(orderToPB(o))
}

// setReplayed sets the response header client.ReplayedMetadata. A
// header that cannot be set any more (the stream's headers went) is not
// worth failing the answer for.
func setReplayed(ctx context.Context) {
	_ = grpc.SetHeader(ctx, metadata.Pairs(client.ReplayedMetadata, "true"))
}

// decodePlaceOrder moves the card out of the pb message, whose printing
// is not redacted, into card.Card, whose is; the pb request is never
// logged. Validation is the service's, for both transports alike.
func decodePlaceOrder(_ context.Context, r *ordersv1.CreateOrderRequest) (PlaceOrderRequest, error) {
	items := make([]LineItem, len(r.GetItems()))
	for i, it := range r.GetItems() {
		items[i] = LineItem{ProductID: it.GetProductId(), Quantity: it.GetQuantity()}
	}
	c := r.GetPayment()
	return PlaceOrderRequest{
		Items: items, ShippingAddress: addressFromPB(r.GetShippingAddress()),
		Card: card.Card{
			Number: card.CardNumber(c.GetNumber()), ExpMonth: int(c.GetExpMonth()), ExpYear: int(c.GetExpYear()),
			CVC: card.CVC(c.GetCvc()),
		},
		IdempotencyKey: r.GetIdempotencyKey(), Async: r.GetRespondAsync(),
	}, nil
}

func decodeGetOrder(_ context.Context, r *ordersv1.GetOrderRequest) (string, error) {
	return r.GetId(), nil
}

func decodeShipOrder(_ context.Context, r *ordersv1.ShipOrderRequest) (string, error) {
	return r.GetId(), nil
}

func decodeListOrders(_ context.Context, r *ordersv1.ListOrdersRequest) (ListRequest, error) {
	return ListRequest{PageSize: int(r.GetPageSize()), PageToken: r.GetPageToken()}, nil
}

func decodeCancelOrder(_ context.Context, r *ordersv1.CancelOrderRequest) (CancelRequest, error) {
	return CancelRequest{ID: r.GetId(), IdempotencyKey: r.GetIdempotencyKey()}, nil
}

// encodePlaced says a replay twice: in the response's replayed field and
// in the header client.ReplayedMetadata, as a replayed failure says it.
func encodePlaced(ctx context.Context, p Placed) (*ordersv1.CreateOrderResponse, error) {
	if p.Replayed {
		setReplayed(ctx)
	}
	return &ordersv1.CreateOrderResponse{Order: orderToPB(p.Order), Replayed: p.Replayed}, nil
}

// encodeCancelled answers the order. A cancellation still running shows
// as the order still CONFIRMED (CancelOrder answers CONFIRMED only then;
// HTTP makes it a 202), so Pending needs nothing of its own.
func encodeCancelled(ctx context.Context, c Cancelled) (*ordersv1.Order, error) {
	if c.Replayed {
		setReplayed(ctx)
	}
	return orderToPB(c.Order), nil
}

func encodeOrder(_ context.Context, o Order) (*ordersv1.Order, error) { return orderToPB(o), nil }

func encodeOrderPage(_ context.Context, p OrderPage) (*ordersv1.ListOrdersResponse, error) {
	out := &ordersv1.ListOrdersResponse{Orders: make([]*ordersv1.Order, len(p.Orders)), NextPageToken: p.NextPageToken}
	for i, o := range p.Orders {
		out.Orders[i] = orderToPB(o)
	}
	return out, nil
}

func orderToPB(o Order) *ordersv1.Order {
	out := &ordersv1.Order{
		Id: o.ID, UserId: o.UserID, Status: statusToPB(o.Status), Items: make([]*ordersv1.OrderItem, len(o.Items)),
		TotalCents: o.TotalCents, Currency: o.Currency, ShippingAddress: addressToPB(o.ShippingAddress),
		PaymentId: o.PaymentID, FailureReason: o.FailureReason,
		CreatedAt: timestamppb.New(o.CreatedAt), UpdatedAt: timestamppb.New(o.UpdatedAt),
	}
	for i, it := range o.Items {
		out.Items[i] = &ordersv1.OrderItem{
			ProductId: it.ProductID, Sku: it.SKU, Name: it.Name, Quantity: it.Quantity,
			UnitPriceCents: it.UnitPriceCents, LineTotalCents: it.LineTotalCents,
		}
	}
	return out
}

func statusToPB(s Status) ordersv1.OrderStatus {
	switch s {
	case StatusPending:
		return ordersv1.OrderStatus_ORDER_STATUS_PENDING
	case StatusConfirmed:
		return ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED
	case StatusShipped:
		return ordersv1.OrderStatus_ORDER_STATUS_SHIPPED
	case StatusCancelled:
		return ordersv1.OrderStatus_ORDER_STATUS_CANCELLED
	case StatusRequiresAttention:
		return ordersv1.OrderStatus_ORDER_STATUS_REQUIRES_ATTENTION
	}
	return ordersv1.OrderStatus_ORDER_STATUS_UNSPECIFIED
}

func addressToPB(a Address) *commonv1.Address {
	return &commonv1.Address{Line1: a.Line1, Line2: a.Line2, City: a.City, State: a.State, PostalCode: a.PostalCode, Country: a.Country}
}

// addressFromPB reads a missing address as an empty one, which the
// service refuses field by field (shipping_address.line1 is required).
func addressFromPB(a *commonv1.Address) Address {
	return Address{Line1: a.GetLine1(), Line2: a.GetLine2(), City: a.GetCity(), State: a.GetState(),
		PostalCode: a.GetPostalCode(), Country: a.GetCountry()}
}
