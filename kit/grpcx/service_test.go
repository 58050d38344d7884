package grpcx_test

import (
	"context"
	"fmt"
	"time"

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
	// sizeFrozen waits for the call's context to end, then fails as a
	// database client does when its statement is cancelled: Unavailable.
	sizeFrozen = 599
	// sizeDeadline answers with the seconds left until the call's deadline
	// ("none" without one).
	sizeDeadline = 1
	// sizeBadDecode is refused by decWidget, before the endpoint chain.
	sizeBadDecode = 422
)

func getWidget(ctx context.Context, r widgetReq) (widgetResp, error) {
	switch r.Size {
	case sizeFrozen:
		<-ctx.Done()
		return widgetResp{}, errs.Wrap(errs.Unavailable, "STORE_DOWN", ctx.Err(), "store unavailable")
	case sizeDeadline:
		dl, ok := ctx.Deadline()
		if !ok {
			return widgetResp{Name: "none"}, nil
		}
		return widgetResp{Name: fmt.Sprint(time.Until(dl).Round(time.Second).Seconds())}, nil
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
	if r.GetResponseSize() == sizeBadDecode {
		return widgetReq{}, errs.Invalid(errs.FieldViolation{Field: "response_size", Message: "not a widget size"})
	}
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
