// Package errs is kitshop's one error model. A domain error carries a Kind
// (what class of failure it is) and a stable Reason code (what exactly went
// wrong). Both survive every hop: they map to a gRPC status with a
// google.rpc.ErrorInfo detail and back, and to an RFC 9457 problem document.
package errs

import (
	"net/http"

	"google.golang.org/grpc/codes"
)

// Kind classifies an error. The zero value is Internal so that an error
// nobody classified is never mistaken for a client mistake.
type Kind uint8

const (
	Internal Kind = iota
	InvalidArgument
	NotFound
	AlreadyExists
	FailedPrecondition
	Unauthenticated
	PermissionDenied
	ResourceExhausted
	Unavailable
	DeadlineExceeded
	Canceled
)

var kindInfo = [...]struct {
	name   string
	code   codes.Code
	status int
}{
	Internal:           {"Internal", codes.Internal, http.StatusInternalServerError},
	InvalidArgument:    {"InvalidArgument", codes.InvalidArgument, http.StatusBadRequest},
	NotFound:           {"NotFound", codes.NotFound, http.StatusNotFound},
	AlreadyExists:      {"AlreadyExists", codes.AlreadyExists, http.StatusConflict},
	FailedPrecondition: {"FailedPrecondition", codes.FailedPrecondition, http.StatusConflict},
	Unauthenticated:    {"Unauthenticated", codes.Unauthenticated, http.StatusUnauthorized},
	PermissionDenied:   {"PermissionDenied", codes.PermissionDenied, http.StatusForbidden},
	ResourceExhausted:  {"ResourceExhausted", codes.ResourceExhausted, http.StatusTooManyRequests},
	Unavailable:        {"Unavailable", codes.Unavailable, http.StatusServiceUnavailable},
	DeadlineExceeded:   {"DeadlineExceeded", codes.DeadlineExceeded, http.StatusGatewayTimeout},
	// 499 is the de-facto "client closed request" status; clients that
	// cancelled never read it, but logs and metrics do.
	Canceled: {"Canceled", codes.Canceled, 499},
}

func (k Kind) String() string {
	if int(k) < len(kindInfo) {
		return kindInfo[k].name
	}
	return "Internal"
}

// GRPCCode is the gRPC status code for the kind.
func (k Kind) GRPCCode() codes.Code {
	if int(k) < len(kindInfo) {
		return kindInfo[k].code
	}
	return codes.Internal
}

// HTTPStatus is the default HTTP status for the kind; an Error may override
// it (402 for payment failures).
func (k Kind) HTTPStatus() int {
	if int(k) < len(kindInfo) {
		return kindInfo[k].status
	}
	return http.StatusInternalServerError
}

// KindFromCode is the inverse of GRPCCode. Codes with no kind of their own
// (Unknown, Aborted, DataLoss, ...) become Internal.
func KindFromCode(c codes.Code) Kind {
	for k, info := range kindInfo {
		if info.code == c {
			return Kind(k)
		}
	}
	return Internal
}

// Infrastructure reports whether failures of this kind say something about
// the health of the callee rather than about the request. Only these count
// towards opening a circuit breaker or deserve a retry elsewhere.
func (k Kind) Infrastructure() bool {
	switch k {
	case Internal, Unavailable, DeadlineExceeded:
		return true
	}
	return false
}
