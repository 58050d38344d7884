package errs

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// metaValue maps v onto one of the Meta types.
func metaValue(v any) any {
	switch v := v.(type) {
	case string, int64, bool:
		return v
	case int:
		return int64(v)
	case int8:
		return int64(v)
	case int16:
		return int64(v)
	case int32:
		return int64(v)
	case uint8:
		return int64(v)
	case uint16:
		return int64(v)
	case uint32:
		return int64(v)
	case uint:
		if uint64(v) <= math.MaxInt64 {
			return int64(v)
		}
	case uint64:
		if v <= math.MaxInt64 {
			return int64(v)
		}
	case float64:
		if !math.IsNaN(v) && !math.IsInf(v, 0) {
			return v
		}
	case float32:
		f := float64(v)
		if !math.IsNaN(f) && !math.IsInf(f, 0) {
			// Going through the shortest float32 text keeps 0.1 as 0.1
			// instead of float64(float32(0.1)) = 0.10000000149011612.
			if g, err := strconv.ParseFloat(strconv.FormatFloat(f, 'g', -1, 32), 64); err == nil {
				return g
			}
			return f
		}
	}
	return fmt.Sprint(v)
}

// metaString is the text form of a Meta value: what ErrorInfo metadata,
// which only holds strings, carries. A float always shows a fraction or an
// exponent ("2.0", not "2") so that its text alone tells it from an
// integer; FromGRPC relies on that to restore int64 and float64 exactly.
func metaString(v any) string {
	switch v := metaValue(v).(type) {
	case string:
		return v
	case int64:
		return strconv.FormatInt(v, 10)
	case bool:
		return strconv.FormatBool(v)
	case float64:
		s := strconv.FormatFloat(v, 'g', -1, 64)
		if !strings.ContainsAny(s, ".e") {
			s += ".0"
		}
		return s
	}
	return "" // unreachable: metaValue returns one of the cases above
}

// MetaString is the text form of the Meta value under key ("15" for the
// integer 15), or "" when there is none. It is what plain gRPC clients
// read from ErrorInfo metadata, and a convenient way to get an identifier
// such as payment_id back as a string.
func (e *Error) MetaString(key string) string {
	v, ok := e.Meta[key]
	if !ok {
		return ""
	}
	return metaString(v)
}

// MetaValues returns e.Meta with every value normalised to one of the Meta
// types, for encoders: code may have filled Meta directly rather than
// through With. It returns nil when there is no metadata.
func (e *Error) MetaValues() map[string]any {
	if len(e.Meta) == 0 {
		return nil
	}
	out := make(map[string]any, len(e.Meta))
	for k, v := range e.Meta {
		out[k] = metaValue(v)
	}
	return out
}
