package grpcx

import (
	"context"
	"strconv"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/netx"
)

// validate refuses a request serverCodec could not decode with
// InvalidArgument MALFORMED_MESSAGE, and one with a control character or
// invalid UTF-8 in any string field, however deeply nested, with InvalidArgument
// VALIDATION_FAILED naming the field ("items[0].name"), before any
// handler sees it: Postgres refuses NUL bytes, and five logins with one
// used to be five 500s. The rule is kit/netx's, the one HTTP applies.
func (c *unaryChain) validate(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
	if err := checkRequest(req); err != nil {
		return nil, err
	}
	return c.recovered(ctx, req, info, h)
}

// streamValidate applies the same checks to every message a stream
// receives, the request of a server stream included.
func streamValidate() grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		return h(srv, &validatingStream{ServerStream: ss})
	}
}

type validatingStream struct{ grpc.ServerStream }

func (s *validatingStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	return checkRequest(m)
}

// checkRequest is what the server checks on every message it receives,
// before any handler sees it: that serverCodec could decode it (see
// malformed), and then CheckText.
func checkRequest(msg any) error {
	m, ok := msg.(proto.Message)
	if !ok || m == nil {
		return nil
	}
	r := m.ProtoReflect()
	if err := malformed(r); err != nil {
		return err
	}
	return checkText(r)
}

// CheckText returns an InvalidArgument VALIDATION_FAILED error naming the
// first string field of msg, at any depth (map keys included), that holds
// a control character other than tab, line feed and carriage return, or
// invalid UTF-8 (see netx.TextViolation); nil for a clean message or one
// that is not a proto message. The server interceptors call it on every
// request; it walks only the fields that are set and does not allocate
// unless it finds something or meets a non-empty list or map.
func CheckText(msg any) error {
	m, ok := msg.(proto.Message)
	if !ok || m == nil {
		return nil
	}
	return checkText(m.ProtoReflect())
}

func checkText(m protoreflect.Message) error {
	if path, problem := checkMessage(m); problem != "" {
		return errs.Invalid(errs.FieldViolation{Field: path, Message: problem})
	}
	return nil
}

// checkMessage returns the path and the problem of the first bad string
// in m. The path is built on the way out, so a clean message costs no
// string building.
func checkMessage(m protoreflect.Message) (path, problem string) {
	if !m.IsValid() {
		return "", ""
	}
	fields := m.Descriptor().Fields()
	for i := 0; i < fields.Len(); i++ {
		fd := fields.Get(i)
		if !m.Has(fd) {
			continue
		}
		name := string(fd.Name())
		switch {
		case fd.IsMap():
			if path, problem = checkMap(m.Get(fd).Map(), fd); problem != "" {
				return join(name, path), problem
			}
		case fd.IsList():
			l := m.Get(fd).List()
			for j := 0; j < l.Len(); j++ {
				if path, problem = checkValue(l.Get(j), fd); problem != "" {
					return name + "[" + strconv.Itoa(j) + "]" + dot(path), problem
				}
			}
		default:
			if path, problem = checkValue(m.Get(fd), fd); problem != "" {
				return join(name, path), problem
			}
		}
	}
	return "", ""
}

// checkValue checks one singular value (or list element) of field fd.
func checkValue(v protoreflect.Value, fd protoreflect.FieldDescriptor) (path, problem string) {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return "", netx.TextViolation(v.String(), true)
	case protoreflect.MessageKind, protoreflect.GroupKind:
		return checkMessage(v.Message())
	}
	return "", ""
}

func checkMap(mp protoreflect.Map, fd protoreflect.FieldDescriptor) (path, problem string) {
	mp.Range(func(k protoreflect.MapKey, v protoreflect.Value) bool {
		key := k.String()
		if fd.MapKey().Kind() == protoreflect.StringKind {
			if p := netx.TextViolation(key, false); p != "" {
				path, problem = "", "map key "+p
				return false
			}
		}
		if p, pr := checkValue(v, fd.MapValue()); pr != "" {
			path, problem = key+dot(p), pr
			return false
		}
		return true
	})
	return path, problem
}

func join(name, rest string) string {
	if rest == "" {
		return name
	}
	if rest[0] == '[' {
		return name + rest
	}
	return name + "." + rest
}

func dot(rest string) string {
	if rest == "" || rest[0] == '[' {
		return rest
	}
	return "." + rest
}
