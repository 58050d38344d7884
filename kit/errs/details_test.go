package errs_test

import (
	"errors"
	"fmt"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/anypb"
	"google.golang.org/protobuf/types/known/structpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/errs"
)

// WithDetail copies: the original and its other copies never see the
// detail, even when they share a backing array with room to spare.
func TestWithDetailCopies(t *testing.T) {
	base := errs.New(errs.FailedPrecondition, "PAYMENT_DECLINED", "declined")
	one := base.WithDetail(&errdetails.ResourceInfo{ResourceName: "a"})
	if len(base.Details) != 0 {
		t.Fatalf("base has details %v", base.Details)
	}
	two := one.WithDetail(&errdetails.ResourceInfo{ResourceName: "b"})
	three := one.WithDetail(&errdetails.ResourceInfo{ResourceName: "c"})
	if len(one.Details) != 1 || len(two.Details) != 2 || len(three.Details) != 2 {
		t.Fatalf("details %d %d %d", len(one.Details), len(two.Details), len(three.Details))
	}
	if got := two.Details[1].(*errdetails.ResourceInfo).GetResourceName(); got != "b" {
		t.Fatalf("a sibling copy overwrote the detail: %q", got)
	}
	if !errors.Is(two, base) {
		t.Fatal("a copy with a detail no longer matches its sentinel")
	}
	var nilInfo *errdetails.ResourceInfo
	if got := base.WithDetail(nil).WithDetail(nilInfo); len(got.Details) != 0 {
		t.Fatalf("nil details were kept: %v", got.Details)
	}
}

// Details travel as status details of their own type, after ErrorInfo,
// and come back in order, next to the kind, reason, metadata and status;
// the private Struct and ErrorInfo never show up as public details, but a
// Struct of the service's own does.
func TestDetailsRoundTripThroughGRPC(t *testing.T) {
	ts := timestamppb.New(timestamppb.Now().AsTime())
	own, err := structpb.NewStruct(map[string]any{"hint": "retry tomorrow"})
	if err != nil {
		t.Fatal(err)
	}
	orig := errs.New(errs.FailedPrecondition, "PAYMENT_DECLINED", "declined").
		With("order_id", "o1").WithStatus(402).
		WithDetail(&errdetails.ResourceInfo{ResourceType: "order", ResourceName: "o1"}).
		WithDetail(ts).WithDetail(own)

	wire := errs.ToGRPC(fmt.Errorf("place: %w", orig))
	st, _ := status.FromError(wire)
	ds := st.Details()
	if len(ds) != 5 {
		t.Fatalf("status details %v, want ErrorInfo, the private Struct and three public ones", ds)
	}
	if _, ok := ds[0].(*errdetails.ErrorInfo); !ok {
		t.Fatalf("first detail %T, want ErrorInfo", ds[0])
	}
	if ri, ok := ds[2].(*errdetails.ResourceInfo); !ok || ri.GetResourceName() != "o1" {
		t.Fatalf("third detail %v, want the ResourceInfo", ds[2])
	}

	back := errs.As(errs.FromGRPC(wire))
	if back.Reason != "PAYMENT_DECLINED" || back.HTTPStatus() != 402 || back.MetaString("order_id") != "o1" {
		t.Fatalf("round trip lost the basics: %+v", back)
	}
	if len(back.Details) != 3 {
		t.Fatalf("details %v, want the three public ones", back.Details)
	}
	for i, want := range orig.Details {
		if !proto.Equal(back.Details[i], want) {
			t.Errorf("detail %d = %v, want %v", i, back.Details[i], want)
		}
	}
}

// A detail of a type the receiver does not link in is dropped, and the
// rest of the error survives; so are the details of a foreign status,
// which may be debugging information never meant for a client.
func TestFromGRPCDropsUnknownAndForeignDetails(t *testing.T) {
	unknown := &anypb.Any{TypeUrl: "type.googleapis.com/kitshop.nowhere.v1.Thing", Value: []byte{}}
	st := status.New(codes.FailedPrecondition, "declined")
	st, err := st.WithDetails(&errdetails.ErrorInfo{Reason: "PAYMENT_DECLINED", Domain: errs.Domain})
	if err != nil {
		t.Fatal(err)
	}
	p := st.Proto()
	p.Details = append(p.Details, unknown)
	known, err := anypb.New(&errdetails.ResourceInfo{ResourceName: "o1"})
	if err != nil {
		t.Fatal(err)
	}
	p.Details = append(p.Details, known)
	back := errs.As(errs.FromGRPC(status.FromProto(p).Err()))
	if back.Reason != "PAYMENT_DECLINED" || len(back.Details) != 1 ||
		back.Details[0].(*errdetails.ResourceInfo).GetResourceName() != "o1" {
		t.Fatalf("got %+v with details %v, want the reason and the one known detail", back, back.Details)
	}

	foreign, err := status.New(codes.Internal, "boom").WithDetails(
		&errdetails.ErrorInfo{Reason: "X", Domain: "elsewhere"},
		&errdetails.DebugInfo{Detail: "stack trace"})
	if err != nil {
		t.Fatal(err)
	}
	if back := errs.As(errs.FromGRPC(foreign.Err())); len(back.Details) != 0 {
		t.Fatalf("a foreign status's details came through: %v", back.Details)
	}
}
