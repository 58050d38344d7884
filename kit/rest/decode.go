package rest

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/netx"
)

// strictJSON are the tokenizer's options. They are the library's defaults
// today, spelt out because the contract depends on them: duplicate member
// names and invalid UTF-8 are refused (as httpx.DecodeJSON refuses them).
var strictJSON = []jsontext.Options{
	jsontext.AllowDuplicateNames(false),
	jsontext.AllowInvalidUTF8(false),
}

// decodeBody fills m from r's JSON body with the rules of httpx.DecodeJSON
// (415, 413, 400 with field paths), reading members by t.
func decodeBody(r *http.Request, m protoreflect.Message, t *msgTable, mem *Members) error {
	body, err := httpx.OpenJSONBody(r)
	if err != nil {
		return err
	}
	return decodeJSON(jsontext.NewDecoder(body, strictJSON...), m, t, mem)
}

func decodeJSON(dec *jsontext.Decoder, m protoreflect.Message, t *msgTable, mem *Members) error {
	d := decoder{dec: dec}
	if err := d.object(m, t, mem); err != nil {
		return classify(err)
	}
	return httpx.CheckJSONEnd(dec)
}

type decoder struct {
	dec *jsontext.Decoder
	// name is scratch space for member names that need unescaping.
	name []byte
}

// enter reads the token that opens a composite of kind k ('{' or '['), or
// reads the value there and complains that it is not want.
func (d *decoder) enter(k jsontext.Kind, want string) error {
	switch d.dec.PeekKind() {
	case k, 0: // 0: an error, which ReadToken reports
		_, err := d.dec.ReadToken()
		return err
	}
	raw, err := d.dec.ReadValue()
	if err != nil {
		return err
	}
	return d.wrongKind(raw, want)
}

// more reports whether the composite being read has another member or
// element. At its end it reads the closing token, and on a syntax error or
// the end of input it reports the error.
func (d *decoder) more() (bool, error) {
	switch d.dec.PeekKind() {
	case '}', ']', 0:
		_, err := d.dec.ReadToken()
		return false, err
	}
	return true, nil
}

// object reads one JSON object into m. mem, when not nil, records the
// members it saw (only the top level does).
func (d *decoder) object(m protoreflect.Message, t *msgTable, mem *Members) error {
	if err := d.enter('{', "an object"); err != nil {
		return err
	}
	for {
		if more, err := d.more(); !more {
			return err
		}
		raw, err := d.dec.ReadValue()
		if err != nil {
			return err
		}
		fi := d.lookup(t, raw)
		if fi == nil {
			// Every declared name is plain text, so only an unknown one
			// can hold a control character; it is refused as text, as
			// httpx.DecodeJSON refuses it, before being unknown.
			if err := d.checkName(raw); err != nil {
				return err
			}
			return httpx.UnknownField(d.dec.StackPointer())
		}
		if err := d.member(m, fi, mem); err != nil {
			return err
		}
	}
}

// lookup finds the member named by raw, a quoted JSON name. Names without
// escapes (all real ones) are looked up without allocating.
func (d *decoder) lookup(t *msgTable, raw []byte) *fieldInfo {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return t.byName[string(inner)]
	}
	var err error
	if d.name, err = jsontext.AppendUnquote(d.name[:0], raw); err != nil {
		return nil
	}
	return t.byName[string(d.name)]
}

func (d *decoder) member(m protoreflect.Message, fi *fieldInfo, mem *Members) error {
	if d.dec.PeekKind() == 'n' {
		// null leaves the field unset, as in proto3's JSON mapping: an
		// optional scalar stays absent, a message field nil. Hooks can
		// still tell null from absence through mem.
		if _, err := d.dec.ReadValue(); err != nil {
			return err
		}
		if mem != nil {
			mem.list = append(mem.list, member{name: fi.name, null: true})
		}
		return nil
	}
	if mem != nil {
		mem.list = append(mem.list, member{name: fi.name})
	}
	if fi.oneof != nil {
		if set := m.WhichOneof(fi.oneof); set != nil {
			return d.bad(fmt.Sprintf("cannot be set together with %s", set.Name()))
		}
	}
	switch {
	case fi.fd.IsMap():
		return d.mapValue(m.Mutable(fi.fd).Map(), fi)
	case fi.fd.IsList():
		return d.list(m.Mutable(fi.fd).List(), fi)
	}
	var v protoreflect.Value
	if fi.msg != nil {
		v = m.NewField(fi.fd)
	}
	v, err := d.value(fi.fd, fi.msg, fi.enum, v)
	if err != nil {
		return err
	}
	m.Set(fi.fd, v)
	return nil
}

func (d *decoder) list(l protoreflect.List, fi *fieldInfo) error {
	if err := d.enter('[', "an array"); err != nil {
		return err
	}
	for {
		if more, err := d.more(); !more {
			return err
		}
		var v protoreflect.Value
		if fi.msg != nil {
			v = l.NewElement()
		}
		v, err := d.value(fi.fd, fi.msg, fi.enum, v)
		if err != nil {
			return err
		}
		l.Append(v)
	}
}

func (d *decoder) mapValue(mp protoreflect.Map, fi *fieldInfo) error {
	if err := d.enter('{', "an object"); err != nil {
		return err
	}
	for {
		if more, err := d.more(); !more {
			return err
		}
		raw, err := d.dec.ReadValue()
		if err != nil {
			return err
		}
		key, err := unquote(raw)
		if err != nil {
			return err
		}
		// A key is an identifier: single-line text, refused as text
		// (VALIDATION_FAILED) before it is parsed by the key's type.
		if msg := netx.TextViolation(key, false); msg != "" {
			return d.invalidText("member name " + msg)
		}
		k, msg := parseText(fi.mapKey, nil, key)
		if msg != "" {
			return d.bad("invalid key: " + msg)
		}
		var v protoreflect.Value
		if fi.msg != nil {
			v = mp.NewValue()
		}
		v, err = d.value(fi.mapValue, fi.msg, fi.enum, v)
		if err != nil {
			return err
		}
		mp.Set(k.MapKey(), v)
	}
}

// value reads one non-null JSON value of a field's kind. For message kinds
// nv is a new, empty message value to fill.
func (d *decoder) value(fd protoreflect.FieldDescriptor, msg *msgTable, enum *enumTable, nv protoreflect.Value) (protoreflect.Value, error) {
	if msg != nil && msg.wkt == wktNone {
		return nv, d.object(nv.Message(), msg, nil)
	}
	raw, err := d.dec.ReadValue()
	if err != nil {
		return protoreflect.Value{}, err
	}
	switch {
	case msg != nil: // Timestamp or Duration: a string
		s, err := d.stringValue(raw, "a string")
		if err != nil {
			return nv, err
		}
		if msg := setTime(nv.Message(), msg, s); msg != "" {
			return nv, d.bad(msg)
		}
		return nv, nil
	case enum != nil:
		s, err := d.stringValue(raw, "a string")
		if err != nil {
			return protoreflect.Value{}, err
		}
		n, ok := enum.byName[s]
		if !ok {
			return protoreflect.Value{}, d.bad(fmt.Sprintf("must be one of %s, got %q", enum.allowed, httpx.Truncate(s, 32)))
		}
		return protoreflect.ValueOfEnum(n), nil
	}
	switch fd.Kind() {
	case protoreflect.StringKind:
		s, err := d.stringValue(raw, "a string")
		if err != nil {
			return protoreflect.Value{}, err
		}
		return protoreflect.ValueOfString(s), nil
	case protoreflect.BytesKind:
		s, err := d.stringValue(raw, "a base64 string")
		if err != nil {
			return protoreflect.Value{}, err
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return protoreflect.Value{}, d.bad("must be standard base64")
		}
		return protoreflect.ValueOfBytes(b), nil
	case protoreflect.BoolKind:
		switch raw[0] {
		case 't':
			return protoreflect.ValueOfBool(true), nil
		case 'f':
			return protoreflect.ValueOfBool(false), nil
		}
		return protoreflect.Value{}, d.wrongKind(raw, "a boolean")
	case protoreflect.FloatKind, protoreflect.DoubleKind:
		if kindOf(raw) != '0' {
			return protoreflect.Value{}, d.wrongKind(raw, "a number")
		}
		bits := 64
		if fd.Kind() == protoreflect.FloatKind {
			bits = 32
		}
		f, err := strconv.ParseFloat(string(raw), bits)
		if err != nil {
			return protoreflect.Value{}, d.bad("must be a number, got " + httpx.GotJSON('0', raw) + " (out of range)")
		}
		if bits == 32 {
			return protoreflect.ValueOfFloat32(float32(f)), nil
		}
		return protoreflect.ValueOfFloat64(f), nil
	}
	if kindOf(raw) != '0' {
		return protoreflect.Value{}, d.wrongKind(raw, "an integer")
	}
	v, p := parseInteger(fd.Kind(), raw)
	if p != intOK {
		return protoreflect.Value{}, d.bad(p.message(httpx.GotJSON('0', raw)))
	}
	return v, nil
}

// stringValue unquotes a JSON string value, or complains that the value
// is not one. Every string a body holds (text, enum names, timestamps,
// base64) passes kit/netx's one rule for text first: a NUL byte reaching
// Postgres was a 500, and five of them shut login.
func (d *decoder) stringValue(raw []byte, want string) (string, error) {
	if raw[0] != '"' {
		return "", d.wrongKind(raw, want)
	}
	s, err := unquote(raw)
	if err != nil {
		return "", err
	}
	if msg := netx.TextViolation(s, true); msg != "" {
		return "", d.invalidText(msg)
	}
	return s, nil
}

// checkName refuses a member name, raw and quoted, that holds a control
// character.
func (d *decoder) checkName(raw []byte) error {
	name, err := unquote(raw)
	if err != nil {
		return err
	}
	if msg := netx.TextViolation(name, true); msg != "" {
		return d.invalidText("member name " + msg)
	}
	return nil
}

func unquote(raw []byte) (string, error) {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner), nil
	}
	b, err := jsontext.AppendUnquote(nil, raw)
	return string(b), err
}

// wrongKind says what the member should have been: "must be an integer,
// got JSON string", as httpx.DecodeJSON does.
func (d *decoder) wrongKind(raw []byte, want string) error {
	return d.bad("must be " + want + ", got " + httpx.GotJSON(kindOf(raw), raw))
}

func kindOf(raw []byte) jsontext.Kind {
	switch c := raw[0]; c {
	case '"', 't', 'f', 'n', '{', '[':
		return jsontext.Kind(c)
	}
	return '0'
}
