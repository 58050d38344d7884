package rest

import (
	"cmp"
	"encoding/base64"
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"google.golang.org/protobuf/reflect/protoreflect"
)

// appendMessage writes m as the JSON object API.md shows:
//   - every member of t, in declaration order, with its proto name;
//   - integers of every width as JSON numbers;
//   - enums by their short name (CAPTURED);
//   - Timestamps as RFC 3339 in UTC, Durations as "1.5s";
//   - an unset message, optional scalar or oneof member as null;
//   - an empty repeated field as [], an empty map as {}.
//
// Nothing is HTML-escaped, as in httpx.MarshalJSON. Errors are server
// bugs (a timestamp out of range, a NaN) and become a 500.
func appendMessage(b []byte, m protoreflect.Message, t *msgTable) ([]byte, error) {
	if t.wkt != wktNone {
		return appendTime(b, m, t)
	}
	b = append(b, '{')
	var err error
	for i, fi := range t.fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, fi.member...)
		if b, err = appendField(b, m, fi); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func appendField(b []byte, m protoreflect.Message, fi *fieldInfo) ([]byte, error) {
	fd := fi.fd
	var err error
	switch {
	case fd.IsMap():
		return appendMap(b, m.Get(fd).Map(), fi)
	case fd.IsList():
		l := m.Get(fd).List()
		b = append(b, '[')
		for i := range l.Len() {
			if i > 0 {
				b = append(b, ',')
			}
			if b, err = appendValue(b, l.Get(i), fd, fi); err != nil {
				return b, err
			}
		}
		return append(b, ']'), nil
	case fd.HasPresence() && !m.Has(fd):
		return append(b, "null"...), nil
	}
	return appendValue(b, m.Get(fd), fd, fi)
}

// appendMap writes a map with its keys sorted, so that a response is the
// same bytes every time.
func appendMap(b []byte, mp protoreflect.Map, fi *fieldInfo) ([]byte, error) {
	keys := make([]protoreflect.MapKey, 0, mp.Len())
	mp.Range(func(k protoreflect.MapKey, _ protoreflect.Value) bool {
		keys = append(keys, k)
		return true
	})
	slices.SortFunc(keys, compareKeys)
	b = append(b, '{')
	var err error
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k.String())
		b = append(b, ':')
		if b, err = appendValue(b, mp.Get(k), fi.mapValue, fi); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func compareKeys(a, b protoreflect.MapKey) int {
	switch a.Interface().(type) {
	case int32, int64:
		return cmp.Compare(a.Int(), b.Int())
	case uint32, uint64:
		return cmp.Compare(a.Uint(), b.Uint())
	case bool:
		return cmp.Compare(strconv.FormatBool(a.Bool()), strconv.FormatBool(b.Bool()))
	}
	return cmp.Compare(a.String(), b.String())
}

// appendValue writes one singular value of fd's kind (for a map, fd is the
// value field).
func appendValue(b []byte, v protoreflect.Value, fd protoreflect.FieldDescriptor, fi *fieldInfo) ([]byte, error) {
	switch {
	case fi.msg != nil:
		return appendMessage(b, v.Message(), fi.msg)
	case fi.enum != nil:
		if name, ok := fi.enum.names[v.Enum()]; ok {
			return appendString(b, name), nil
		}
		// A number this binary's descriptor does not know: newer than
		// us. The number is the only honest spelling.
		return strconv.AppendInt(b, int64(v.Enum()), 10), nil
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		return appendString(b, v.String()), nil
	case protoreflect.BoolKind:
		return strconv.AppendBool(b, v.Bool()), nil
	case protoreflect.BytesKind:
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, v.Bytes())
		return append(b, '"'), nil
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind,
		protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return strconv.AppendInt(b, v.Int(), 10), nil
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return strconv.AppendUint(b, v.Uint(), 10), nil
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return b, fmt.Errorf("rest: %s is %v, which JSON cannot express", fd.FullName(), f)
		}
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		return strconv.AppendFloat(b, f, 'g', -1, bits), nil
	}
	return b, fmt.Errorf("rest: %s has unsupported kind %v", fd.FullName(), fd.Kind())
}

// appendTime writes a Timestamp as RFC 3339 in UTC (the layout encoding/json
// gives a time.Time, so responses read as they did before kit/rest) or a
// Duration as protobuf's JSON mapping does ("1.5s").
func appendTime(b []byte, m protoreflect.Message, t *msgTable) ([]byte, error) {
	sec, nanos := m.Get(t.tsSeconds).Int(), m.Get(t.tsNanos).Int()
	switch t.wkt {
	case wktTimestamp:
		ts := time.Unix(sec, nanos).UTC()
		if nanos < 0 || nanos >= 1e9 || ts.Year() < 1 || ts.Year() > 9999 {
			return b, fmt.Errorf("rest: timestamp %d.%09d is out of RFC 3339's range", sec, nanos)
		}
		b = append(b, '"')
		b = ts.AppendFormat(b, time.RFC3339Nano)
		return append(b, '"'), nil
	default:
		if nanos <= -1e9 || nanos >= 1e9 || (sec > 0 && nanos < 0) || (sec < 0 && nanos > 0) {
			return b, fmt.Errorf("rest: duration %ds %dns is malformed", sec, nanos)
		}
		b = append(b, '"')
		if sec < 0 || nanos < 0 {
			b = append(b, '-')
			sec, nanos = -sec, -nanos
		}
		b = strconv.AppendInt(b, sec, 10)
		if nanos != 0 {
			frac := strconv.AppendInt(nil, nanos+1e9, 10)[1:] // nine digits
			for frac[len(frac)-1] == '0' {
				frac = frac[:len(frac)-1]
			}
			b = append(append(b, '.'), frac...)
		}
		return append(b, 's', '"'), nil
	}
}

// appendString quotes s. Almost every string in a response needs no
// escaping, so that case is a plain copy; the rest goes to jsontext, which
// escapes minimally (no HTML escaping) and replaces invalid UTF-8.
func appendString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' || c >= utf8.RuneSelf {
			if c >= utf8.RuneSelf && utf8.ValidString(s[i:]) && !needsEscape(s[i:]) {
				break
			}
			b, _ = jsontext.AppendQuote(b, s)
			return b
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == '"' || c == '\\' {
			return true
		}
	}
	return false
}
