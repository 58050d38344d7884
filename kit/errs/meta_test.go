package errs_test

import (
	"math"
	"reflect"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/structpb"

	"github.com/kitshop/kitshop/kit/errs"
)

type point struct{ X, Y int }

func TestWithNormalisesValues(t *testing.T) {
	e := errs.New(errs.FailedPrecondition, "X", "x").
		With("int", 15).With("int32", int32(-3)).With("uint16", uint16(7)).With("int64", int64(math.MaxInt64)).
		With("uint64_big", uint64(math.MaxUint64)).
		With("float32", float32(0.1)).With("float64", 2.5).With("nan", math.NaN()).With("inf", math.Inf(-1)).
		With("bool", true).With("string", "p1").With("struct", point{1, 2}).With("nil", nil)
	want := map[string]any{
		"int": int64(15), "int32": int64(-3), "uint16": int64(7), "int64": int64(math.MaxInt64),
		"uint64_big": "18446744073709551615",
		"float32":    0.1, "float64": 2.5, "nan": "NaN", "inf": "-Inf",
		"bool": true, "string": "p1", "struct": "{1 2}", "nil": "<nil>",
	}
	if !reflect.DeepEqual(e.Meta, want) {
		t.Fatalf("Meta = %#v\nwant   %#v", e.Meta, want)
	}
	// With copies: the sentinel it started from is unchanged.
	base := errs.New(errs.NotFound, "X", "x").With("a", 1)
	_ = base.With("b", 2)
	if len(base.Meta) != 1 {
		t.Fatalf("With mutated its receiver: %v", base.Meta)
	}
}

func TestMetaString(t *testing.T) {
	e := errs.New(errs.Internal, "X", "x").With("n", 15).With("f", 2.0).With("g", 1e21).With("b", false).With("s", "p1")
	for k, want := range map[string]string{"n": "15", "f": "2.0", "g": "1e+21", "b": "false", "s": "p1", "absent": ""} {
		if got := e.MetaString(k); got != want {
			t.Errorf("MetaString(%q) = %q, want %q", k, got, want)
		}
	}
	// Values put into Meta directly, bypassing With, are normalised too.
	e.Meta["direct"] = uint8(9)
	if got := e.MetaValues()["direct"]; got != int64(9) {
		t.Errorf("MetaValues()[direct] = %#v, want int64(9)", got)
	}
	if (&errs.Error{}).MetaValues() != nil {
		t.Error("MetaValues of an error without metadata must be nil")
	}
}

func TestTypedMetaRoundTripsThroughGRPC(t *testing.T) {
	orig := errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "not enough").
		With("product_id", "p1").With("available", 15).With("requested", int64(16)).
		With("huge", int64(math.MaxInt64)). // beyond a double's 2^53: digits come from ErrorInfo
		With("ratio", 0.25).With("whole_float", 2.0).With("flag", true).With("numeric_text", "42").
		WithStatus(422).AsExpected()
	wire := errs.ToGRPC(orig)

	// Plain gRPC clients see every value as text in ErrorInfo, and no
	// internal flags.
	st, _ := status.FromError(wire)
	var info *errdetails.ErrorInfo
	for _, d := range st.Details() {
		if i, ok := d.(*errdetails.ErrorInfo); ok {
			info = i
		}
	}
	wantInfo := map[string]string{
		"product_id": "p1", "available": "15", "requested": "16", "huge": "9223372036854775807",
		"ratio": "0.25", "whole_float": "2.0", "flag": "true", "numeric_text": "42",
	}
	if info == nil || !reflect.DeepEqual(info.GetMetadata(), wantInfo) {
		t.Fatalf("ErrorInfo metadata = %v, want %v", info.GetMetadata(), wantInfo)
	}

	back := errs.As(errs.FromGRPC(wire))
	if !reflect.DeepEqual(back.Meta, orig.Meta) {
		t.Fatalf("Meta after the round trip = %#v\nwant %#v", back.Meta, orig.Meta)
	}
	if back.HTTPStatus() != 422 || !back.Expected {
		t.Fatalf("flags lost: status %d expected %v", back.HTTPStatus(), back.Expected)
	}
}

func TestFromGRPCReadsOlderPeers(t *testing.T) {
	// An older peer put everything, flags included, into ErrorInfo as text.
	st, err := status.New(codes.FailedPrecondition, "declined").WithDetails(&errdetails.ErrorInfo{
		Reason: "CARD_DECLINED", Domain: errs.Domain,
		Metadata: map[string]string{"payment_id": "pay1", "available": "3", "http_status": "402", "expected": "true"},
	})
	if err != nil {
		t.Fatal(err)
	}
	back := errs.As(errs.FromGRPC(st.Err()))
	if back.HTTPStatus() != 402 || !back.Expected {
		t.Fatalf("legacy flags lost: %+v", back)
	}
	if want := map[string]any{"payment_id": "pay1", "available": "3"}; !reflect.DeepEqual(back.Meta, want) {
		t.Fatalf("legacy Meta = %#v, want %#v (strings, flags removed)", back.Meta, want)
	}
}

func TestFromGRPCIgnoresForeignFlags(t *testing.T) {
	// Another domain cannot choose our HTTP status or mark its failures
	// Expected (which would hide them from breakers).
	private, err := structpb.NewStruct(map[string]any{
		"kitshop.errs.v1": map[string]any{"http_status": 200, "expected": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	st, err := status.New(codes.Unavailable, "down").WithDetails(
		&errdetails.ErrorInfo{Reason: "BACKEND_DOWN", Domain: "example.com", Metadata: map[string]string{"http_status": "200"}},
		private)
	if err != nil {
		t.Fatal(err)
	}
	back := errs.As(errs.FromGRPC(st.Err()))
	if back.HTTPStatus() != 503 || back.Expected || !errs.IsInfrastructure(back) {
		t.Fatalf("foreign status set kitshop flags: %+v", back)
	}
}

func TestErrorInfoCarriesNoInternalFlags(t *testing.T) {
	wire := errs.ToGRPC(errs.New(errs.FailedPrecondition, "CARD_DECLINED", "declined").WithStatus(402).AsExpected())
	st, _ := status.FromError(wire)
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && len(info.GetMetadata()) != 0 {
			t.Fatalf("ErrorInfo metadata = %v, want none", info.GetMetadata())
		}
	}
	// Without metadata or flags there is no private detail at all.
	st, _ = status.FromError(errs.ToGRPC(errs.New(errs.NotFound, "X", "x")))
	if n := len(st.Details()); n != 1 {
		t.Fatalf("%d details, want ErrorInfo only", n)
	}
}
