package errs

import (
	"math"
	"strconv"

	"google.golang.org/protobuf/types/known/structpb"
)

// privateKey names kitshop's private status detail: a google.protobuf.Struct
// whose only field, under this versioned key, is
//
//	{"meta": {"available": 15, "product_id": "p1"}, "http_status": 402, "expected": true}
//
// with members left out when they have nothing to say. A Struct needs no
// generated code and stays readable to any client that wants the typed
// values; the key makes it unmistakable among other Struct details.
const privateKey = "kitshop.errs.v1"

// Members of the private detail.
const (
	privateMeta     = "meta"
	privateStatus   = "http_status"
	privateExpected = "expected"
)

// Before the private detail existed, the flags travelled as ErrorInfo
// metadata under the same names. FromGRPC still reads them from a status
// without the private detail, so errors from an older peer keep their 402.
const (
	legacyStatus   = privateStatus
	legacyExpected = privateExpected
)

// privateDetail is e's private detail, or nil when e has no metadata and no
// flags.
func privateDetail(e *Error) *structpb.Struct {
	fields := map[string]*structpb.Value{}
	if len(e.Meta) > 0 {
		meta := make(map[string]*structpb.Value, len(e.Meta))
		for k, v := range e.Meta {
			meta[k] = wireValue(metaValue(v))
		}
		fields[privateMeta] = structpb.NewStructValue(&structpb.Struct{Fields: meta})
	}
	if e.Status != 0 {
		fields[privateStatus] = structpb.NewNumberValue(float64(e.Status))
	}
	if e.Expected {
		fields[privateExpected] = structpb.NewBoolValue(true)
	}
	if len(fields) == 0 {
		return nil
	}
	return &structpb.Struct{Fields: map[string]*structpb.Value{
		privateKey: structpb.NewStructValue(&structpb.Struct{Fields: fields}),
	}}
}

// wireValue is a Meta value as a Struct value. An int64 beyond 2^53 loses
// precision in the double a Struct holds; FromGRPC takes its digits from
// ErrorInfo instead, which is exact.
func wireValue(v any) *structpb.Value {
	switch v := v.(type) {
	case int64:
		return structpb.NewNumberValue(float64(v))
	case float64:
		return structpb.NewNumberValue(v)
	case bool:
		return structpb.NewBoolValue(v)
	}
	return structpb.NewStringValue(metaString(v))
}

// applyPrivate sets e's Meta, Status and Expected from a kitshop status's
// ErrorInfo metadata (info) and private detail (nil from an older peer).
func applyPrivate(e *Error, info map[string]string, private *structpb.Struct) {
	if private == nil {
		info = withoutLegacyFlags(e, info)
		e.Meta = metaFromWire(info, nil)
		return
	}
	f := private.GetFields()
	if n := f[privateStatus].GetNumberValue(); n >= 100 && n <= 999 && n == math.Trunc(n) {
		e.Status = int(n)
	}
	e.Expected = f[privateExpected].GetBoolValue()
	e.Meta = metaFromWire(info, f[privateMeta].GetStructValue())
}

// withoutLegacyFlags reads the flags an older peer put into ErrorInfo and
// returns the rest of the metadata.
func withoutLegacyFlags(e *Error, info map[string]string) map[string]string {
	_, hasStatus := info[legacyStatus]
	_, hasExpected := info[legacyExpected]
	if !hasStatus && !hasExpected {
		return info
	}
	if n, err := strconv.Atoi(info[legacyStatus]); err == nil && n >= 100 && n <= 999 {
		e.Status = n
	}
	e.Expected = info[legacyExpected] == "true"
	rest := make(map[string]string, len(info))
	for k, v := range info {
		if k != legacyStatus && k != legacyExpected {
			rest[k] = v
		}
	}
	return rest
}

// metaFromWire rebuilds Meta from ErrorInfo's strings and, when present,
// the private detail's typed values. The types come from the detail; the
// text decides between int64 and float64 (metaString writes floats with a
// fraction or exponent) and gives an int64 all its digits. A key without a
// typed value stays a string, which is all an older peer could send.
func metaFromWire(info map[string]string, typed *structpb.Struct) map[string]any {
	tv := typed.GetFields()
	if len(info) == 0 && len(tv) == 0 {
		return nil
	}
	meta := make(map[string]any, len(info)+len(tv))
	for k, s := range info {
		meta[k] = typedValue(s, true, tv[k])
	}
	for k, v := range tv {
		if _, ok := info[k]; !ok {
			meta[k] = typedValue("", false, v)
		}
	}
	return meta
}

// typedValue is the Meta value for text s (hasText false when ErrorInfo
// lacked the key) typed by v (nil when untyped).
func typedValue(s string, hasText bool, v *structpb.Value) any {
	switch k := v.GetKind().(type) {
	case *structpb.Value_StringValue:
		return k.StringValue
	case *structpb.Value_BoolValue:
		return k.BoolValue
	case *structpb.Value_NumberValue:
		n := k.NumberValue
		if !hasText {
			s = strconv.FormatFloat(n, 'f', -1, 64)
		}
		if i, err := strconv.ParseInt(s, 10, 64); err == nil {
			return i
		}
		return n
	}
	if !hasText {
		return ""
	}
	return s
}
