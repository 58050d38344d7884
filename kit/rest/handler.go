package rest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/mux"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/netx"
	"github.com/kitshop/kitshop/kit/valid"
)

// handler serves one compiled route: decode, bind, hook, call, encode.
type handler[Req, Resp proto.Message] struct {
	newReq  func() Req
	call    func(context.Context, Req) (Resp, error)
	guard   func(*http.Request) error
	hook    func(*http.Request, Req, Members) error
	respond func(http.Header, Resp) int
	timeout time.Duration // Call's deadline

	body                 *msgTable // nil: the body is not read
	path, query, headers []binding
	required             []string
	track                bool // record body members for hook and required

	resp        *msgTable
	bodyField   protoreflect.FieldDescriptor // nil: the body is Resp itself
	status      int
	location    []locationPart
	respHeaders [][2]string
	metadata    map[string]string // gRPC response header -> HTTP header
	details     map[protoreflect.FullName]detailMember
	renames     []rename

	metric atomic.Pointer[routeMetric] // see routeMetric
}

// binding ties a path variable, query parameter or header to a field.
type binding struct {
	name string
	fi   *fieldInfo
	uuid bool // the value must be a UUID (Spec.UUIDs)
}

// setBound fills b's field from one text value.
func setBound(m protoreflect.Message, b binding, s string) string {
	if b.uuid && !valid.IsID(s) {
		return "must be a UUID"
	}
	return setText(m, b.fi, s)
}

func (h *handler[Req, Resp]) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m := h.routeMetric(r)
	if m == nil {
		h.serve(w, r)
		return
	}
	begin := m.Start()
	err := h.serve(w, r)
	// The kind the answer reported: a failure once the request ended is
	// the 504 or 499 it was answered as (see fail).
	m.End(begin, metrics.Code(netx.ContextError(r.Context(), err, false)))
}

// routeMetric is the recorder of this route's calls under
// metrics.TransportRoute, labelled with the route's method and path
// template, or nil when the process hands no RED down (metrics.WithRED,
// installed by kit/boot) or the handler runs outside a mux route. It is
// found once and kept: a handler serves one route of one process.
func (h *handler[Req, Resp]) routeMetric(r *http.Request) *metrics.Method {
	red := metrics.FromContext(r.Context())
	if red == nil {
		return nil
	}
	if rm := h.metric.Load(); rm != nil && rm.red == red && rm.method == r.Method {
		return rm.m
	}
	route := mux.CurrentRoute(r)
	if route == nil {
		return nil
	}
	tpl, err := route.GetPathTemplate()
	if err != nil {
		return nil
	}
	rm := &routeMetric{red: red, method: r.Method, m: red.Method(metrics.TransportRoute, metrics.RouteMethod(r.Method, tpl))}
	h.metric.Store(rm)
	return rm.m
}

// routeMetric is a handler's recorder for one process's RED.
type routeMetric struct {
	red    *metrics.RED
	method string // the HTTP method, matched by the route
	m      *metrics.Method
}

// serve answers the request and returns the error it answered with (nil
// for a success), for the route's metrics.
func (h *handler[Req, Resp]) serve(w http.ResponseWriter, r *http.Request) error {
	if h.guard != nil {
		if err := h.guard(r); err != nil {
			return h.fail(w, r, err)
		}
	}
	req := h.newReq()
	m := req.ProtoReflect()
	var mem Members
	if h.body != nil {
		var track *Members
		if h.track {
			track = &mem
		}
		if err := decodeBody(r, m, h.body, track); err != nil {
			return h.fail(w, r, err)
		}
	}
	if err := h.bind(r, m, mem); err != nil {
		return h.fail(w, r, err)
	}
	if h.hook != nil {
		if err := h.hook(r, req, mem); err != nil {
			return h.fail(w, r, err)
		}
	}
	ctx := r.Context()
	var stream *headerStream
	if len(h.metadata) > 0 {
		stream = &headerStream{}
		ctx = grpc.NewContextWithServerTransportStream(ctx, stream)
	}
	resp, err := h.invoke(ctx, req)
	stream.writeTo(w.Header(), h.metadata)
	if err != nil {
		return h.fail(w, r, err)
	}
	return h.write(w, r, resp)
}

// fail answers err as a problem, with the error's details that the route
// renders (Spec.ErrorDetails) as members, and its field violations under
// the members' API names (Spec.Rename). It returns err, for serve.
func (h *handler[Req, Resp]) fail(w http.ResponseWriter, r *http.Request, err error) error {
	if len(h.renames) > 0 {
		err = renameViolations(err, h.renames)
	}
	if len(h.details) == 0 {
		httpx.WriteProblem(w, r, err)
		return err
	}
	// The error NewProblem describes: a failure once the request ended
	// is the 504 or 499, and carries nothing of the work's details.
	e := errs.As(netx.ContextError(r.Context(), err, false))
	p := httpx.NewProblem(r.Context(), r.URL.Path, e)
	addDetails(p, e, h.details)
	p.Write(w)
	return err
}

// invoke runs Call under the route's deadline, as httpx.Handler runs an
// endpoint: without one, a request whose database froze held its
// connection until the server's write timeout cut it off with no answer
// at all. The failure of a call whose deadline passed, or whose client
// went away, is reported as such by netx.ContextError, the one
// classification both transports use: 504 DEADLINE_EXCEEDED or 499, not
// the 503 that the store's "canceling statement" would make of it. A
// remote client may hand back a gRPC status; FromGRPC restores its kind
// and reason first, and leaves a domain error as it is.
func (h *handler[Req, Resp]) invoke(ctx context.Context, req Req) (Resp, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	resp, err := h.call(ctx, req)
	if err != nil {
		// An HTTP client sends no deadline: this one is this server's own
		// budget for the request (false), as in httpx.Handler.
		return resp, netx.ContextError(ctx, errs.FromGRPC(err), false)
	}
	return resp, nil
}

// bind fills the fields that come from the path, the query string and
// headers, and checks required members, reporting every problem at once.
func (h *handler[Req, Resp]) bind(r *http.Request, m protoreflect.Message, mem Members) error {
	var v errs.Validation
	if len(h.path) > 0 {
		vars := mux.Vars(r)
		for _, b := range h.path {
			if msg := setBound(m, b, vars[b.name]); msg != "" {
				v.Add(b.name, msg)
			}
		}
	}
	if len(h.query) > 0 && r.URL.RawQuery != "" {
		q := r.URL.Query()
		for _, b := range h.query {
			setValues(&v, m, b, q[b.name])
		}
	}
	for _, b := range h.headers {
		setValues(&v, m, b, r.Header.Values(b.name))
	}
	for _, name := range h.required {
		if !mem.Has(name) || mem.Null(name) {
			v.Add(name, "is required")
		}
	}
	return v.Err()
}

// setValues fills b's field from a query parameter's or header's values.
// No value, or one empty value, is absence, as a form leaves it.
func setValues(v *errs.Validation, m protoreflect.Message, b binding, values []string) {
	if len(values) == 0 || (len(values) == 1 && values[0] == "") {
		return
	}
	if len(values) > 1 && !b.fi.fd.IsList() {
		v.Add(b.name, "must be given once")
		return
	}
	for _, s := range values {
		if msg := setBound(m, b, s); msg != "" {
			v.Add(b.name, msg)
			return
		}
	}
}

// buffers recycle response buffers; oversized ones are left to the
// garbage collector so one huge response does not pin its memory.
var buffers = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

const maxPooledBuffer = 64 << 10

// write answers resp; it returns the error it answered instead when resp
// cannot be encoded.
func (h *handler[Req, Resp]) write(w http.ResponseWriter, r *http.Request, resp Resp) error {
	rm := resp.ProtoReflect()
	if h.bodyField != nil && rm.IsValid() {
		// An unset field gives an invalid message: answered below as
		// the nil response it amounts to.
		rm = rm.Get(h.bodyField).Message()
	}
	if !rm.IsValid() && h.status != http.StatusNoContent {
		err := errs.Internalf(errors.New("nil response"), "rest: %s", r.URL.Path)
		httpx.WriteProblem(w, r, err)
		return err
	}
	bp, _ := buffers.Get().(*[]byte)
	if bp == nil {
		bp = new([]byte)
	}
	defer func() {
		if cap(*bp) <= maxPooledBuffer {
			buffers.Put(bp)
		}
	}()
	var body []byte
	if h.status != http.StatusNoContent {
		b, err := appendMessage((*bp)[:0], rm, h.resp)
		*bp = b
		if err != nil {
			err = errs.Internalf(err, "rest: encoding %s", rm.Descriptor().FullName())
			httpx.WriteProblem(w, r, err)
			return err
		}
		body = append(b, '\n')
		*bp = body
	}
	hdr := w.Header()
	for _, kv := range h.respHeaders {
		hdr.Set(kv[0], kv[1])
	}
	status := h.status
	if h.respond != nil {
		if s := h.respond(hdr, resp); s != 0 {
			status = s
		}
	}
	if h.location != nil && rm.IsValid() {
		if loc := buildLocation(h.location, rm); loc != "" {
			hdr.Set("Location", loc)
		}
	}
	if body == nil || status == http.StatusNoContent || status == http.StatusNotModified {
		w.WriteHeader(status)
		return nil
	}
	hdr.Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(body)
	return nil
}

// locationPart is a literal piece of a Location template or, when fd is
// set, the response field whose value goes there.
type locationPart struct {
	literal string
	fd      protoreflect.FieldDescriptor
}

func compileLocation(tpl string, t *msgTable) ([]locationPart, error) {
	var parts []locationPart
	rest := tpl
	for rest != "" {
		open := strings.IndexByte(rest, '{')
		if open < 0 {
			parts = append(parts, locationPart{literal: rest})
			break
		}
		end := strings.IndexByte(rest[open:], '}')
		if end < 0 {
			return nil, fmt.Errorf("Location %q: unbalanced braces", tpl)
		}
		if open > 0 {
			parts = append(parts, locationPart{literal: rest[:open]})
		}
		fi, err := t.field(rest[open+1 : open+end])
		if err != nil {
			return nil, fmt.Errorf("Location %q: %w", tpl, err)
		}
		switch fi.fd.Kind() {
		case protoreflect.StringKind, protoreflect.Int32Kind, protoreflect.Int64Kind,
			protoreflect.Uint32Kind, protoreflect.Uint64Kind:
		default:
			return nil, fmt.Errorf("Location %q: %s is not a string or integer", tpl, fi.name)
		}
		if fi.fd.IsList() {
			return nil, fmt.Errorf("Location %q: %s is repeated", tpl, fi.name)
		}
		parts = append(parts, locationPart{fd: fi.fd})
		rest = rest[open+end+1:]
	}
	return parts, nil
}

// buildLocation fills the template from m; an empty field makes no
// Location at all rather than a link to the collection.
func buildLocation(parts []locationPart, m protoreflect.Message) string {
	var b strings.Builder
	for _, p := range parts {
		if p.fd == nil {
			b.WriteString(p.literal)
			continue
		}
		var s string
		switch v := m.Get(p.fd); p.fd.Kind() {
		case protoreflect.StringKind:
			s = v.String()
		case protoreflect.Uint32Kind, protoreflect.Uint64Kind:
			s = strconv.FormatUint(v.Uint(), 10)
		default:
			s = strconv.FormatInt(v.Int(), 10)
		}
		if s == "" {
			return ""
		}
		b.WriteString(url.PathEscape(s))
	}
	return b.String()
}
