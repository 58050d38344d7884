package grpcx_test

import (
	"context"
	"fmt"

	"google.golang.org/grpc"
	testpb "google.golang.org/grpc/interop/grpc_testing"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/typed"
)

// widgetReq/widgetResp stand in for a service's domain types; the pb
// adapter converts them, as a real transport_grpc.go does.
type widgetReq struct{ Size int32 }
type widgetResp struct{ Name string }

// Behaviours selected by widgetReq.Size.
const (
	sizeNotFound = 404
	sizeInvalid  = 400
	sizePanic    = 500
	sizeDown     = 503
)

func getWidget(_ context.Context, r widgetReq) (widgetResp, error) {
	switch r.Size {
	case sizeNotFound:
		return widgetResp{}, errs.New(errs.NotFound, "WIDGET_MISSING", "no widget 42").With("widget_id", "42")
	case sizeInvalid:
		return widgetResp{}, errs.Invalid(errs.FieldViolation{Field: "size", Message: "must be small"})
	case sizePanic:
		panic("widget store exploded at 10.1.2.3")
	case sizeDown:
		return widgetResp{}, errs.Wrap(errs.Unavailable, "STORE_DOWN", fmt.Errorf("dial 10.1.2.3:5432"), "store unavailable")
	}
	return widgetResp{Name: fmt.Sprintf("widget-%d", r.Size)}, nil
}

func decWidget(_ context.Context, r *testpb.SimpleRequest) (widgetReq, error) {
	return widgetReq{Size: r.GetResponseSize()}, nil
}

func encWidget(_ context.Context, r widgetResp) (*testpb.SimpleResponse, error) {
	return &testpb.SimpleResponse{Username: r.Name}, nil
}

// Client-side conversions, as a service's client package would write them.
func encWidgetReq(_ context.Context, r widgetReq) (*testpb.SimpleRequest, error) {
	return &testpb.SimpleRequest{ResponseSize: r.Size}, nil
}

func decWidgetResp(_ context.Context, r *testpb.SimpleResponse) (widgetResp, error) {
	return widgetResp{Name: r.GetUsername()}, nil
}

type testService struct {
	testpb.UnimplementedTestServiceServer
	unary *grpcx.Handler[*testpb.SimpleRequest, *testpb.SimpleResponse]
}

func newTestService(c mw.Chain) *testService {
	return &testService{
		unary: grpcx.NewHandler(c.Wrap("GetWidget", typed.Endpoint(getWidget)), decWidget, encWidget),
	}
}

func (s *testService) UnaryCall(ctx context.Context, r *testpb.SimpleRequest) (*testpb.SimpleResponse, error) {
	return s.unary.Serve(ctx, r)
}

// EmptyCall panics outside any go-kit chain, straight in the gRPC handler.
func (s *testService) EmptyCall(context.Context, *testpb.Empty) (*testpb.Empty, error) {
	panic("bare handler panic")
}

// StreamingOutputCall sends one message per response parameter, then ends
// as the payload says: "fail" with a domain error, "panic" with a panic.
func (s *testService) StreamingOutputCall(r *testpb.StreamingOutputCallRequest, stream grpc.ServerStreamingServer[testpb.StreamingOutputCallResponse]) error {
	for range r.GetResponseParameters() {
		if err := stream.Send(&testpb.StreamingOutputCallResponse{}); err != nil {
			return err
		}
	}
	switch string(r.GetPayload().GetBody()) {
	case "fail":
		return errs.New(errs.FailedPrecondition, "STREAM_REFUSED", "not now")
	case "panic":
		panic("stream handler panic")
	}
	return nil
}
