package rest

import (
	"math"
	"strings"
	"time"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Integers and times are read the same way from a JSON body and from
// text (path, query, header), so their parsing lives here once.

// intProblem is what is wrong with an integer's text.
type intProblem uint8

const (
	intOK intProblem = iota
	intNotInteger
	intOutOfRange
	intNegative
)

// message is the complaint about an integer, in httpx.DecodeJSON's words;
// got ("JSON number 1.5") is appended where a body is being read.
func (p intProblem) message(got string) string {
	want, note := "must be an integer", ""
	switch p {
	case intOutOfRange:
		note = " (out of range)"
	case intNegative:
		want = "must be a non-negative integer"
	}
	if got != "" {
		return want + ", got " + got + note
	}
	return want + note
}

// parseInteger reads a JSON number (already well-formed) into an integer
// field of kind k. Fractions and exponents are refused even when their
// value is whole ("1.0", "1e3"): an integer member is written as one.
func parseInteger(k protoreflect.Kind, raw []byte) (protoreflect.Value, intProblem) {
	neg := len(raw) > 0 && raw[0] == '-'
	digits := raw
	if neg {
		digits = raw[1:]
	}
	if len(digits) == 0 {
		return protoreflect.Value{}, intNotInteger
	}
	var u uint64
	for _, c := range digits {
		if c < '0' || c > '9' {
			return protoreflect.Value{}, intNotInteger
		}
		if u > (math.MaxUint64-uint64(c-'0'))/10 {
			return protoreflect.Value{}, intOutOfRange
		}
		u = u*10 + uint64(c-'0')
	}
	switch k {
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		n, ok := signed(neg, u, math.MaxInt32)
		if !ok {
			return protoreflect.Value{}, intOutOfRange
		}
		return protoreflect.ValueOfInt32(int32(n)), intOK
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		n, ok := signed(neg, u, math.MaxInt64)
		if !ok {
			return protoreflect.Value{}, intOutOfRange
		}
		return protoreflect.ValueOfInt64(n), intOK
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		if neg && u != 0 {
			return protoreflect.Value{}, intNegative
		}
		if u > math.MaxUint32 {
			return protoreflect.Value{}, intOutOfRange
		}
		return protoreflect.ValueOfUint32(uint32(u)), intOK
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		if neg && u != 0 {
			return protoreflect.Value{}, intNegative
		}
		return protoreflect.ValueOfUint64(u), intOK
	}
	return protoreflect.Value{}, intNotInteger
}

// signed applies the sign to magnitude u, checking it fits [-max-1, max].
func signed(neg bool, u uint64, max uint64) (int64, bool) {
	if !neg {
		return int64(u), u <= max
	}
	if u > max+1 {
		return 0, false
	}
	return -int64(u-1) - 1, true
}

// setTime fills a Timestamp (RFC 3339) or Duration ("1.5s", "90s",
// "1m30s") from text, returning a client-facing complaint on failure.
func setTime(m protoreflect.Message, t *msgTable, s string) string {
	var sec int64
	var nanos int32
	switch t.wkt {
	case wktTimestamp:
		ts, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			return "must be an RFC 3339 timestamp, such as 2024-05-01T12:00:00Z"
		}
		if y := ts.UTC().Year(); y < 1 || y > 9999 {
			return "must be a timestamp between the years 0001 and 9999"
		}
		sec, nanos = ts.Unix(), int32(ts.Nanosecond())
	case wktDuration:
		d, err := time.ParseDuration(s)
		if err != nil || strings.TrimLeft(s, "+-0123456789.") == "" {
			return `must be a duration with a unit, such as "1.5s" or "90s"`
		}
		sec, nanos = int64(d/time.Second), int32(d%time.Second)
	}
	m.Set(t.tsSeconds, protoreflect.ValueOfInt64(sec))
	m.Set(t.tsNanos, protoreflect.ValueOfInt32(nanos))
	return ""
}
