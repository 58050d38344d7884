package errs

import (
	"errors"
	"strconv"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Domain is the ErrorInfo domain every kitshop error carries.
const Domain = "kitshop"

// metaStatus carries an HTTP status override across gRPC so the gateway can
// answer 402 where the service said so.
const metaStatus = "http_status"

// metaExpected carries Error.Expected, so a caller's breaker sees it too.
const metaExpected = "expected"

// ToGRPC turns any error into a gRPC status error carrying ErrorInfo (kind
// and reason) and, for validation failures, BadRequest field violations.
// Causes are dropped: they are for the server's logs.
func ToGRPC(err error) error {
	if err == nil {
		return nil
	}
	if _, ok := status.FromError(err); ok && !isDomain(err) {
		// Already a status (for example from a downstream call made without
		// conversion); pass it through rather than wrapping it as Internal.
		return err
	}
	e := As(err)
	st := status.New(e.Kind.GRPCCode(), e.Message)
	meta := make(map[string]string, len(e.Meta)+1)
	for k, v := range e.Meta {
		meta[k] = v
	}
	if e.Status != 0 {
		meta[metaStatus] = strconv.Itoa(e.Status)
	}
	if e.Expected {
		meta[metaExpected] = "true"
	}
	details := []protoDetail{&errdetails.ErrorInfo{Reason: e.Reason, Domain: Domain, Metadata: meta}}
	if len(e.Fields) > 0 {
		br := &errdetails.BadRequest{}
		for _, f := range e.Fields {
			br.FieldViolations = append(br.FieldViolations,
				&errdetails.BadRequest_FieldViolation{Field: f.Field, Description: f.Message})
		}
		details = append(details, br)
	}
	if withDetails, derr := st.WithDetails(details...); derr == nil {
		st = withDetails
	}
	return st.Err()
}

// FromGRPC is the inverse of ToGRPC: it rebuilds an *Error from a status
// error so the kind and reason survive the hop. Non-status errors go
// through As.
func FromGRPC(err error) error {
	if err == nil {
		return nil
	}
	if e := fromStatusError(err); e != nil {
		return e
	}
	return As(err)
}

func isDomain(err error) bool {
	var e *Error
	return errors.As(err, &e)
}

func fromStatusError(err error) *Error {
	if isDomain(err) {
		return nil
	}
	st, ok := status.FromError(err)
	if !ok || st.Code() == codes.OK {
		return nil
	}
	e := &Error{Kind: KindFromCode(st.Code()), Message: st.Message(), Err: err}
	fromKitshop := false
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			fromKitshop = d.GetDomain() == Domain
			e.Reason = d.GetReason()
			for k, v := range d.GetMetadata() {
				switch k {
				case metaStatus:
					e.Status, _ = strconv.Atoi(v)
					continue
				case metaExpected:
					e.Expected = v == "true"
					continue
				}
				if e.Meta == nil {
					e.Meta = map[string]string{}
				}
				e.Meta[k] = v
			}
		case *errdetails.BadRequest:
			for _, f := range d.GetFieldViolations() {
				e.Fields = append(e.Fields, FieldViolation{Field: f.GetField(), Message: f.GetDescription()})
			}
		}
	}
	if e.Reason == "" {
		e.Reason = defaultReason(e.Kind)
	}
	if !fromKitshop {
		// Statuses made by grpc-go itself (connection refused, ...) can
		// name internal addresses; clients get a generic text instead.
		e.Message = genericMessage(e.Kind)
	}
	return e
}

func defaultReason(k Kind) string {
	switch k {
	case Unavailable:
		return ReasonUnavailable
	case DeadlineExceeded:
		return ReasonDeadline
	case Canceled:
		return ReasonCanceled
	case NotFound:
		return ReasonNotFound
	case InvalidArgument:
		return ReasonValidation
	case Unauthenticated:
		return ReasonUnauth
	case PermissionDenied:
		return ReasonForbidden
	case ResourceExhausted:
		return ReasonRateLimited
	}
	return ReasonInternal
}

func genericMessage(k Kind) string {
	switch k {
	case Unavailable:
		return "service unavailable"
	case DeadlineExceeded:
		return "deadline exceeded"
	case Canceled:
		return "request canceled"
	}
	return strings.ToLower(strings.Join(splitCamel(k.String()), " "))
}

func splitCamel(s string) []string {
	var words []string
	start := 0
	for i := 1; i < len(s); i++ {
		if s[i] >= 'A' && s[i] <= 'Z' {
			words = append(words, s[start:i])
			start = i
		}
	}
	return append(words, s[start:])
}
