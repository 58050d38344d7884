package rest

import (
	"encoding/json"
	"fmt"

	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// detailMember is how one type of error detail becomes a problem member.
type detailMember struct {
	name  string
	table *msgTable
}

// compileDetails resolves Spec.ErrorDetails: each type must be a message
// this binary links in, with a REST mapping, under a member name that is
// not one of the problem's standard members.
func compileDetails(spec map[protoreflect.FullName]string) (map[protoreflect.FullName]detailMember, error) {
	if len(spec) == 0 {
		return nil, nil
	}
	out := make(map[protoreflect.FullName]detailMember, len(spec))
	for full, name := range spec {
		if !plainName(name) || standardProblemMembers[name] {
			return nil, fmt.Errorf("ErrorDetails: %s: member %q is not a plain name, or is a standard problem member", full, name)
		}
		d, err := protoregistry.GlobalFiles.FindDescriptorByName(full)
		if err != nil {
			return nil, fmt.Errorf("ErrorDetails: %s: %w", full, err)
		}
		md, ok := d.(protoreflect.MessageDescriptor)
		if !ok {
			return nil, fmt.Errorf("ErrorDetails: %s is not a message", full)
		}
		t, err := tableFor(md)
		if err != nil {
			return nil, fmt.Errorf("ErrorDetails: %w", err)
		}
		out[full] = detailMember{name: name, table: t}
	}
	return out, nil
}

// standardProblemMembers are RFC 9457's and kitshop's own problem
// members (httpx.Problem): a detail may not pose as one.
var standardProblemMembers = map[string]bool{
	"type": true, "title": true, "status": true, "detail": true, "instance": true,
	"code": true, "trace_id": true, "errors": true,
}

// addDetails adds e's details that the route renders to p. A detail that
// does not encode (a server bug) is left out and the problem still goes.
func addDetails(p *httpx.Problem, e *errs.Error, render map[protoreflect.FullName]detailMember) {
	for _, d := range e.Details {
		if d == nil {
			continue
		}
		m := d.ProtoReflect()
		dm, ok := render[m.Descriptor().FullName()]
		if !ok || !m.IsValid() {
			continue
		}
		b, err := appendMessage(nil, m, dm.table)
		if err != nil {
			continue
		}
		if p.Extensions == nil {
			p.Extensions = map[string]any{}
		}
		p.Extensions[dm.name] = json.RawMessage(b)
	}
}
