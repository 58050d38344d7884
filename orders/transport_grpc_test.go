package main

import (
	"context"
	"errors"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/go-kit/log"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/orders/client"
	commonv1 "github.com/kitshop/kitshop/pb/common/v1"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// wireGRPC is the gRPC transport over a wireFake, wired as main wires it
// (endpoint chain, kit/grpcx server with its interceptors, the verifier's
// unary and stream interceptors), on a real loopback listener, with a
// plain grpc-go client so tests see exactly what goes over the wire.
type wireGRPC struct {
	fake   *wireFake
	ready  *health.Readiness
	client ordersv1.OrdersServiceClient
	userID string
	user   context.Context // a customer's calls
	other  context.Context // another customer's
	admin  context.Context
}

func newWireGRPC(t *testing.T, stock int64) *wireGRPC {
	t.Helper()
	fake := newWireFake(stock)
	iss := authtest.NewIssuer(t)
	logger := logx.New(&kittest.LogBuffer{}, "orders")
	ready := health.New()
	srv := grpcxServer(logger, ready, iss)
	ordersv1.RegisterOrdersServiceServer(srv, NewGRPCServer(MakeEndpoints(fake, mw.Chain{Service: "orders", Logger: logger}), fake, ready))
	conn := kittest.ServeGRPC(t, srv)
	w := &wireGRPC{fake: fake, ready: ready, client: ordersv1.NewOrdersServiceClient(conn), userID: uuid.NewString()}
	as := func(sub, role string) context.Context {
		return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+iss.Token(t, sub, role))
	}
	w.user, w.other, w.admin = as(w.userID, "customer"), as(uuid.NewString(), "customer"), as(uuid.NewString(), "admin")
	return w
}

func pbPlace(quantity int64, card, key string) *ordersv1.CreateOrderRequest {
	return &ordersv1.CreateOrderRequest{
		Items:           []*ordersv1.LineItem{{ProductId: wireProductID, Quantity: quantity}},
		ShippingAddress: &commonv1.Address{Line1: "1 Main St", City: "Springfield", PostalCode: "62701", Country: "US"},
		Payment:         &commonv1.Card{Number: card, ExpMonth: 12, ExpYear: 2040, Cvc: "123"},
		IdempotencyKey:  key,
	}
}

// orderDetail is the Order a status carries, or nil.
func orderDetail(st *status.Status) *ordersv1.Order {
	for _, d := range st.Details() {
		if o, ok := d.(*ordersv1.Order); ok {
			return o
		}
	}
	return nil
}

// A placement says whether it is a replay in its response and in the
// idempotent-replayed header.
func TestGRPCCreateOrderReplay(t *testing.T) {
	w := newWireGRPC(t, 5)
	var header metadata.MD
	first, err := w.client.CreateOrder(w.user, pbPlace(1, "4242424242424242", "k1"), grpc.Header(&header))
	if err != nil || first.GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED || first.GetReplayed() ||
		len(header.Get(client.ReplayedMetadata)) != 0 {
		t.Fatalf("first: %v %v header %v", first, err, header)
	}
	again, err := w.client.CreateOrder(w.user, pbPlace(1, "4242424242424242", "k1"), grpc.Header(&header))
	if err != nil || !again.GetReplayed() || again.GetOrder().GetId() != first.GetOrder().GetId() ||
		header.Get(client.ReplayedMetadata)[0] != "true" {
		t.Fatalf("replay: %v %v header %v", again, err, header)
	}
}

// A failed placement is a status with ErrorInfo (reason, order_id), the
// order it left as an Order detail, and the 402 for the gateway; its
// replay is the same status, with the replayed header.
func TestGRPCCreateOrderFailures(t *testing.T) {
	w := newWireGRPC(t, 5)
	var header metadata.MD
	_, err := w.client.CreateOrder(w.user, pbPlace(1, "4000000000000002", "d1"), grpc.Header(&header))
	st := kittest.WantStatus(t, err, codes.FailedPrecondition, client.ReasonPaymentDeclined)
	o := orderDetail(st)
	if o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED || o.GetFailureReason() != client.ReasonPaymentDeclined ||
		o.GetUserId() != w.userID || kittest.ErrorMetadata(st)[client.MetaOrderID] != o.GetId() {
		t.Fatalf("order detail %v, metadata %v", o, kittest.ErrorMetadata(st))
	}
	if len(header.Get(client.ReplayedMetadata)) != 0 {
		t.Fatalf("a first failure says it is replayed: %v", header)
	}
	back := errs.As(errs.FromGRPC(err))
	if back.HTTPStatus() != http.StatusPaymentRequired || len(back.Details) != 1 {
		t.Fatalf("decoded %+v, want 402 with the order", back)
	}

	_, err = w.client.CreateOrder(w.user, pbPlace(1, "4000000000000002", "d1"), grpc.Header(&header))
	st = kittest.WantStatus(t, err, codes.FailedPrecondition, client.ReasonPaymentDeclined)
	if orderDetail(st).GetId() != o.GetId() || len(header.Get(client.ReplayedMetadata)) != 1 {
		t.Fatalf("replayed failure: detail %v header %v", orderDetail(st), header)
	}

	_, err = w.client.CreateOrder(w.user, pbPlace(6, "4242424242424242", ""))
	meta := kittest.ErrorMetadata(kittest.WantStatus(t, err, codes.FailedPrecondition, client.ReasonInsufficientStock))
	if meta[client.MetaProductID] != wireProductID || meta[client.MetaAvailable] != "5" {
		t.Fatalf("insufficient stock metadata %v", meta)
	}

	_, err = w.client.CreateOrder(w.user, pbPlace(0, "4242424242424241", ""))
	fields := kittest.FieldViolations(kittest.WantStatus(t, err, codes.InvalidArgument, errs.ReasonValidation))
	if len(fields) != 2 || fields[0] != "items[0].quantity" || fields[1] != "payment.number" {
		t.Fatalf("violations %v (gRPC names the proto fields)", fields)
	}
	_, err = w.client.CreateOrder(context.Background(), pbPlace(1, "4242424242424242", ""))
	kittest.WantStatus(t, err, codes.Unauthenticated, errs.ReasonUnauth)
}

// Cancel and ship refuse an order in the wrong state with its status and
// the order itself; a replayed cancel says so in the header.
func TestGRPCCancelAndShip(t *testing.T) {
	w := newWireGRPC(t, 5)
	placed, err := w.client.CreateOrder(w.user, pbPlace(1, "4242424242424242", ""))
	if err != nil {
		t.Fatal(err)
	}
	id := placed.GetOrder().GetId()
	var header metadata.MD
	o, err := w.client.CancelOrder(w.user, &ordersv1.CancelOrderRequest{Id: id, IdempotencyKey: "c1"}, grpc.Header(&header))
	if err != nil || o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED || len(header.Get(client.ReplayedMetadata)) != 0 {
		t.Fatalf("cancel: %v %v %v", o, err, header)
	}
	o, err = w.client.CancelOrder(w.user, &ordersv1.CancelOrderRequest{Id: id, IdempotencyKey: "c1"}, grpc.Header(&header))
	if err != nil || o.GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_CANCELLED || len(header.Get(client.ReplayedMetadata)) != 1 {
		t.Fatalf("cancel replayed: %v %v %v", o, err, header)
	}

	_, err = w.client.ShipOrder(w.user, &ordersv1.ShipOrderRequest{Id: id})
	kittest.WantStatus(t, err, codes.PermissionDenied, errs.ReasonForbidden)
	_, err = w.client.ShipOrder(w.admin, &ordersv1.ShipOrderRequest{Id: id})
	st := kittest.WantStatus(t, err, codes.FailedPrecondition, client.ReasonInvalidOrderState)
	if kittest.ErrorMetadata(st)[client.MetaStatus] != "CANCELLED" || orderDetail(st).GetId() != id {
		t.Fatalf("invalid state: metadata %v detail %v", kittest.ErrorMetadata(st), orderDetail(st))
	}
	_, err = w.client.GetOrder(w.other, &ordersv1.GetOrderRequest{Id: id})
	kittest.WantStatus(t, err, codes.NotFound, errs.ReasonNotFound)
}

// recvStatuses reads the watch until it ends, returning the statuses
// received and how it ended.
func recvStatuses(stream ordersv1.OrdersService_WatchOrderClient, n int) ([]ordersv1.OrderStatus, error) {
	var got []ordersv1.OrderStatus
	for len(got) < n {
		o, err := stream.Recv()
		if err != nil {
			return got, err
		}
		got = append(got, o.GetStatus())
	}
	return got, nil
}

// WatchOrder sends the order as it is and on every status change, and
// ends (OK) once the order is final.
func TestGRPCWatchOrderUntilFinal(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWireGRPC(t, 5)
	req := pbPlace(1, "4242424242424242", "")
	req.RespondAsync = true
	placed, err := w.client.CreateOrder(w.user, req)
	if err != nil || placed.GetOrder().GetStatus() != ordersv1.OrderStatus_ORDER_STATUS_PENDING {
		t.Fatalf("%v %v", placed, err)
	}
	id := placed.GetOrder().GetId()
	ctx, cancel := context.WithTimeout(w.user, 10*time.Second)
	defer cancel()
	stream, err := w.client.WatchOrder(ctx, &ordersv1.WatchOrderRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	got, err := recvStatuses(stream, 1)
	if err != nil || got[0] != ordersv1.OrderStatus_ORDER_STATUS_PENDING {
		t.Fatalf("first message %v %v", got, err)
	}
	w.fake.setStatus(id, StatusConfirmed)
	if got, err = recvStatuses(stream, 1); err != nil || got[0] != ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
		t.Fatalf("after confirming: %v %v", got, err)
	}
	w.fake.setStatus(id, StatusShipped)
	if got, err = recvStatuses(stream, 1); err != nil || got[0] != ordersv1.OrderStatus_ORDER_STATUS_SHIPPED {
		t.Fatalf("after shipping: %v %v", got, err)
	}
	if o, err := stream.Recv(); !errors.Is(err, io.EOF) {
		t.Fatalf("after a final state: %v %v, want the end of the stream", o, err)
	}
}

// A watch of someone else's order is NOT_FOUND, of a malformed id
// INVALID_ARGUMENT, without a token UNAUTHENTICATED: the stream
// interceptors carry the service's errors as statuses.
func TestGRPCWatchOrderRefusals(t *testing.T) {
	w := newWireGRPC(t, 5)
	placed, err := w.client.CreateOrder(w.user, pbPlace(1, "4242424242424242", ""))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		ctx    context.Context
		id     string
		code   codes.Code
		reason string
	}{
		{w.other, placed.GetOrder().GetId(), codes.NotFound, errs.ReasonNotFound},
		{w.user, "not-a-uuid", codes.InvalidArgument, errs.ReasonValidation},
		{context.Background(), placed.GetOrder().GetId(), codes.Unauthenticated, errs.ReasonUnauth},
	} {
		stream, err := w.client.WatchOrder(c.ctx, &ordersv1.WatchOrderRequest{Id: c.id})
		if err == nil {
			_, err = stream.Recv()
		}
		kittest.WantStatus(t, err, c.code, c.reason)
	}
}

// Shutdown ends a watch with an expected UNAVAILABLE, so the client
// watches again on another instance; a client going away ends the
// handler too. Neither leaves a goroutine behind.
func TestGRPCWatchOrderEndsAtShutdown(t *testing.T) {
	kittest.CheckGoroutines(t)
	w := newWireGRPC(t, 5)
	w.ready.SetReady(true)
	placed, err := w.client.CreateOrder(w.user, pbPlace(1, "4242424242424242", ""))
	if err != nil {
		t.Fatal(err)
	}
	id := placed.GetOrder().GetId()

	gone, leave := context.WithCancel(w.user)
	left, err := w.client.WatchOrder(gone, &ordersv1.WatchOrderRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recvStatuses(left, 1); err != nil {
		t.Fatal(err)
	}
	leave()
	if _, err := left.Recv(); status.Code(err) != codes.Canceled {
		t.Fatalf("after the client left: %v", err)
	}

	// Bounded, so that a watch shutdown does not end fails instead of
	// hanging.
	ctx, cancel := context.WithTimeout(w.user, 10*time.Second)
	defer cancel()
	stream, err := w.client.WatchOrder(ctx, &ordersv1.WatchOrderRequest{Id: id})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := recvStatuses(stream, 1); err != nil {
		t.Fatal(err)
	}
	w.ready.SetReady(false)
	_, err = stream.Recv()
	kittest.WantStatus(t, err, codes.Unavailable, errs.ReasonUnavailable)
	if !errs.As(errs.FromGRPC(err)).Expected {
		t.Fatal("the shutdown's UNAVAILABLE is not marked expected: it would count against this instance")
	}
}

// grpcxServer is kit/grpcx's server as boot builds it, with the
// verifier's interceptors as main passes them.
func grpcxServer(logger log.Logger, ready *health.Readiness, iss *authtest.Issuer) *grpc.Server {
	return grpcx.NewServer(grpcx.ServerConfig{Service: "orders", Logger: logger, Readiness: ready},
		iss.Verifier.GRPCServerOptions()...)
}
