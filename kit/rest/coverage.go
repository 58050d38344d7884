package rest

import (
	"slices"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Gaps walks the descriptors of the messages behind routes and lists what
// HTTP cannot reach:
//   - request: fields of a request message (and of the messages inside
//     it) that no route fills from a path variable, query parameter,
//     header, body member or hook;
//   - response: fields of a response message that no route writes.
//
// Each gap is the message's full name and the field's dotted path,
// "kitshop.users.v1.UpdateUserRequest.id". A field added to a proto shows
// up here until a route maps it or a test's allow-list says why it is
// hidden, which is what makes a forgotten field a failing test instead of
// a silent gap. Routes sharing a message count together: a field counts
// as reached if any of them reaches it.
func Gaps(routes ...Route) (request, response []string) {
	reqs := map[protoreflect.FullName]*reach{}
	resps := map[protoreflect.FullName]*reach{}
	for _, rt := range routes {
		if rt.err != nil || rt.req == nil {
			continue
		}
		merge(reqs, rt.req, rt.reached, rt.whole)
		merge(resps, rt.resp, rt.shown, nil)
	}
	for _, r := range reqs {
		request = append(request, r.gaps()...)
	}
	for _, r := range resps {
		response = append(response, r.gaps()...)
	}
	slices.Sort(request)
	slices.Sort(response)
	return request, response
}

// reach is what the routes sharing one root message reach of it.
type reach struct {
	md      protoreflect.MessageDescriptor
	reached map[string]bool
	whole   map[string]bool
}

func merge(into map[protoreflect.FullName]*reach, md protoreflect.MessageDescriptor, reached, whole map[string]bool) {
	r := into[md.FullName()]
	if r == nil {
		r = &reach{md: md, reached: map[string]bool{}, whole: map[string]bool{}}
		into[md.FullName()] = r
	}
	for p := range reached {
		r.reached[p] = true
	}
	for p := range whole {
		r.whole[p] = true
	}
}

func (r *reach) gaps() []string {
	var out []string
	var walk func(md protoreflect.MessageDescriptor, prefix string, onPath map[protoreflect.FullName]bool)
	walk = func(md protoreflect.MessageDescriptor, prefix string, onPath map[protoreflect.FullName]bool) {
		if onPath[md.FullName()] {
			return
		}
		onPath[md.FullName()] = true
		defer delete(onPath, md.FullName())
		fields := md.Fields()
		for i := range fields.Len() {
			fd := fields.Get(i)
			p := prefix + string(fd.Name())
			switch {
			case r.whole[p]:
				continue
			case !r.reached[p]:
				out = append(out, string(r.md.FullName())+"."+p)
				continue
			}
			vd := fd
			if fd.IsMap() {
				vd = fd.MapValue()
			}
			if sub := vd.Message(); sub != nil && !isTimeType(sub) {
				walk(sub, p+".", onPath)
			}
		}
	}
	walk(r.md, "", map[protoreflect.FullName]bool{})
	return out
}

func isTimeType(md protoreflect.MessageDescriptor) bool {
	n := md.FullName()
	return n == "google.protobuf.Timestamp" || n == "google.protobuf.Duration"
}
