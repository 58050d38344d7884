package rest

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"unicode"

	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kitshop/kitshop/kit/errs"
)

// msgTable is everything the codec needs to know about one message type,
// worked out once from its descriptor so that a request only does map
// lookups and protoreflect gets and sets.
//
// A plain table (tableFor) has every field of the message. A route that
// hides fields or keeps them out of a body gets a copy without them
// (without), so the choice costs nothing per request either.
type msgTable struct {
	md  protoreflect.MessageDescriptor
	wkt wellKnown
	// fields are the JSON members, in declaration order (the order a
	// response writes them in).
	fields []*fieldInfo
	// byName finds a member by its exact proto field name.
	byName map[string]*fieldInfo
	// tsSeconds, tsNanos are the two fields of a Timestamp or Duration.
	tsSeconds, tsNanos protoreflect.FieldDescriptor
}

// wellKnown marks the google.protobuf types whose JSON form is a string.
type wellKnown uint8

const (
	wktNone wellKnown = iota
	wktTimestamp
	wktDuration
)

// fieldInfo is one member of a message table.
type fieldInfo struct {
	fd   protoreflect.FieldDescriptor
	name string
	// member is `"name":`, ready to append.
	member []byte
	// msg is the table of a message field (or of a map's message values).
	msg *msgTable
	// enum is the table of an enum field (or of a map's enum values).
	enum *enumTable
	// mapKey and mapValue describe a map field's entries.
	mapKey, mapValue protoreflect.FieldDescriptor
	// oneof is the real (not synthetic) oneof the field belongs to.
	oneof protoreflect.OneofDescriptor
}

// enumTable spells an enum's values as API.md does: the value name without
// the enum's type prefix (PAYMENT_STATUS_CAPTURED is "CAPTURED").
type enumTable struct {
	ed      protoreflect.EnumDescriptor
	byName  map[string]protoreflect.EnumNumber
	names   map[protoreflect.EnumNumber]string
	allowed string // "CAPTURED, DECLINED, ...", for error messages
}

var (
	tablesMu sync.Mutex
	tables   = map[protoreflect.FullName]*msgTable{}
	enums    = map[protoreflect.FullName]*enumTable{}
)

// tableFor returns the plain table of md, building it (and the tables of
// every message it refers to) on first use.
func tableFor(md protoreflect.MessageDescriptor) (*msgTable, error) {
	tablesMu.Lock()
	defer tablesMu.Unlock()
	return buildTable(md)
}

// buildTable must be called with tablesMu held. A recursive message type
// finds its own, still incomplete, table in the cache, which is how the
// recursion ends; on error the cache entry is removed again.
func buildTable(md protoreflect.MessageDescriptor) (*msgTable, error) {
	if t, ok := tables[md.FullName()]; ok {
		return t, nil
	}
	t := &msgTable{md: md}
	tables[md.FullName()] = t
	if err := fillTable(t); err != nil {
		delete(tables, md.FullName())
		return nil, err
	}
	return t, nil
}

func fillTable(t *msgTable) error {
	md := t.md
	switch md.FullName() {
	case "google.protobuf.Timestamp":
		t.wkt = wktTimestamp
	case "google.protobuf.Duration":
		t.wkt = wktDuration
	}
	if t.wkt != wktNone {
		t.tsSeconds, t.tsNanos = md.Fields().ByName("seconds"), md.Fields().ByName("nanos")
		return nil
	}
	if strings.HasPrefix(string(md.FullName()), "google.protobuf.") {
		// Struct, Any, wrappers...: each has a JSON form of its own that
		// kitshop's API does not use. Refusing them at start-up beats
		// inventing a shape by accident.
		return fmt.Errorf("rest: %s has no REST mapping", md.FullName())
	}
	fields := md.Fields()
	t.fields = make([]*fieldInfo, 0, fields.Len())
	t.byName = make(map[string]*fieldInfo, fields.Len())
	for i := range fields.Len() {
		fi, err := newFieldInfo(fields.Get(i))
		if err != nil {
			return err
		}
		t.fields = append(t.fields, fi)
		t.byName[fi.name] = fi
	}
	return nil
}

func newFieldInfo(fd protoreflect.FieldDescriptor) (*fieldInfo, error) {
	name := string(fd.Name())
	fi := &fieldInfo{fd: fd, name: name, member: []byte(`"` + name + `":`)}
	if o := fd.ContainingOneof(); o != nil && !o.IsSynthetic() {
		fi.oneof = o
	}
	vd := fd
	if fd.IsMap() {
		fi.mapKey, fi.mapValue = fd.MapKey(), fd.MapValue()
		vd = fd.MapValue()
	}
	var err error
	switch vd.Kind() {
	case protoreflect.MessageKind, protoreflect.GroupKind:
		fi.msg, err = buildTable(vd.Message())
	case protoreflect.EnumKind:
		fi.enum, err = enumFor(vd.Enum())
	}
	if err != nil {
		return nil, fmt.Errorf("%w (field %s)", err, fd.FullName())
	}
	return fi, nil
}

// enumFor must be called with tablesMu held.
func enumFor(ed protoreflect.EnumDescriptor) (*enumTable, error) {
	if e, ok := enums[ed.FullName()]; ok {
		return e, nil
	}
	prefix := screamingSnake(string(ed.Name())) + "_"
	values := ed.Values()
	e := &enumTable{
		ed:     ed,
		byName: make(map[string]protoreflect.EnumNumber, values.Len()),
		names:  make(map[protoreflect.EnumNumber]string, values.Len()),
	}
	var list []string
	for i := range values.Len() {
		v := values.Get(i)
		name := strings.TrimPrefix(string(v.Name()), prefix)
		if _, dup := e.byName[name]; dup {
			return nil, fmt.Errorf("rest: enum %s: two values are spelt %q without the %s prefix", ed.FullName(), name, prefix)
		}
		e.byName[name] = v.Number()
		if _, alias := e.names[v.Number()]; !alias {
			e.names[v.Number()] = name
		}
		list = append(list, name)
	}
	e.allowed = strings.Join(list, ", ")
	enums[ed.FullName()] = e
	return e, nil
}

// screamingSnake spells an enum type name the way its values are
// prefixed by convention (buf's ENUM_VALUE_PREFIX rule):
// PaymentStatus -> PAYMENT_STATUS, HTTPMethod -> HTTP_METHOD.
func screamingSnake(s string) string {
	r := []rune(s)
	var b strings.Builder
	for i, c := range r {
		if i > 0 && unicode.IsUpper(c) {
			prevLower := unicode.IsLower(r[i-1]) || unicode.IsDigit(r[i-1])
			acronymEnd := unicode.IsUpper(r[i-1]) && i+1 < len(r) && unicode.IsLower(r[i+1])
			if prevLower || acronymEnd {
				b.WriteByte('_')
			}
		}
		b.WriteRune(unicode.ToUpper(c))
	}
	return b.String()
}

// without returns a copy of t lacking the fields at paths ("id",
// "user.email"), copying only the tables along each path; shared tables
// are never changed. It fails on a path that names no field.
func (t *msgTable) without(paths []string) (*msgTable, error) {
	if len(paths) == 0 {
		return t, nil
	}
	out := t
	for _, p := range paths {
		var err error
		if out, err = out.drop(strings.Split(p, "."), p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (t *msgTable) drop(path []string, full string) (*msgTable, error) {
	fi := t.byName[path[0]]
	if fi == nil {
		return nil, fmt.Errorf("rest: %s has no field %q (in %q)", t.md.FullName(), path[0], full)
	}
	c := &msgTable{md: t.md, wkt: t.wkt, byName: make(map[string]*fieldInfo, len(t.byName))}
	for _, f := range t.fields {
		if f == fi && len(path) == 1 {
			continue
		}
		if f == fi {
			if f.msg == nil || f.msg.wkt != wktNone || f.fd.IsMap() {
				return nil, fmt.Errorf("rest: %s.%s is not a message with fields (in %q)", t.md.FullName(), f.name, full)
			}
			sub, err := f.msg.drop(path[1:], full)
			if err != nil {
				return nil, err
			}
			cp := *f
			cp.msg = sub
			f = &cp
		}
		c.fields = append(c.fields, f)
		c.byName[f.name] = f
	}
	return c, nil
}

// field finds a top-level field of t by name, for bindings.
func (t *msgTable) field(name string) (*fieldInfo, error) {
	fi := t.byName[name]
	if fi == nil {
		return nil, fmt.Errorf("rest: %s has no field %q", t.md.FullName(), name)
	}
	return fi, nil
}

// renamed returns a copy of t in which the field at path (proto names,
// "payment.number") is the member name, copying only the tables along
// the path, as drop does. It fails on a path that names no field and on a
// name another member of that message already has.
func (t *msgTable) renamed(path []string, full, name string) (*msgTable, error) {
	fi := t.byName[path[0]]
	if fi == nil || string(fi.fd.Name()) != path[0] {
		// A member renamed before no longer answers to its proto name;
		// renaming it twice is a mistake as well.
		return nil, fmt.Errorf("rest: %s has no member %q (in %q)", t.md.FullName(), path[0], full)
	}
	if len(path) == 1 {
		if !plainName(name) || (t.byName[name] != nil && t.byName[name] != fi) {
			return nil, fmt.Errorf("rest: %s cannot call %s %q: the name is not plain snake_case or is taken", t.md.FullName(), path[0], name)
		}
	} else if fi.msg == nil || fi.msg.wkt != wktNone || fi.fd.IsMap() {
		return nil, fmt.Errorf("rest: %s.%s is not a message with fields (in %q)", t.md.FullName(), fi.name, full)
	}
	c := &msgTable{md: t.md, wkt: t.wkt, byName: make(map[string]*fieldInfo, len(t.byName))}
	for _, f := range t.fields {
		if f == fi {
			cp := *f
			if len(path) == 1 {
				cp.name, cp.member = name, []byte(`"`+name+`":`)
			} else {
				sub, err := f.msg.renamed(path[1:], full, name)
				if err != nil {
					return nil, err
				}
				cp.msg = sub
			}
			f = &cp
		}
		c.fields = append(c.fields, f)
		c.byName[f.name] = f
	}
	return c, nil
}

// plainName reports whether s is a member name that needs no quoting:
// lower-case letters, digits and underscores, as proto field names are.
func plainName(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return s != ""
}

// rename is one Spec.Rename entry: a field's proto path and its member
// name.
type rename struct {
	path []string
	name string
}

// renameViolations is err with the field violations that name a renamed
// field by its proto path ("payment.number", or "items[0].x" for a path
// items.x) naming it by its member name instead. err is not changed: a
// copy is returned when anything is renamed.
func renameViolations(err error, renames []rename) error {
	e := errs.As(err)
	if e == nil || len(e.Fields) == 0 {
		return err
	}
	var fields []errs.FieldViolation
	for i, f := range e.Fields {
		renamed := renameField(f.Field, renames)
		if renamed == f.Field {
			continue
		}
		if fields == nil {
			fields = slices.Clone(e.Fields)
		}
		fields[i].Field = renamed
	}
	if fields == nil {
		return err
	}
	c := *e
	c.Fields = fields
	// A message errs.Invalid wrote names the fields too: it follows them.
	if e.Message == errs.Invalid(e.Fields...).Message {
		c.Message = errs.Invalid(fields...).Message
	}
	return &c
}

func renameField(field string, renames []rename) string {
	segs := strings.Split(field, ".")
	changed := false
	for _, r := range renames {
		if len(segs) < len(r.path) {
			continue
		}
		match := true
		for i, p := range r.path {
			if name, _, _ := strings.Cut(segs[i], "["); name != p {
				match = false
				break
			}
		}
		if match {
			last := len(r.path) - 1
			_, index, indexed := strings.Cut(segs[last], "[")
			segs[last] = r.name
			if indexed {
				segs[last] += "[" + index
			}
			changed = true
		}
	}
	if !changed {
		return field
	}
	return strings.Join(segs, ".")
}
