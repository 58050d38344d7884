package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kitshop/kitshop/kit/httpx"
)

// Spec maps one HTTP route onto one unary RPC. Req and Resp are the
// generated message pointer types (*usersv1.GetUserRequest); every field
// name below is a proto field name of Req (or of Resp, for Location and
// Hide), checked when the route is built.
type Spec[Req, Resp proto.Message] struct {
	// Method and Path are the route. Path is a gorilla/mux template; each
	// variable ({id}) fills the request field of the same name.
	Method, Path string
	// Call serves the request: the in-process pb server in the service
	// itself, a client of the remote service in the gateway.
	Call func(context.Context, Req) (Resp, error)
	// Timeout is Call's deadline, as httpx.Timeout is a Handler route's:
	// httpx.DefaultTimeout when zero, at most httpx.MaxRequestTimeout
	// (the router's cap). Call's failure once it has passed is answered
	// 504 DEADLINE_EXCEEDED, and once the client has gone 499, whatever
	// error the work in progress made of it (see netx.ContextError).
	Timeout time.Duration

	// Guard, when set, runs first: an error is answered as is, before the
	// body is read (an admin check, so an anonymous caller learns
	// nothing about what a valid body looks like).
	Guard func(r *http.Request) error
	// UUIDs are path variables and query parameters that hold ids: a
	// value that is not a UUID in its 36-character spelling is 400
	// VALIDATION_FAILED "must be a UUID" before Call, so the gateway
	// refuses a malformed id without a backend call (the service checks
	// again, with the same kit/valid rule).
	UUIDs []string
	// Query lists the query parameters that fill same-named request
	// fields, parsed by the field's type. Empty means absent; a repeated
	// field takes every value; other parameters are ignored.
	Query []string
	// Headers maps an HTTP header to the request field it fills
	// ("Idempotency-Key": "idempotency_key"). Empty means absent.
	Headers map[string]string
	// Body makes the JSON body fill every request field that no path
	// variable, query parameter or header fills, minus NotInBody. Without
	// it the body is ignored, as for a GET.
	Body bool
	// NotInBody are request fields (dotted for nested ones) that a client
	// may not send: filled by Hook, or left for the server ("id" when the
	// caller is implied). Sending one is 400 UNKNOWN_FIELD.
	NotInBody []string
	// Required are top-level body members that must be present and not
	// null: 400 VALIDATION_FAILED "is required" otherwise. Use it where a
	// proto3 zero value could pass for a real one (a price of 0).
	Required []string
	// Hook runs after decoding, before Call, for what the mapping cannot
	// say ("address": null sets clear_address). An error is answered as
	// is. HookFills names the request fields it sets, so that the
	// coverage check (Gaps) counts them as reachable.
	Hook      func(r *http.Request, req Req, body Members) error
	HookFills []string
	// Rename gives body members whose JSON name is not their proto field
	// name their API name: request field path (dotted, proto names) to
	// the member name ({"payment.number": "card_number"}). It is for a
	// shared message that API.md spells differently in one place; where
	// only one API uses a message, rename the proto field instead. Field
	// violations name the member as the client sent it, those of the
	// decoder and those Call reports under the field's proto path
	// ("payment.number", "items[2].x") alike.
	Rename map[string]string

	// Status is the success status: 200 when zero, 201 for creates; 204
	// sends no body.
	Status int
	// Location, when set, is a template filled from top-level response
	// fields ("/api/v1/users/{id}") and sent as the Location header.
	Location string
	// ResponseHeaders are set on every success response
	// ("Cache-Control: no-store" for tokens).
	ResponseHeaders map[string]string
	// Respond, when set, may add headers from the response and choose
	// another status (a 202 for work still pending); 0 keeps Status.
	Respond func(h http.Header, resp Resp) int
	// Hide are response fields (dotted for nested ones) never written.
	Hide []string
	// BodyField, when set, names a message field of Resp whose message
	// is the whole body ("order": the API answers the Order that a
	// CreateOrderResponse carries). Resp's other fields are not written;
	// Respond still sees all of them (to turn replayed into a header),
	// and Location names fields of the body message. A response without
	// it is a server bug, answered 500.
	BodyField string
	// Metadata maps gRPC response header keys that Call may set to the
	// HTTP headers they become ("idempotent-replayed":
	// "Idempotent-Replayed"). Call's context carries a
	// grpc.ServerTransportStream, as grpc-gateway's in-process handlers
	// do, so that the in-process pb server's grpc.SetHeader lands here;
	// a remote API passes a remote call's header on with
	// ForwardMetadata. The headers are sent with a success and with a
	// problem alike (a replayed failure is a replay too). Other keys stay
	// on the gRPC side.
	Metadata map[string]string
	// ErrorDetails renders the error's details (errs.Error.Details) of
	// these message types as problem members, with the same JSON rules
	// as responses: {"kitshop.orders.v1.Order": "order"} puts the order a
	// failed checkout left into its 402. A member of the same name from
	// the error's Meta is replaced; standard members never are.
	ErrorDetails map[protoreflect.FullName]string

	// Doc is what the route's OpenAPI operation says that the mapping
	// cannot work out (see OpenAPI). It changes nothing that is served.
	Doc Doc
}

// Route is one compiled Spec: an http.Handler with its method and path,
// and what the coverage check needs to know about it.
type Route struct {
	method, path string
	handler      http.Handler
	err          error
	req, resp    protoreflect.MessageDescriptor
	// reached are the request field paths HTTP can fill; whole are those
	// filled by a hook as a whole; shown are the response paths written.
	reached, whole, shown map[string]bool
	// shape is what OpenAPI describes: the compiled bindings, tables and
	// statuses the handler serves with.
	shape *routeShape
	guard func(*http.Request) error
}

// Method is the route's HTTP method.
func (r Route) Method() string { return r.method }

// Path is the route's gorilla/mux path template.
func (r Route) Path() string { return r.path }

// Request is the descriptor of the request message.
func (r Route) Request() protoreflect.MessageDescriptor { return r.req }

// Response is the descriptor of the response message.
func (r Route) Response() protoreflect.MessageDescriptor { return r.resp }

// Err is what is wrong with the Spec, if anything; Mount refuses a route
// with an error.
func (r Route) Err() error { return r.err }

// Guard is the Spec's Guard (nil for none), so a caller can ask who may
// call the route (the gateway's OpenAPI document does) without a request
// reaching Call.
func (r Route) Guard() func(*http.Request) error { return r.guard }

// ServeHTTP serves the route. Path variables are read with mux.Vars, so
// it must be reached through a gorilla/mux route with the same template
// (Mount does that).
func (r Route) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if r.handler == nil {
		http.Error(w, "rest: route not built", http.StatusInternalServerError)
		return
	}
	r.handler.ServeHTTP(w, req)
}

// Unary compiles s. Problems with the Spec (an unknown field, a type that
// cannot be filled from a query string) are kept in the Route's Err, and
// Mount panics on them.
func Unary[Req, Resp proto.Message](s Spec[Req, Resp]) Route {
	rt := Route{method: s.Method, path: s.Path, guard: s.Guard}
	h, err := compile(s, &rt)
	if err != nil {
		rt.err = fmt.Errorf("rest: %s %s: %w", s.Method, s.Path, err)
		return rt
	}
	rt.handler = h
	rt.shape = h.shape(s.Doc)
	return rt
}

func compile[Req, Resp proto.Message](s Spec[Req, Resp], rt *Route) (*handler[Req, Resp], error) {
	var zeroReq Req
	var zeroResp Resp
	if any(zeroReq) == nil || any(zeroResp) == nil {
		return nil, errors.New("Req and Resp must be generated message pointer types")
	}
	switch {
	case s.Method == "" || strings.ToUpper(s.Method) != s.Method:
		return nil, errors.New("method must be an upper-case HTTP method")
	case !strings.HasPrefix(s.Path, "/"):
		return nil, errors.New("path must start with /")
	case s.Call == nil:
		return nil, errors.New("no Call")
	case s.Hook == nil && len(s.HookFills) > 0:
		return nil, errors.New("HookFills without a Hook")
	case s.Timeout < 0 || s.Timeout > httpx.MaxRequestTimeout:
		return nil, fmt.Errorf("Timeout %v is outside (0, %v], the router's cap", s.Timeout, httpx.MaxRequestTimeout)
	}
	h := &handler[Req, Resp]{call: s.Call, guard: s.Guard, hook: s.Hook, respond: s.Respond, status: s.Status, timeout: s.Timeout,
		metadata: s.Metadata}
	if h.status == 0 {
		h.status = http.StatusOK
	}
	if h.timeout == 0 {
		h.timeout = httpx.DefaultTimeout
	}
	if err := s.Doc.check(h.status); err != nil {
		return nil, fmt.Errorf("Doc: %w", err)
	}
	reqType := zeroReq.ProtoReflect().Type()
	if _, ok := reqType.New().Interface().(Req); !ok {
		return nil, fmt.Errorf("%T does not make %T messages", reqType, zeroReq)
	}
	h.newReq = func() Req {
		// Checked above; the assertion cannot fail.
		req, _ := reqType.New().Interface().(Req)
		return req
	}
	rt.req, rt.resp = reqType.Descriptor(), zeroResp.ProtoReflect().Descriptor()
	reqT, err := tableFor(rt.req)
	if err != nil {
		return nil, err
	}
	respT, err := tableFor(rt.resp)
	if err != nil {
		return nil, err
	}

	rt.reached, rt.whole = map[string]bool{}, map[string]bool{}
	bound := map[string]bool{}
	bind := func(source, name, field string) (binding, error) {
		fi, err := reqT.field(field)
		if err != nil {
			return binding{}, fmt.Errorf("%s %q: %w", source, name, err)
		}
		if err := textField(fi); err != nil {
			return binding{}, fmt.Errorf("%s %q: %w", source, name, err)
		}
		if bound[field] {
			return binding{}, fmt.Errorf("%s %q: field %q is already filled", source, name, field)
		}
		bound[field], rt.reached[field] = true, true
		return binding{name: name, fi: fi}, nil
	}
	vars, err := templateVars(s.Path)
	if err != nil {
		return nil, err
	}
	for _, v := range vars {
		b, err := bind("path variable", v, v)
		if err != nil {
			return nil, err
		}
		if b.fi.fd.IsList() {
			return nil, fmt.Errorf("path variable %q fills a repeated field", v)
		}
		h.path = append(h.path, b)
	}
	for _, q := range s.Query {
		b, err := bind("query parameter", q, q)
		if err != nil {
			return nil, err
		}
		h.query = append(h.query, b)
	}
	if err := markUUIDs(s.UUIDs, h.path, h.query); err != nil {
		return nil, err
	}
	for name, field := range s.Headers {
		b, err := bind("header", http.CanonicalHeaderKey(name), field)
		if err != nil {
			return nil, err
		}
		h.headers = append(h.headers, b)
	}

	switch {
	case s.Body:
		var out []string
		for name := range bound {
			out = append(out, name)
		}
		if h.body, err = reqT.without(append(out, s.NotInBody...)); err != nil {
			return nil, fmt.Errorf("NotInBody: %w", err)
		}
		walkTable(h.body, "", rt.reached)
	case len(s.NotInBody) > 0 || len(s.Required) > 0 || len(s.Rename) > 0:
		return nil, errors.New("NotInBody, Required and Rename need Body")
	}
	for path, name := range s.Rename {
		if h.body, err = h.body.renamed(strings.Split(path, "."), path, name); err != nil {
			return nil, fmt.Errorf("Rename: %w", err)
		}
		h.renames = append(h.renames, rename{path: strings.Split(path, "."), name: name})
	}
	for _, name := range s.Required {
		if h.body.byName[name] == nil {
			return nil, fmt.Errorf("Required: %q is not a body member", name)
		}
	}
	h.required = s.Required
	h.track = s.Hook != nil || len(s.Required) > 0
	for _, p := range s.HookFills {
		if _, err := reqT.without([]string{p}); err != nil {
			return nil, fmt.Errorf("HookFills: %w", err)
		}
		rt.whole[p] = true
	}

	if h.resp, err = respT.without(s.Hide); err != nil {
		return nil, fmt.Errorf("Hide: %w", err)
	}
	rt.shown = map[string]bool{}
	locT := respT // Location may name a hidden field (an id kept out of the body)
	if s.BodyField != "" {
		fi, err := h.resp.field(s.BodyField)
		if err != nil {
			return nil, fmt.Errorf("BodyField: %w", err)
		}
		if fi.msg == nil || fi.msg.wkt != wktNone || fi.fd.IsList() || fi.fd.IsMap() {
			return nil, fmt.Errorf("BodyField: %s is not a singular message field", s.BodyField)
		}
		h.bodyField, h.resp = fi.fd, fi.msg
		locT = respT.byName[s.BodyField].msg
		rt.shown[s.BodyField] = true
		walkTable(h.resp, s.BodyField+".", rt.shown)
	} else {
		walkTable(h.resp, "", rt.shown)
	}
	if s.Location != "" {
		if h.location, err = compileLocation(s.Location, locT); err != nil {
			return nil, err
		}
	}
	if h.details, err = compileDetails(s.ErrorDetails); err != nil {
		return nil, err
	}
	for key, name := range s.Metadata {
		if key == "" || key != strings.ToLower(key) || name == "" {
			return nil, fmt.Errorf("Metadata %q: %q: keys are lower-case gRPC metadata keys, names HTTP headers", key, name)
		}
	}
	for name := range s.ResponseHeaders {
		h.respHeaders = append(h.respHeaders, [2]string{http.CanonicalHeaderKey(name), s.ResponseHeaders[name]})
	}
	return h, nil
}

// walkTable records the dotted path of every member of t and of the
// messages below it, stopping at a message type already on the path.
func walkTable(t *msgTable, prefix string, into map[string]bool) {
	walkTableSeen(t, prefix, into, map[*msgTable]bool{})
}

func walkTableSeen(t *msgTable, prefix string, into map[string]bool, onPath map[*msgTable]bool) {
	if onPath[t] {
		return
	}
	onPath[t] = true
	defer delete(onPath, t)
	for _, fi := range t.fields {
		// Proto names, not member names: coverage speaks of fields.
		p := prefix + string(fi.fd.Name())
		into[p] = true
		if fi.msg != nil && fi.msg.wkt == wktNone {
			walkTableSeen(fi.msg, p+".", into, onPath)
		}
	}
}

// templateVars lists the variables of a gorilla/mux template, "{id}" or
// "{id:[0-9]+}", balancing braces as mux does.
func templateVars(tpl string) ([]string, error) {
	var vars []string
	depth, start := 0, 0
	for i := 0; i < len(tpl); i++ {
		switch tpl[i] {
		case '{':
			if depth == 0 {
				start = i + 1
			}
			depth++
		case '}':
			depth--
			if depth < 0 {
				return nil, fmt.Errorf("unbalanced braces in %q", tpl)
			}
			if depth == 0 {
				name, _, _ := strings.Cut(tpl[start:i], ":")
				if name == "" {
					return nil, fmt.Errorf("unnamed variable in %q", tpl)
				}
				vars = append(vars, name)
			}
		}
	}
	if depth != 0 {
		return nil, fmt.Errorf("unbalanced braces in %q", tpl)
	}
	return vars, nil
}

// markUUIDs flags the bindings named in names as ids; a name that is no
// path variable or query parameter, or one that is not a string, is a
// broken Spec.
func markUUIDs(names []string, bindings ...[]binding) error {
	for _, name := range names {
		found := false
		for _, bs := range bindings {
			for i := range bs {
				if bs[i].name != name {
					continue
				}
				if bs[i].fi.fd.Kind() != protoreflect.StringKind {
					return fmt.Errorf("UUIDs: %q is not a string field", name)
				}
				bs[i].uuid, found = true, true
			}
		}
		if !found {
			return fmt.Errorf("UUIDs: %q is not a path variable or query parameter", name)
		}
	}
	return nil
}
