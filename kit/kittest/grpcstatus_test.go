package kittest

import (
	"errors"
	"slices"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
)

func TestWantStatusAccepts(t *testing.T) {
	wire := errs.ToGRPC(errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "not enough").With("available", "3"))
	st := WantStatus(t, wire, codes.FailedPrecondition, "INSUFFICIENT_STOCK")
	if st.Message() != "not enough" || ErrorMetadata(st)["available"] != "3" {
		t.Fatalf("status %v, metadata %v", st, ErrorMetadata(st))
	}

	wire = errs.ToGRPC(errs.Invalid(errs.FieldViolation{Field: "sku", Message: "bad"}, errs.FieldViolation{Field: "name", Message: "bad"}))
	st = WantStatus(t, wire, codes.InvalidArgument, errs.ReasonValidation)
	if got := FieldViolations(st); !slices.Equal(got, []string{"sku", "name"}) {
		t.Fatalf("FieldViolations = %v, want [sku name]", got)
	}
}

func TestWantStatusRejects(t *testing.T) {
	notFound := errs.ToGRPC(errs.New(errs.NotFound, "WIDGET_MISSING", "no widget"))
	foreign, err := status.New(codes.NotFound, "no widget").WithDetails(&errdetails.ErrorInfo{Reason: "WIDGET_MISSING", Domain: "example.com"})
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		err   error
		parts []string
	}{
		"success":        {nil, []string{"want a status with code NotFound"}},
		"not a status":   {errors.New("boom"), []string{"boom", "NotFound"}},
		"other code":     {notFound, []string{"NotFound"}}, // checked against Internal below
		"no ErrorInfo":   {status.Error(codes.NotFound, "bare"), []string{"no ErrorInfo"}},
		"other reason":   {notFound, []string{"want reason OTHER"}},
		"foreign domain": {foreign.Err(), []string{"domain kitshop"}},
	} {
		t.Run(name, func(t *testing.T) {
			code, reason := codes.NotFound, "WIDGET_MISSING"
			switch name {
			case "other code":
				code = codes.Internal
			case "other reason":
				reason = "OTHER"
			}
			wantFatal(t, func(tb testing.TB) { WantStatus(tb, tc.err, code, reason) }, tc.parts...)
		})
	}
}

func TestStatusDetailsAbsent(t *testing.T) {
	st := status.New(codes.Internal, "bare")
	if ErrorInfo(st) != nil || ErrorMetadata(st) != nil || FieldViolations(st) != nil {
		t.Fatal("a status without details has details")
	}
}

func TestWantErr(t *testing.T) {
	e := errs.New(errs.NotFound, "USER_NOT_FOUND", "no user").With("id", "u1")
	if got := WantErr(t, errors.Join(errors.New("lookup"), e), errs.NotFound, "USER_NOT_FOUND"); got.Meta["id"] != "u1" {
		t.Fatalf("WantErr returned %+v, want the wrapped error", got)
	}
	wantFatal(t, func(tb testing.TB) { WantErr(tb, nil, errs.NotFound, "USER_NOT_FOUND") }, "got success")
	wantFatal(t, func(tb testing.TB) { WantErr(tb, e, errs.InvalidArgument, "USER_NOT_FOUND") }, "want InvalidArgument")
	wantFatal(t, func(tb testing.TB) { WantErr(tb, e, errs.NotFound, "OTHER") }, "want NotFound OTHER")
	// An unclassified error is Internal, as errs.As says.
	WantErr(t, errors.New("boom"), errs.Internal, errs.As(errors.New("boom")).Reason)
}
