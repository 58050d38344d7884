package errs_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
)

func TestKindMappings(t *testing.T) {
	cases := []struct {
		kind   errs.Kind
		code   codes.Code
		status int
		infra  bool
	}{
		{errs.Internal, codes.Internal, 500, true},
		{errs.InvalidArgument, codes.InvalidArgument, 400, false},
		{errs.NotFound, codes.NotFound, 404, false},
		{errs.AlreadyExists, codes.AlreadyExists, 409, false},
		{errs.FailedPrecondition, codes.FailedPrecondition, 409, false},
		{errs.Unauthenticated, codes.Unauthenticated, 401, false},
		{errs.PermissionDenied, codes.PermissionDenied, 403, false},
		{errs.ResourceExhausted, codes.ResourceExhausted, 429, false},
		{errs.Unavailable, codes.Unavailable, 503, true},
		{errs.DeadlineExceeded, codes.DeadlineExceeded, 504, true},
		{errs.Canceled, codes.Canceled, 499, false},
	}
	for _, c := range cases {
		if c.kind.GRPCCode() != c.code || c.kind.HTTPStatus() != c.status || c.kind.Infrastructure() != c.infra {
			t.Errorf("%s: code %s status %d infra %v", c.kind, c.kind.GRPCCode(), c.kind.HTTPStatus(), c.kind.Infrastructure())
		}
		if errs.KindFromCode(c.code) != c.kind {
			t.Errorf("KindFromCode(%s) = %s", c.code, errs.KindFromCode(c.code))
		}
	}
	if errs.KindFromCode(codes.DataLoss) != errs.Internal || errs.Kind(200).String() != "Internal" {
		t.Error("unknown codes and kinds must read as Internal")
	}
}

func TestRoundTripThroughGRPC(t *testing.T) {
	orig := errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "product p1 has 1 available, 2 requested").
		With("product_id", "p1").With("available", 1).WithStatus(http.StatusConflict)
	orig.Err = errors.New("select ... for update: secret internals")

	wire := errs.ToGRPC(fmt.Errorf("reserve: %w", orig))
	st, _ := status.FromError(wire)
	if st.Code() != codes.FailedPrecondition || st.Message() != orig.Message {
		t.Fatalf("status %v", st)
	}
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok && info.GetDomain() != errs.Domain {
			t.Fatalf("domain %q", info.GetDomain())
		}
	}
	if got := fmt.Sprint(st.Proto()); contains(got, "secret internals") {
		t.Fatal("the cause crossed the wire")
	}

	back := errs.As(errs.FromGRPC(wire))
	if back.Kind != orig.Kind || back.Reason != orig.Reason || back.Message != orig.Message ||
		back.Meta["product_id"] != "p1" || back.Meta["available"] != int64(1) || back.HTTPStatus() != 409 {
		t.Fatalf("round trip lost something: %+v", back)
	}
	if !errors.Is(back, errs.New(errs.FailedPrecondition, "INSUFFICIENT_STOCK", "")) {
		t.Fatal("errors.Is must match on kind and reason")
	}
}

func TestRoundTripKeepsFieldsStatusAndExpected(t *testing.T) {
	var v errs.Validation
	v.Check(false, "items[0].quantity", "must be > 0")
	v.Add("email", "is required")
	back := errs.As(errs.FromGRPC(errs.ToGRPC(v.Err())))
	if back.Kind != errs.InvalidArgument || len(back.Fields) != 2 || back.Fields[0].Field != "items[0].quantity" {
		t.Fatalf("validation round trip: %+v", back)
	}

	declined := errs.New(errs.FailedPrecondition, "CARD_DECLINED", "declined").WithStatus(402)
	if got := errs.As(errs.FromGRPC(errs.ToGRPC(declined))); got.HTTPStatus() != 402 || len(got.Meta) != 0 {
		t.Fatalf("status override lost or leaked into meta: %+v", got)
	}

	transient := errs.New(errs.Unavailable, "PROCESSING_ERROR", "retry later").AsExpected()
	if errs.IsInfrastructure(transient) {
		t.Fatal("an expected failure counts against the callee")
	}
	back = errs.As(errs.FromGRPC(errs.ToGRPC(transient)))
	if !back.Expected || back.Kind != errs.Unavailable || errs.IsInfrastructure(back) {
		t.Fatalf("Expected lost over gRPC: %+v", back)
	}
}

func TestForeignStatusesGetGenericMessages(t *testing.T) {
	raw := status.Error(codes.Unavailable, "connection error: dial tcp 10.1.2.3:9082: connection refused")
	e := errs.As(raw)
	if e.Kind != errs.Unavailable || e.Reason != errs.ReasonUnavailable || e.Message != "service unavailable" {
		t.Fatalf("foreign status: %+v", e)
	}
	if !errs.IsInfrastructure(raw) {
		t.Fatal("a transport failure is infrastructure")
	}
	// Passing a foreign status through ToGRPC keeps it as it is.
	if status.Code(errs.ToGRPC(raw)) != codes.Unavailable {
		t.Fatal("ToGRPC rewrote a status")
	}
}

func TestAsClassifiesPlainErrors(t *testing.T) {
	if k := errs.KindOf(fmt.Errorf("op: %w", context.DeadlineExceeded)); k != errs.DeadlineExceeded {
		t.Errorf("deadline: %s", k)
	}
	if k := errs.KindOf(context.Canceled); k != errs.Canceled || errs.IsInfrastructure(context.Canceled) {
		t.Errorf("canceled: %s", k)
	}
	e := errs.As(errors.New("pq: password authentication failed for user bob"))
	if e.Kind != errs.Internal || e.Message != "internal error" {
		t.Errorf("plain error: %+v", e)
	}
	if errs.As(nil) != nil || errs.IsInfrastructure(nil) || errs.ReasonOf(nil) != "" {
		t.Error("nil must stay nil")
	}
}

func TestBusinessErrorsAreNotInfrastructure(t *testing.T) {
	for _, k := range []errs.Kind{errs.InvalidArgument, errs.NotFound, errs.AlreadyExists, errs.FailedPrecondition,
		errs.Unauthenticated, errs.PermissionDenied, errs.ResourceExhausted} {
		if errs.IsInfrastructure(errs.New(k, "X", "x")) {
			t.Errorf("%s counted as infrastructure", k)
		}
	}
}

func contains(s, sub string) bool {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return true
		}
	}
	return false
}

func TestInvalidMessage(t *testing.T) {
	fv := func(field, msg string) errs.FieldViolation { return errs.FieldViolation{Field: field, Message: msg} }
	for _, tc := range []struct {
		fields []errs.FieldViolation
		want   string
	}{
		{[]errs.FieldViolation{fv("email", "must be a valid address")}, "email: must be a valid address"},
		{[]errs.FieldViolation{fv("password", "too short"), fv("password", "too common")}, "password: too short; too common"},
		{[]errs.FieldViolation{fv("email", "is required"), fv("password", "too short"), fv("email", "too long")},
			"2 invalid fields: email, password"},
		{[]errs.FieldViolation{fv("items[0].quantity", "must be > 0"), fv("items[1].quantity", "must be > 0"), fv("card.cvc", "is required")},
			"3 invalid fields: items[0].quantity, items[1].quantity, card.cvc"},
		{nil, "invalid request"},
	} {
		e := errs.Invalid(tc.fields...)
		if e.Message != tc.want || e.Kind != errs.InvalidArgument || e.Reason != errs.ReasonValidation || len(e.Fields) != len(tc.fields) {
			t.Errorf("Invalid(%v) = %+v, want message %q", tc.fields, e, tc.want)
		}
	}
}
