package rest

import (
	"maps"
	"math"
	"slices"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// JSON Schemas (2020-12, OpenAPI 3.1's dialect) of the codec's JSON, built
// from the same tables the codec reads and writes with, so that the
// document cannot describe a shape the routes do not serve.
//
// A message type has two schemas, because the codec treats it two ways:
//   - as written (a response): every member present, in declaration
//     order; an unset message, optional scalar or oneof member is null;
//     repeated fields are arrays and maps objects, never null. Components
//     are named by the message's full name ("kitshop.orders.v1.Order").
//     They allow other members, so that a field added later does not make
//     a client that validates responses refuse them.
//   - as read (a request body): any member may be absent or null (null
//     leaves the field unset), except a route's Required ones; other
//     members are refused (400), hence additionalProperties false.
//     Components are named "<full name>-input": a hyphen is in no proto
//     name, so the two cannot collide.
//
// A route's own copy of a table (Hide, NotInBody, Rename, the fields its
// path, query and headers fill) is written inline; the types below it
// that no Spec changed are components.

const (
	schemaRef = "#/components/schemas/"
	// problemSchema is the component of every problem document.
	problemSchema = "Problem"
	// inputSuffix names the request-side component of a message type.
	inputSuffix = "-input"
)

type schemaGen struct {
	// schemas are the components built so far. A nil value is a
	// component being built: a recursive type refers to it by name.
	schemas map[string]any
}

func newSchemaGen() *schemaGen {
	return &schemaGen{schemas: map[string]any{problemSchema: problemDocument()}}
}

func ref(name string) map[string]any {
	return map[string]any{"$ref": schemaRef + name}
}

// shared reports whether t is the table of its message type that
// tableFor hands out, which every route shares and so has a component; a
// route's copy is described inline.
func shared(t *msgTable) bool {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	return tables[t.md.FullName()] == t
}

// message is the schema of a non-null value of t's type: written (a
// response) or read (in, a request).
func (g *schemaGen) message(t *msgTable, in bool) map[string]any {
	switch t.wkt {
	case wktTimestamp:
		// Written in UTC; read with any offset. Both are RFC 3339.
		return map[string]any{"type": "string", "format": "date-time"}
	case wktDuration:
		if in {
			return map[string]any{"type": "string", "description": `A duration with a unit, such as "1.5s", "90s" or "1m30s".`}
		}
		return map[string]any{"type": "string", "pattern": `^-?[0-9]+(\.[0-9]{1,9})?s$`}
	}
	if !shared(t) {
		return g.object(t, in, nil)
	}
	name := string(t.md.FullName())
	if in {
		name += inputSuffix
	}
	if _, ok := g.schemas[name]; !ok {
		g.schemas[name] = nil
		g.schemas[name] = g.object(t, in, nil)
	}
	return ref(name)
}

// body is the schema of a route's request body: t with required members.
func (g *schemaGen) body(t *msgTable, required []string) map[string]any {
	if len(required) == 0 {
		return g.message(t, true)
	}
	return g.object(t, true, required)
}

func (g *schemaGen) object(t *msgTable, in bool, required []string) map[string]any {
	props := make(map[string]any, len(t.fields))
	names := make([]string, 0, len(t.fields))
	for _, fi := range t.fields {
		props[fi.name] = g.member(fi, in, slices.Contains(required, fi.name))
		names = append(names, fi.name)
	}
	s := map[string]any{"type": "object", "properties": props}
	if d := oneofNote(t); d != "" {
		s["description"] = d
	}
	switch {
	case in:
		s["additionalProperties"] = false
		if len(required) > 0 {
			s["required"] = slices.Clone(required)
		}
	case len(names) > 0:
		// A response writes every member, unset ones as null.
		s["required"] = names
	}
	return s
}

// oneofNote says which members are a oneof's: at most one of them is
// set (not null), which the codec checks and the schema does not say.
func oneofNote(t *msgTable) string {
	var notes []string
	oneofs := t.md.Oneofs()
	for i := range oneofs.Len() {
		o := oneofs.Get(i)
		if o.IsSynthetic() {
			continue
		}
		var names []string
		for _, fi := range t.fields {
			if fi.oneof == o {
				names = append(names, fi.name)
			}
		}
		if len(names) > 1 {
			notes = append(notes, "At most one of "+strings.Join(names, ", ")+" is not null.")
		}
	}
	return strings.Join(notes, " ")
}

// member is the schema of one member's value, null included where the
// codec writes or reads it.
func (g *schemaGen) member(fi *fieldInfo, in, required bool) map[string]any {
	var s map[string]any
	nullable := false
	switch {
	case fi.fd.IsMap():
		s = map[string]any{"type": "object", "additionalProperties": g.value(fi.mapValue, fi, in)}
		if names := keyNames(fi.mapKey); names != nil {
			s["propertyNames"] = names
		}
	case fi.fd.IsList():
		s = map[string]any{"type": "array", "items": g.value(fi.fd, fi, in)}
	default:
		s = g.value(fi.fd, fi, in)
		// Written as null when unset: messages, optional scalars, oneof
		// members (every field with presence).
		nullable = !in && fi.fd.HasPresence()
	}
	if in && !required {
		// Read: null leaves any member unset, lists and maps included.
		nullable = true
	}
	if nullable {
		s = orNull(s)
	}
	return s
}

// value is the schema of one non-null value of fd's kind (for a map, fd
// is the value field), as a member, list element, map value or text.
func (g *schemaGen) value(fd protoreflect.FieldDescriptor, fi *fieldInfo, in bool) map[string]any {
	switch {
	case fi.msg != nil:
		return g.message(fi.msg, in)
	case fi.enum != nil:
		return g.enum(fi.enum)
	}
	return scalar(fd.Kind())
}

// text is the schema of a path variable, query parameter or header: a
// scalar read from text, or an array of them for a repeated field filled
// by a repeated parameter.
func (g *schemaGen) text(fi *fieldInfo) map[string]any {
	s := g.value(fi.fd, fi, true)
	if fi.fd.IsList() {
		return map[string]any{"type": "array", "items": s}
	}
	return s
}

// enum is a component listing every value name the codec reads, without
// the type prefix. The zero value (UNSPECIFIED) is among them: the codec
// reads its name and writes it for an unset field. (A number this
// binary's descriptor does not know is written as a number, which the
// schema leaves out: it takes a server newer than the document.)
func (g *schemaGen) enum(e *enumTable) map[string]any {
	name := string(e.ed.FullName())
	if _, ok := g.schemas[name]; !ok {
		g.schemas[name] = map[string]any{"type": "string", "enum": strings.Split(e.allowed, ", ")}
	}
	return ref(name)
}

// scalar is the schema of a scalar kind: integers of every width are
// JSON numbers, bytes are standard base64.
func scalar(k protoreflect.Kind) map[string]any {
	switch k {
	case protoreflect.StringKind:
		return map[string]any{"type": "string"}
	case protoreflect.BoolKind:
		return map[string]any{"type": "boolean"}
	case protoreflect.BytesKind:
		return map[string]any{"type": "string", "contentEncoding": "base64"}
	case protoreflect.Int32Kind, protoreflect.Sint32Kind, protoreflect.Sfixed32Kind:
		return map[string]any{"type": "integer", "format": "int32"}
	case protoreflect.Int64Kind, protoreflect.Sint64Kind, protoreflect.Sfixed64Kind:
		return map[string]any{"type": "integer", "format": "int64"}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind:
		return map[string]any{"type": "integer", "format": "int64", "minimum": 0, "maximum": uint64(math.MaxUint32)}
	case protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		// No format: int64 would be a lie above 2^63.
		return map[string]any{"type": "integer", "minimum": 0, "maximum": uint64(math.MaxUint64)}
	case protoreflect.FloatKind:
		return map[string]any{"type": "number", "format": "float"}
	case protoreflect.DoubleKind:
		return map[string]any{"type": "number", "format": "double"}
	}
	// Unreachable: tableFor refuses no kind that the codec cannot write,
	// and every other kind is a message or enum.
	return map[string]any{}
}

// keyNames constrains a map's member names by the key's type.
func keyNames(fd protoreflect.FieldDescriptor) map[string]any {
	switch fd.Kind() {
	case protoreflect.StringKind:
		return nil
	case protoreflect.BoolKind:
		return map[string]any{"enum": []string{"true", "false"}}
	case protoreflect.Uint32Kind, protoreflect.Fixed32Kind, protoreflect.Uint64Kind, protoreflect.Fixed64Kind:
		return map[string]any{"pattern": "^[0-9]+$"}
	}
	return map[string]any{"pattern": "^-?[0-9]+$"}
}

// orNull is s or null: a type list where s is one plain type, else oneOf
// (a $ref, an enum).
func orNull(s map[string]any) map[string]any {
	if t, ok := s["type"].(string); ok && s["enum"] == nil && s["const"] == nil {
		c := maps.Clone(s)
		c["type"] = []string{t, "null"}
		return c
	}
	return map[string]any{"oneOf": []any{s, map[string]any{"type": "null"}}}
}

// problemDocument is the schema of httpx.Problem as written: RFC 9457's
// members (type, title and status always), kitshop's code, trace_id and
// errors, and any other members an error's metadata adds
// (INSUFFICIENT_STOCK's product_id and available).
func problemDocument() map[string]any {
	str := func(desc string) map[string]any {
		s := map[string]any{"type": "string"}
		if desc != "" {
			s["description"] = desc
		}
		return s
	}
	uri := map[string]any{"type": "string", "format": "uri-reference"}
	return map[string]any{
		"type":        "object",
		"description": "An RFC 9457 problem document. Members other than these carry the error's details.",
		"required":    []string{"type", "title", "status"},
		"properties": map[string]any{
			"type":     uri,
			"title":    str(""),
			"status":   map[string]any{"type": "integer", "minimum": 400, "maximum": 599},
			"detail":   str(""),
			"instance": uri,
			"code":     str("The stable, machine-readable reason (INSUFFICIENT_STOCK)."),
			"trace_id": str("The request's trace."),
			"errors": map[string]any{
				"type":        "array",
				"description": "The field violations of a 400 VALIDATION_FAILED.",
				"items": map[string]any{
					"type":     "object",
					"required": []string{"field", "message"},
					"properties": map[string]any{
						"field":   str(`The member's path, as sent ("items[0].quantity").`),
						"message": str(""),
					},
				},
			},
		},
	}
}
