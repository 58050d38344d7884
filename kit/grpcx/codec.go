package grpcx

import (
	"google.golang.org/grpc/encoding"
	protocodec "google.golang.org/grpc/encoding/proto"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kitshop/kitshop/kit/errs"
)

// ReasonMalformedMessage is the reason of the InvalidArgument answer to a
// request whose protobuf payload could not be decoded: broken wire
// encoding, or a string field holding invalid UTF-8. It is gRPC's
// counterpart of kit/httpx's MALFORMED_JSON: the bytes never became a
// message, so there is no field to name as VALIDATION_FAILED would.
const ReasonMalformedMessage = "MALFORMED_MESSAGE"

// serverCodec is the proto codec with one difference: a request it cannot
// unmarshal is not an error for grpc-go. grpc-go unmarshals a request
// before any interceptor runs and answers a codec error itself, as
// Internal ("failed to unmarshal the received message"), so a client's
// garbage was reported as the server's fault, and no interceptor could
// say otherwise: grpc-go has written the status by the time RecvMsg
// returns.
//
// Instead, Unmarshal resets the message, so that nothing half-decoded
// survives, records the failure on it (markMalformed) and returns nil.
// The first thing the server's interceptors do with a received message,
// unary or streamed, is checkRequest, which turns the record into
// InvalidArgument MALFORMED_MESSAGE before any handler runs; the outcome
// and stream logging steps then log and count it as the client's error.
// Keeping the record on the message itself needs no shared state and
// costs the happy path nothing but one slice-length check.
//
// NewServer installs it with grpc.ForceServerCodecV2, so every content
// subtype is decoded as proto, which is the only one kitshop speaks.
type serverCodec struct{ proto encoding.CodecV2 }

func newServerCodec() serverCodec {
	return serverCodec{proto: encoding.GetCodecV2(protocodec.Name)}
}

func (c serverCodec) Marshal(v any) (mem.BufferSlice, error) { return c.proto.Marshal(v) }

func (c serverCodec) Unmarshal(data mem.BufferSlice, v any) error {
	err := c.proto.Unmarshal(data, v)
	if err == nil {
		return nil
	}
	m, ok := v.(proto.Message)
	if !ok {
		return err // not ours to judge: grpc-go answers as before
	}
	proto.Reset(m)
	markMalformed(m.ProtoReflect(), err)
	return nil
}

func (serverCodec) Name() string { return protocodec.Name }

// malformedTag starts the record of a decode failure in a message's
// unknown fields. A byte 0 is a tag with field number 0, which no
// successful decode leaves there (protobuf refuses field number 0), so
// the record cannot be mistaken for fields a newer client sent.
const malformedTag = 0

// markMalformed records on m, which has just been reset, that its bytes
// could not be decoded and why.
func markMalformed(m protoreflect.Message, cause error) {
	why := cause.Error()
	raw := make([]byte, 0, 1+len(why))
	raw = append(append(raw, malformedTag), why...)
	m.SetUnknown(raw)
}

// malformed returns the InvalidArgument MALFORMED_MESSAGE error for a
// message serverCodec could not decode, or nil.
func malformed(m protoreflect.Message) error {
	u := m.GetUnknown()
	if len(u) == 0 || u[0] != malformedTag {
		return nil
	}
	return errs.New(errs.InvalidArgument, ReasonMalformedMessage,
		"the request message could not be decoded: "+string(u[1:]))
}
