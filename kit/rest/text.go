package rest

import (
	"encoding/base64"
	"fmt"
	"strconv"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kitshop/kitshop/kit/netx"
)

// Path variables, query parameters, headers and map keys arrive as text.
// These read them by the field they fill, with the same rules as a JSON
// body (an integer is written as one, an enum by its short name).

// textField checks at start-up that fi can be filled from text: a scalar,
// an enum, a Timestamp or Duration, or a list of those (from repeated
// query parameters).
func textField(fi *fieldInfo) error {
	if fi.fd.IsMap() {
		return fmt.Errorf("rest: map field %s cannot be filled from text", fi.fd.FullName())
	}
	if fi.msg != nil && fi.msg.wkt == wktNone {
		return fmt.Errorf("rest: message field %s cannot be filled from text", fi.fd.FullName())
	}
	return nil
}

// setText fills fi in m from s, returning a client-facing complaint on
// failure. A list field gets s appended.
func setText(m protoreflect.Message, fi *fieldInfo, s string) string {
	var v protoreflect.Value
	if fi.msg != nil { // Timestamp or Duration
		if fi.fd.IsList() {
			v = m.Mutable(fi.fd).List().NewElement()
		} else {
			v = m.NewField(fi.fd)
		}
		if msg := setTime(v.Message(), fi.msg, s); msg != "" {
			return msg
		}
	} else {
		var msg string
		if v, msg = parseText(fi.fd, fi.enum, s); msg != "" {
			return msg
		}
	}
	if fi.fd.IsList() {
		m.Mutable(fi.fd).List().Append(v)
		return ""
	}
	m.Set(fi.fd, v)
	return ""
}

// parseText reads s as a value of fd's scalar kind (enum included).
func parseText(fd protoreflect.FieldDescriptor, enum *enumTable, s string) (protoreflect.Value, string) {
	if enum != nil {
		n, ok := enum.byName[s]
		if !ok {
			return protoreflect.Value{}, fmt.Sprintf("must be one of %s", enum.allowed)
		}
		return protoreflect.ValueOfEnum(n), ""
	}
	switch k := fd.Kind(); k {
	case protoreflect.StringKind:
		if msg := netx.TextViolation(s, false); msg != "" {
			return protoreflect.Value{}, msg
		}
		return protoreflect.ValueOfString(s), ""
	case protoreflect.BoolKind:
		switch s {
		case "true":
			return protoreflect.ValueOfBool(true), ""
		case "false":
			return protoreflect.ValueOfBool(false), ""
		}
		return protoreflect.Value{}, "must be true or false"
	case protoreflect.BytesKind:
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return protoreflect.Value{}, "must be standard base64"
		}
		return protoreflect.ValueOfBytes(b), ""
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		bits := 64
		if k == protoreflect.FloatKind {
			bits = 32
		}
		f, err := strconv.ParseFloat(s, bits)
		if err != nil {
			return protoreflect.Value{}, "must be a number"
		}
		if bits == 32 {
			return protoreflect.ValueOfFloat32(float32(f)), ""
		}
		return protoreflect.ValueOfFloat64(f), ""
	}
	v, p := parseInteger(fd.Kind(), []byte(s))
	if p != intOK {
		return v, p.message("")
	}
	return v, ""
}
