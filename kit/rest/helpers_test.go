package rest

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/go-json-experiment/json/jsontext"
	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/reflect/protodesc"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
	"google.golang.org/protobuf/types/descriptorpb"
	"google.golang.org/protobuf/types/dynamicpb"
	_ "google.golang.org/protobuf/types/known/durationpb"
	_ "google.golang.org/protobuf/types/known/timestamppb"

	"github.com/kitshop/kitshop/kit/errs"
)

// thingProto has a field of every kind the codec handles, so the codec is
// tested without generating code for a test-only proto.
const thingProto = `
name: "resttest/thing.proto" package: "kitshop.resttest" syntax: "proto3"
dependency: "google/protobuf/timestamp.proto"
dependency: "google/protobuf/duration.proto"
enum_type { name: "HTTPStatus"
  value { name: "HTTP_STATUS_UNSPECIFIED" number: 0 }
  value { name: "HTTP_STATUS_ACTIVE" number: 1 }
  value { name: "HTTP_STATUS_GONE_AWAY" number: 2 } }
message_type { name: "Part"
  field { name: "name" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "qty" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 } }
message_type { name: "Thing"
  field { name: "i32" number: 1 label: LABEL_OPTIONAL type: TYPE_INT32 }
  field { name: "i64" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 }
  field { name: "u32" number: 3 label: LABEL_OPTIONAL type: TYPE_UINT32 }
  field { name: "u64" number: 4 label: LABEL_OPTIONAL type: TYPE_UINT64 }
  field { name: "flag" number: 5 label: LABEL_OPTIONAL type: TYPE_BOOL }
  field { name: "text" number: 6 label: LABEL_OPTIONAL type: TYPE_STRING }
  field { name: "blob" number: 7 label: LABEL_OPTIONAL type: TYPE_BYTES }
  field { name: "ratio" number: 8 label: LABEL_OPTIONAL type: TYPE_DOUBLE }
  field { name: "status" number: 9 label: LABEL_OPTIONAL type: TYPE_ENUM type_name: ".kitshop.resttest.HTTPStatus" }
  field { name: "maybe" number: 10 label: LABEL_OPTIONAL type: TYPE_INT64 oneof_index: 1 proto3_optional: true }
  field { name: "nums" number: 11 label: LABEL_REPEATED type: TYPE_INT64 }
  field { name: "parts" number: 12 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".kitshop.resttest.Part" }
  field { name: "labels" number: 13 label: LABEL_REPEATED type: TYPE_MESSAGE type_name: ".kitshop.resttest.Thing.LabelsEntry" }
  field { name: "at" number: 14 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Timestamp" }
  field { name: "ttl" number: 15 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".google.protobuf.Duration" }
  field { name: "part" number: 16 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".kitshop.resttest.Part" }
  field { name: "one_a" number: 17 label: LABEL_OPTIONAL type: TYPE_STRING oneof_index: 0 }
  field { name: "one_b" number: 18 label: LABEL_OPTIONAL type: TYPE_INT64 oneof_index: 0 }
  field { name: "child" number: 19 label: LABEL_OPTIONAL type: TYPE_MESSAGE type_name: ".kitshop.resttest.Thing" }
  nested_type { name: "LabelsEntry" options { map_entry: true }
    field { name: "key" number: 1 label: LABEL_OPTIONAL type: TYPE_STRING }
    field { name: "value" number: 2 label: LABEL_OPTIONAL type: TYPE_INT64 } }
  oneof_decl { name: "choice" }
  oneof_decl { name: "_maybe" } }
`

// thingDescriptor builds Thing once: the codec caches tables by full
// name, as generated code has one descriptor per name.
var thingDescriptor = sync.OnceValue(func() protoreflect.MessageDescriptor {
	var fdp descriptorpb.FileDescriptorProto
	if err := prototext.Unmarshal([]byte(thingProto), &fdp); err != nil {
		panic(err)
	}
	fd, err := protodesc.NewFile(&fdp, protoregistry.GlobalFiles)
	if err != nil {
		panic(err)
	}
	return fd.Messages().ByName("Thing")
})

// decodeThing decodes body as a Thing with a full table, tracking members.
func decodeThing(t testing.TB, body string) (*dynamicpb.Message, Members, error) {
	t.Helper()
	md := thingDescriptor()
	tab, err := tableFor(md)
	if err != nil {
		t.Fatal(err)
	}
	m := dynamicpb.NewMessage(md)
	var mem Members
	err = decodeJSON(jsontext.NewDecoder(strings.NewReader(body), strictJSON...), m, tab, &mem)
	return m, mem, err
}

func encodeThing(t testing.TB, m protoreflect.Message) (string, error) {
	t.Helper()
	tab, err := tableFor(m.Descriptor())
	if err != nil {
		t.Fatal(err)
	}
	b, err := appendMessage(nil, m, tab)
	return string(b), err
}

// wantInvalid fails unless err is an InvalidArgument with reason and, when
// field is not empty, one field violation naming it.
func wantInvalid(t testing.TB, err error, status int, reason, field string) *errs.Error {
	t.Helper()
	e := errs.As(err)
	if err == nil || e == nil || e.Kind != errs.InvalidArgument || e.Reason != reason || e.HTTPStatus() != status {
		t.Fatalf("got %v, want %d %s", err, status, reason)
	}
	if field != "" && (len(e.Fields) != 1 || e.Fields[0].Field != field) {
		t.Fatalf("fields %v, want one for %q (%v)", e.Fields, field, err)
	}
	return e
}

func newRequest(method, target, body string, header http.Header) *http.Request {
	r := httptest.NewRequest(method, target, strings.NewReader(body))
	if body != "" {
		r.Header.Set("Content-Type", "application/json")
	}
	for k, v := range header {
		r.Header[k] = v
	}
	return r
}
