package rest

import (
	"fmt"
	"maps"
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

// Coverage is what a client package's REST mapping must account for: each
// method of the service is routed or said to be internal, and each field
// of the routed messages is reached or said to be hidden, every exception
// with its reason. Its Problems are what a client package's test fails on
// (kit/rest/resttest.CheckCoverage), so that a method or field added to a
// proto either reaches HTTP or is a decision someone wrote down.
type Coverage struct {
	// Service is the pb service the routes serve
	// (usersv1.File_users_v1_users_proto.Services().ByName("UsersService")).
	Service protoreflect.ServiceDescriptor
	// Routes are the client package's routes.
	Routes []Route
	// HiddenRequest and HiddenResponse map the request and response
	// fields (as Gaps names them) that API.md deliberately leaves out of
	// HTTP to the reason why.
	HiddenRequest, HiddenResponse map[string]string
	// Internal maps the methods with no route (by name, "ValidateUser")
	// to the reason why: they serve other services, not end users.
	Internal map[string]string
}

// Problems lists, as sentences, everything the mapping does not account
// for: a broken route (Check), a field neither mapped nor hidden, a method
// neither routed nor internal, or both, and an allow-list entry that no
// longer matches anything (a stale exception would hide the next field or
// method of that name).
func (c Coverage) Problems() []string {
	var out []string
	if err := Check(c.Routes...); err != nil {
		out = append(out, err.Error())
	}
	req, resp := Gaps(c.Routes...)
	out = append(out, unaccounted("request", req, c.HiddenRequest)...)
	out = append(out, unaccounted("response", resp, c.HiddenResponse)...)
	return append(out, c.methodProblems()...)
}

// unaccounted compares the gaps of one side with its allow-list.
func unaccounted(side string, gaps []string, hidden map[string]string) []string {
	var out []string
	for _, g := range gaps {
		if _, ok := hidden[g]; !ok {
			out = append(out, fmt.Sprintf("%s field %s is not in the REST mapping (map it in the client's rest.go, or allow-list it with the reason)", side, g))
		}
	}
	for _, f := range slices.Sorted(maps.Keys(hidden)) {
		if !slices.Contains(gaps, f) {
			out = append(out, fmt.Sprintf("allow-list entry %s is stale: the mapping reaches it, or it no longer exists", f))
		}
	}
	return out
}

// methodProblems matches methods to routes by their request and response
// types, the only thing a Route knows of the RPC it calls.
func (c Coverage) methodProblems() []string {
	if c.Service == nil {
		return []string{"rest: Coverage needs the service descriptor"}
	}
	routed := map[[2]protoreflect.FullName]bool{}
	for _, rt := range c.Routes {
		if rt.req != nil {
			routed[[2]protoreflect.FullName{rt.req.FullName(), rt.resp.FullName()}] = true
		}
	}
	var out []string
	methods := c.Service.Methods()
	for i := range methods.Len() {
		m := methods.Get(i)
		isRouted := routed[[2]protoreflect.FullName{m.Input().FullName(), m.Output().FullName()}]
		_, internal := c.Internal[string(m.Name())]
		if isRouted == internal {
			out = append(out, fmt.Sprintf("%s: routed=%v, internal=%v; exactly one must hold", m.Name(), isRouted, internal))
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Internal)) {
		if methods.ByName(protoreflect.Name(name)) == nil {
			out = append(out, fmt.Sprintf("internal method %s is not in %s any more", name, c.Service.Name()))
		}
	}
	return out
}
