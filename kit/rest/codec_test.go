package rest

import (
	"math"
	"net/http"
	"strings"
	"testing"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/netx"
)

func TestDecodeEncodeRoundTrip(t *testing.T) {
	// Every kind, written as API.md writes JSON: snake_case names,
	// integers as numbers, short enum names, RFC 3339 UTC.
	const body = `{"i32":-2147483648,"i64":9223372036854775807,"u32":4294967295,"u64":18446744073709551615,` +
		`"flag":true,"text":"Tom & Jerry <b> \"q\"\n é","blob":"aGk=","ratio":0.25,"status":"GONE_AWAY","maybe":0,` +
		`"nums":[1,-2],"parts":[{"name":"a","qty":1},{"name":"b","qty":2}],"labels":{"x":1,"y":2},` +
		`"at":"2024-05-01T12:00:00.123456Z","ttl":"1.5s","part":{"name":"p","qty":3},"one_a":null,"one_b":7,` +
		`"child":{"i32":0,"i64":0,"u32":0,"u64":0,"flag":false,"text":"","blob":"","ratio":0,"status":"UNSPECIFIED","maybe":null,` +
		`"nums":[],"parts":[],"labels":{},"at":null,"ttl":null,"part":null,"one_a":null,"one_b":null,"child":null}}`
	m, mem, err := decodeThing(t, body)
	if err != nil {
		t.Fatal(err)
	}
	got, err := encodeThing(t, m)
	if err != nil {
		t.Fatal(err)
	}
	if got != body {
		t.Fatalf("round trip:\n got %s\nwant %s", got, body)
	}
	md := m.Descriptor()
	if !m.Has(md.Fields().ByName("maybe")) {
		t.Fatal(`"maybe": 0 lost its presence`)
	}
	if !mem.Has("one_a") || !mem.Null("one_a") || mem.Null("one_b") || mem.Has("nope") {
		t.Fatalf("members %+v", mem)
	}
}

func TestEncodeEmptyMessage(t *testing.T) {
	// Absent messages and optional scalars are null, lists [] and maps {}:
	// a client sees every member, always.
	got, err := encodeThing(t, dynamicpb.NewMessage(thingDescriptor()))
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"i32":0,"i64":0,"u32":0,"u64":0,"flag":false,"text":"","blob":"","ratio":0,"status":"UNSPECIFIED",` +
		`"maybe":null,"nums":[],"parts":[],"labels":{},"at":null,"ttl":null,"part":null,"one_a":null,"one_b":null,"child":null}`
	if got != want {
		t.Fatalf("got  %s\nwant %s", got, want)
	}
}

func TestNullLeavesFieldsUnset(t *testing.T) {
	m, mem, err := decodeThing(t, `{"maybe":null,"part":null,"text":null,"at":null,"nums":null}`)
	if err != nil {
		t.Fatal(err)
	}
	fields := m.Descriptor().Fields()
	for _, name := range []protoreflect.Name{"maybe", "part", "text", "at", "nums"} {
		if m.Has(fields.ByName(name)) {
			t.Errorf("%s set by null", name)
		}
		if !mem.Null(string(name)) {
			t.Errorf("%s: null not recorded", name)
		}
	}
}

func TestEncodeEdgeValues(t *testing.T) {
	md := thingDescriptor()
	f := md.Fields()
	m := dynamicpb.NewMessage(md)
	m.Set(f.ByName("status"), protoreflect.ValueOfEnum(42)) // newer than this binary
	m.Set(f.ByName("text"), protoreflect.ValueOfString("bad \xff utf8"))
	ttl := m.NewField(f.ByName("ttl"))
	ttl.Message().Set(ttl.Message().Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(-1))
	ttl.Message().Set(ttl.Message().Descriptor().Fields().ByName("nanos"), protoreflect.ValueOfInt32(-500000000))
	m.Set(f.ByName("ttl"), ttl)
	got, err := encodeThing(t, m)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"status":42`, `"text":"bad ` + "\ufffd" + ` utf8"`, `"ttl":"-1.5s"`} {
		if !strings.Contains(got, want) {
			t.Errorf("%s lacks %s", got, want)
		}
	}

	m.Set(f.ByName("ratio"), protoreflect.ValueOfFloat64(math.NaN()))
	if _, err := encodeThing(t, m); err == nil {
		t.Fatal("NaN encoded")
	}
	m.Clear(f.ByName("ratio"))
	at := m.NewField(f.ByName("at"))
	at.Message().Set(at.Message().Descriptor().Fields().ByName("seconds"), protoreflect.ValueOfInt64(math.MaxInt64/2))
	m.Set(f.ByName("at"), at)
	if _, err := encodeThing(t, m); err == nil {
		t.Fatal("timestamp beyond year 9999 encoded")
	}
}

func TestDecodeRejects(t *testing.T) {
	for _, c := range []struct {
		name, body, reason, field, msg string
	}{
		{"fraction", `{"i64":1.5}`, httpx.ReasonMalformedJSON, "i64", "must be an integer, got JSON number 1.5"},
		{"exponent", `{"i64":1e3}`, httpx.ReasonMalformedJSON, "i64", "must be an integer, got JSON number 1e3"},
		{"quoted integer", `{"i64":"5"}`, httpx.ReasonMalformedJSON, "i64", "must be an integer, got JSON string"},
		{"int32 range", `{"i32":2147483648}`, httpx.ReasonMalformedJSON, "i32", "must be an integer, got JSON number 2147483648 (out of range)"},
		{"int64 range", `{"i64":9223372036854775808}`, httpx.ReasonMalformedJSON, "i64", "(out of range)"},
		{"uint64 range", `{"u64":18446744073709551616}`, httpx.ReasonMalformedJSON, "u64", "(out of range)"},
		{"negative unsigned", `{"u32":-1}`, httpx.ReasonMalformedJSON, "u32", "must be a non-negative integer"},
		{"bool as string", `{"flag":"true"}`, httpx.ReasonMalformedJSON, "flag", "must be a boolean, got JSON string"},
		{"string as number", `{"text":5}`, httpx.ReasonMalformedJSON, "text", "must be a string, got JSON number 5"},
		{"prefixed enum", `{"status":"HTTP_STATUS_ACTIVE"}`, httpx.ReasonMalformedJSON, "status", "must be one of UNSPECIFIED, ACTIVE, GONE_AWAY"},
		{"enum number", `{"status":1}`, httpx.ReasonMalformedJSON, "status", "must be a string"},
		{"bad base64", `{"blob":"!!"}`, httpx.ReasonMalformedJSON, "blob", "base64"},
		{"bad timestamp", `{"at":"yesterday"}`, httpx.ReasonMalformedJSON, "at", "RFC 3339"},
		{"duration without unit", `{"ttl":"5"}`, httpx.ReasonMalformedJSON, "ttl", "duration"},
		{"object for scalar", `{"text":{}}`, httpx.ReasonMalformedJSON, "text", "got JSON object"},
		{"scalar for message", `{"part":"x"}`, httpx.ReasonMalformedJSON, "part", "must be an object"},
		{"scalar for list", `{"nums":5}`, httpx.ReasonMalformedJSON, "nums", "must be an array"},
		{"null in list", `{"nums":[1,null]}`, httpx.ReasonMalformedJSON, "nums[1]", "got JSON null"},
		{"nested path", `{"parts":[{"name":"a"},{"qty":"x"}]}`, httpx.ReasonMalformedJSON, "parts[1].qty", "must be an integer"},
		{"null map value", `{"labels":{"a":null}}`, httpx.ReasonMalformedJSON, "labels.a", "got JSON null"},
		{"unknown member", `{"bogus":1}`, httpx.ReasonUnknownField, "bogus", ""},
		{"case mismatch", `{"TEXT":"x"}`, httpx.ReasonUnknownField, "TEXT", ""},
		{"camelCase", `{"oneA":"x"}`, httpx.ReasonUnknownField, "oneA", ""},
		{"nested unknown", `{"part":{"bogus":1}}`, httpx.ReasonUnknownField, "part.bogus", ""},
		{"duplicate", `{"text":"a","text":"b"}`, httpx.ReasonMalformedJSON, "text", ""},
		{"two oneof members", `{"one_a":"x","one_b":1}`, httpx.ReasonMalformedJSON, "one_b", "cannot be set together with one_a"},
		{"not an object", `[]`, httpx.ReasonMalformedJSON, "(body)", "must be an object, got JSON array"},
		{"empty", ``, httpx.ReasonMalformedJSON, "", "empty"},
		{"whitespace", "  \n", httpx.ReasonMalformedJSON, "", "empty"},
		{"truncated", `{"text":`, httpx.ReasonMalformedJSON, "", "middle"},
		{"syntax", `{"text" "x"}`, httpx.ReasonMalformedJSON, "", "malformed JSON"},
		{"trailing value", `{} {}`, httpx.ReasonMalformedJSON, "", "after the JSON value"},
		{"invalid UTF-8", "{\"text\":\"\xff\"}", httpx.ReasonMalformedJSON, "", "malformed JSON"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := decodeThing(t, c.body)
			e := wantInvalid(t, err, http.StatusBadRequest, c.reason, c.field)
			if c.field == "" && len(e.Fields) != 0 {
				t.Errorf("unexpected fields %v", e.Fields)
			}
			if !strings.Contains(e.Message, c.msg) {
				t.Errorf("message %q lacks %q", e.Message, c.msg)
			}
		})
	}
}

// TestControlCharactersRefused: the REST mapping applies kit/netx's one
// rule for text, in bodies (newlines and tabs allowed) and in text from
// the URL (none allowed), naming the field. Well-formed JSON holding a
// control character is a validation failure (400 VALIDATION_FAILED), as
// httpx.DecodeJSON, path variables, query parameters and gRPC answer it,
// not MALFORMED_JSON.
func TestControlCharactersRefused(t *testing.T) {
	for _, tc := range []struct{ body, field, msg string }{
		{`{"text":"a\u0000b"}`, "text", netx.MsgControlCharacter},
		{`{"part":{"name":"x\u0007y"}}`, "part.name", netx.MsgControlCharacter},
		{"{\"parts\":[{\"name\":\"ok\"},{\"name\":\"a\u0085b\"}]}", "parts[1].name", netx.MsgControlCharacter},
		{`{"status":"ACTIVE\u0000"}`, "status", netx.MsgControlCharacter},
		{`{"at":"2024-05-01T12:00:00Z\u001b"}`, "at", netx.MsgControlCharacter},
		{`{"labels":{"a\u0000":1}}`, "labels.a\x00", "member name " + netx.MsgControlCharacter},
		{`{"labels":{"a\tb":1}}`, "labels.a\tb", "member name " + netx.MsgControlCharacter},
		{`{"bo\u007fgus":1}`, "bo\x7fgus", "member name " + netx.MsgControlCharacter},
	} {
		_, _, err := decodeThing(t, tc.body)
		e := wantInvalid(t, err, http.StatusBadRequest, errs.ReasonValidation, tc.field)
		if e.Fields[0].Message != tc.msg {
			t.Errorf("%s: violation %q, want %q", tc.body, e.Fields[0].Message, tc.msg)
		}
	}
	if _, _, err := decodeThing(t, `{"text":"line one\nline\ttwo"}`); err != nil {
		t.Errorf("free text with a newline and a tab refused: %v", err)
	}
	text := thingDescriptor().Fields().ByName("text")
	if _, msg := parseText(text, nil, "a\x00b"); msg == "" {
		t.Error("a NUL byte in a path variable or query parameter was accepted")
	}
}
