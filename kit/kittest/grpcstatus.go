package kittest

import (
	"testing"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/kitshop/kitshop/kit/errs"
)

// WantStatus fails the test unless err is a gRPC status with code that
// carries a google.rpc.ErrorInfo of the kitshop domain with reason — what
// any client, not only a kitshop one, sees on the wire. It returns the
// status for further checks (see ErrorMetadata and FieldViolations).
func WantStatus(t testing.TB, err error, code codes.Code, reason string) *status.Status {
	t.Helper()
	st, ok := status.FromError(err)
	if !ok || st.Code() != code {
		t.Fatalf("got %v, want a status with code %s", err, code)
	}
	info := ErrorInfo(st)
	if info == nil {
		t.Fatalf("status %v carries no ErrorInfo, want reason %s", err, reason)
	}
	if info.GetReason() != reason || info.GetDomain() != errs.Domain {
		t.Fatalf("ErrorInfo %v, want reason %s in domain %s", info, reason, errs.Domain)
	}
	return st
}

// ErrorInfo returns the first google.rpc.ErrorInfo detail of st, or nil.
func ErrorInfo(st *status.Status) *errdetails.ErrorInfo {
	for _, d := range st.Details() {
		if info, ok := d.(*errdetails.ErrorInfo); ok {
			return info
		}
	}
	return nil
}

// ErrorMetadata returns the metadata of st's ErrorInfo (nil without one).
func ErrorMetadata(st *status.Status) map[string]string {
	return ErrorInfo(st).GetMetadata()
}

// FieldViolations returns the field names of st's google.rpc.BadRequest
// violations, in the order the server listed them.
func FieldViolations(st *status.Status) []string {
	var fields []string
	for _, d := range st.Details() {
		if br, ok := d.(*errdetails.BadRequest); ok {
			for _, fv := range br.GetFieldViolations() {
				fields = append(fields, fv.GetField())
			}
		}
	}
	return fields
}
