package errs

import (
	"errors"
	"strings"

	"google.golang.org/genproto/googleapis/rpc/errdetails"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/protoadapt"
	"google.golang.org/protobuf/types/known/structpb"
)

// Domain is the ErrorInfo domain every kitshop error carries.
const Domain = "kitshop"

// ToGRPC turns any error into a gRPC status error. Its details are:
//   - google.rpc.ErrorInfo, domain "kitshop", with the reason and, as
//     metadata, the text form of every Meta value (see Error.MetaString),
//     so that any gRPC client can read product_id or available;
//   - google.rpc.BadRequest with the field violations, if any;
//   - a google.protobuf.Struct private to kitshop (see private.go) with
//     what ErrorInfo cannot say: the Meta values' JSON types and the HTTP
//     status and Expected flags. Keeping those flags out of ErrorInfo keeps
//     its metadata to public context;
//   - each of the error's Details, as a detail of its own type (an order
//     as a kitshop.orders.v1.Order), after those above. A detail that
//     cannot be encoded is left out rather than losing the others.
//
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
	var meta map[string]string
	if len(e.Meta) > 0 {
		meta = make(map[string]string, len(e.Meta))
		for k := range e.Meta {
			meta[k] = e.MetaString(k)
		}
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
	if p := privateDetail(e); p != nil {
		details = append(details, p)
	}
	if withDetails, derr := st.WithDetails(details...); derr == nil {
		st = withDetails
	}
	for _, d := range e.Details {
		if d == nil || !d.ProtoReflect().IsValid() {
			continue
		}
		if withDetail, derr := st.WithDetails(protoadapt.MessageV1Of(d)); derr == nil {
			st = withDetail
		}
	}
	return st.Err()
}

// FromGRPC is the inverse of ToGRPC: it rebuilds an *Error from a status
// error so the kind and reason survive the hop. Every detail of a kitshop
// status other than ErrorInfo, BadRequest and the private Struct comes
// back in Details, as a message of its own type when this binary links it
// in (one it does not know is dropped). Details of foreign statuses are
// dropped: they may be debugging information never meant for a client.
// Non-status errors go through As.
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
	var (
		info    map[string]string
		private *structpb.Struct
		public  []proto.Message
	)
	for _, d := range st.Details() {
		switch d := d.(type) {
		case *errdetails.ErrorInfo:
			fromKitshop = d.GetDomain() == Domain
			e.Reason = d.GetReason()
			info = d.GetMetadata()
		case *errdetails.BadRequest:
			for _, f := range d.GetFieldViolations() {
				e.Fields = append(e.Fields, FieldViolation{Field: f.GetField(), Message: f.GetDescription()})
			}
		case *structpb.Struct:
			if p := d.GetFields()[privateKey].GetStructValue(); p != nil {
				private = p
			} else {
				public = append(public, d)
			}
		case proto.Message:
			public = append(public, d)
		}
		// Anything else is the error Details reports for a detail whose
		// type this binary does not know: there is nothing to restore.
	}
	if fromKitshop {
		e.Details = public
		// Only kitshop's own statuses may set the HTTP status or Expected:
		// a foreign service's ErrorInfo means nothing to us beyond its
		// reason.
		applyPrivate(e, info, private)
	} else {
		e.Meta = metaFromWire(info, nil)
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
