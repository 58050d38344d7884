package rest

import (
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// docGen builds a document's operations and the components they share:
// schemas, the headers and parameters every operation has (from
// OpenAPIInfo), and the problem responses of routes with nothing of their
// own in them, so that sixteen operations do not repeat them sixteen
// times.
type docGen struct {
	*schemaGen
	info       OpenAPIInfo
	headers    map[string]any // components.headers
	parameters map[string]any // components.parameters
	responses  map[string]any // components.responses
}

func newDocGen(info OpenAPIInfo) *docGen {
	return &docGen{
		schemaGen: newSchemaGen(), info: info,
		headers: map[string]any{}, parameters: map[string]any{}, responses: map[string]any{},
	}
}

func (g *docGen) components() map[string]any {
	c := map[string]any{
		"schemas": g.schemas,
		"securitySchemes": map[string]any{
			bearerAuth: map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
		},
	}
	for name, m := range map[string]map[string]any{"headers": g.headers, "parameters": g.parameters, "responses": g.responses} {
		if len(m) > 0 {
			c[name] = m
		}
	}
	return c
}

// operation describes one route.
func (g *docGen) operation(rt Route, id, tag string, patterns map[string]string) map[string]any {
	s := rt.shape
	op := map[string]any{"operationId": id, "tags": []string{tag}}
	if s.doc.Summary != "" {
		op["summary"] = s.doc.Summary
	}
	if params := g.parametersOf(s, patterns); params != nil {
		op["parameters"] = params
	}
	if s.body != nil {
		op["requestBody"] = map[string]any{
			"required": true,
			"content":  map[string]any{"application/json": map[string]any{"schema": g.body(s.body, s.required)}},
		}
	}
	var access Access
	if g.info.Security != nil {
		access = g.info.Security(rt.method, rt.path)
	}
	if access.Bearer {
		roles := append([]string{}, access.Roles...)
		op["security"] = []any{map[string]any{bearerAuth: roles}}
	}
	responses := g.successes(s)
	maps.Copy(responses, g.problems(s, access))
	op["responses"] = responses
	return op
}

// documentTag tags the document's own operation.
const documentTag = "openapi"

// documentOperation is GET DocumentPath: this document.
func (g *docGen) documentOperation() map[string]any {
	h := g.commonHeaders()
	ok := map[string]any{
		"description": "This document.",
		"content":     map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}},
	}
	if len(h) > 0 {
		ok["headers"] = h
	}
	op := map[string]any{
		"operationId": "GetOpenAPIDocument",
		"summary":     "The OpenAPI document of this API.",
		"tags":        []string{documentTag},
		"responses":   map[string]any{"200": ok},
	}
	if params := g.parametersOf(&routeShape{}, nil); params != nil {
		op["parameters"] = params
	}
	responses := op["responses"].(map[string]any)
	for _, st := range g.info.Problems {
		responses[strconv.Itoa(st)] = g.problem(&routeShape{}, st)
	}
	responses["default"] = g.problem(&routeShape{}, 0)
	return op
}

// parametersOf lists the path variables (required), query parameters and
// headers the route reads, then the headers every operation takes.
func (g *docGen) parametersOf(s *routeShape, patterns map[string]string) []any {
	var params []any
	for _, b := range s.path {
		schema := g.text(b.fi)
		if p := patterns[b.name]; p != "" && schema["type"] == "string" {
			schema = maps.Clone(schema)
			schema["pattern"] = "^(?:" + p + ")$"
		}
		params = append(params, map[string]any{"name": b.name, "in": "path", "required": true, "schema": withUUID(schema, b)})
	}
	for _, b := range s.query {
		params = append(params, map[string]any{"name": b.name, "in": "query", "schema": withUUID(g.text(b.fi), b)})
	}
	headers := slices.Clone(s.headers)
	slices.SortFunc(headers, func(a, b binding) int { return strings.Compare(a.name, b.name) })
	for _, b := range headers {
		params = append(params, map[string]any{"name": b.name, "in": "header", "schema": g.text(b.fi)})
	}
	for _, name := range slices.Sorted(maps.Keys(g.info.RequestHeaders)) {
		if slices.ContainsFunc(headers, func(b binding) bool { return strings.EqualFold(b.name, name) }) {
			continue // the route's own binding says more
		}
		key := componentKey(name)
		g.parameters[key] = map[string]any{
			"name": name, "in": "header", "description": g.info.RequestHeaders[name],
			"schema": map[string]any{"type": "string"},
		}
		params = append(params, map[string]any{"$ref": "#/components/parameters/" + key})
	}
	return params
}

// successes are the route's success responses: Status and Doc.Statuses,
// with the body (none for 204) and the headers a success carries.
func (g *docGen) successes(s *routeShape) map[string]any {
	h := map[string]any{}
	if s.location {
		h["Location"] = g.header("Location", "Where the created resource is.", map[string]any{"type": "string", "format": "uri-reference"})
	}
	for _, kv := range s.respHeaders {
		h[kv[0]] = map[string]any{"schema": map[string]any{"type": "string", "const": kv[1]}}
	}
	maps.Copy(h, metadataHeaders(s))
	addHeaders(h, g.commonHeaders())

	responses := map[string]any{}
	var body map[string]any
	for _, st := range append([]int{s.status}, s.doc.Statuses...) {
		r := map[string]any{"description": statusText(st)}
		if len(h) > 0 {
			r["headers"] = h
		}
		if st != http.StatusNoContent && st != http.StatusNotModified && s.status != http.StatusNoContent {
			if body == nil {
				body = g.message(s.resp, false)
			}
			r["content"] = map[string]any{"application/json": map[string]any{"schema": body}}
		}
		responses[strconv.Itoa(st)] = r
	}
	return responses
}

// problems are the route's problem responses: the statuses its mapping
// implies, those its Doc and the info add, and a default.
func (g *docGen) problems(s *routeShape, access Access) map[string]any {
	statuses := map[int]bool{}
	if len(s.path)+len(s.query)+len(s.headers) > 0 || s.body != nil {
		statuses[http.StatusBadRequest] = true
	}
	if len(s.path) > 0 {
		statuses[http.StatusNotFound] = true
	}
	if s.body != nil {
		statuses[http.StatusRequestEntityTooLarge] = true
		statuses[http.StatusUnsupportedMediaType] = true
	}
	if access.Bearer {
		statuses[http.StatusUnauthorized] = true
		if len(access.Roles) > 0 {
			statuses[http.StatusForbidden] = true
		}
	}
	for _, st := range s.doc.Problems {
		statuses[st] = true
	}
	for _, st := range g.info.Problems {
		statuses[st] = true
	}
	responses := map[string]any{}
	for st := range statuses {
		responses[strconv.Itoa(st)] = g.problem(s, st)
	}
	responses["default"] = g.problem(s, 0)
	return responses
}

// problem is the response of a problem with status st (0: any other). A
// route whose problems carry nothing of their own (Metadata headers,
// ErrorDetails members) shares a component.
func (g *docGen) problem(s *routeShape, st int) map[string]any {
	own := len(s.metadata) > 0 || len(s.details) > 0
	key := "Problem" + strconv.Itoa(st)
	if st == 0 {
		key = "ProblemDefault"
	}
	if !own && g.responses[key] != nil {
		return map[string]any{"$ref": "#/components/responses/" + key}
	}
	desc := "Any other failure."
	if st != 0 {
		desc = statusText(st)
	}
	h := metadataHeaders(s)
	switch st {
	case http.StatusUnauthorized:
		// RFC 9110 requires a challenge on every 401; httpx sends one.
		h["WWW-Authenticate"] = g.header("WWW-Authenticate", "The challenge: Bearer.", map[string]any{"type": "string"})
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		h["Retry-After"] = g.header("Retry-After", "Seconds to wait before retrying.", map[string]any{"type": "integer", "minimum": 0})
	}
	addHeaders(h, g.commonHeaders())
	r := map[string]any{
		"description": desc,
		"content":     map[string]any{"application/problem+json": map[string]any{"schema": g.problemSchema(s)}},
	}
	if len(h) > 0 {
		r["headers"] = h
	}
	if own {
		return r
	}
	g.responses[key] = r
	return map[string]any{"$ref": "#/components/responses/" + key}
}

// problemSchema is the schema of the route's problem documents: the
// Problem component, with the members its ErrorDetails add.
func (g *docGen) problemSchema(s *routeShape) map[string]any {
	if len(s.details) == 0 {
		return ref(problemSchema)
	}
	props := map[string]any{}
	for _, d := range s.details {
		props[d.name] = g.message(d.table, false)
	}
	return map[string]any{"allOf": []any{ref(problemSchema), map[string]any{"type": "object", "properties": props}}}
}

// header is a reference to a shared header component.
func (g *docGen) header(name, desc string, schema map[string]any) map[string]any {
	key := componentKey(name)
	g.headers[key] = map[string]any{"description": desc, "schema": schema}
	return map[string]any{"$ref": "#/components/headers/" + key}
}

// commonHeaders are the info's ResponseHeaders, which every response has.
func (g *docGen) commonHeaders() map[string]any {
	h := map[string]any{}
	for name, desc := range g.info.ResponseHeaders {
		h[name] = g.header(name, desc, map[string]any{"type": "string"})
	}
	return h
}

// metadataHeaders are the Spec's Metadata headers, sent with a success and
// a problem alike.
func metadataHeaders(s *routeShape) map[string]any {
	h := map[string]any{}
	for key, name := range s.metadata {
		h[http.CanonicalHeaderKey(name)] = map[string]any{
			"description": "From the service's gRPC response header " + key + ".",
			"schema":      map[string]any{"type": "string"},
		}
	}
	return h
}

// addHeaders adds the headers of from that h lacks, comparing names as
// HTTP does, without regard to case.
func addHeaders(h, from map[string]any) {
	for name, v := range from {
		if !slices.ContainsFunc(slices.Collect(maps.Keys(h)), func(k string) bool { return strings.EqualFold(k, name) }) {
			h[name] = v
		}
	}
}

// componentKey spells a header name as a component's key, which allows
// only letters, digits, ".", "-" and "_".
func componentKey(name string) string {
	return notInKey.ReplaceAllString(name, "_")
}

var notInKey = regexp.MustCompile(`[^a-zA-Z0-9._-]`)

// statusText describes a status, in the words of API.md's error tables
// where it has them.
func statusText(st int) string {
	if d, ok := statusDescriptions[st]; ok {
		return d
	}
	if t := http.StatusText(st); t != "" {
		return t + "."
	}
	return "Status " + strconv.Itoa(st) + "."
}

var statusDescriptions = map[int]string{
	http.StatusBadRequest:            "The request is invalid: malformed JSON, an unknown or duplicate member, a value of the wrong type, or a failed validation (errors names each field).",
	http.StatusUnauthorized:          "No valid bearer token: missing, invalid or expired.",
	http.StatusForbidden:             "The caller's role may not do this.",
	http.StatusNotFound:              "No such resource, or one the caller may not see.",
	http.StatusConflict:              "The request conflicts with the resource's current state.",
	http.StatusRequestEntityTooLarge: "The body is over 1 MiB.",
	http.StatusUnsupportedMediaType:  "The body is not application/json.",
	http.StatusTooManyRequests:       "Rate limited: retry after Retry-After seconds.",
	http.StatusInternalServerError:   "An internal error.",
	http.StatusServiceUnavailable:    "A backend is unavailable: retry after Retry-After seconds.",
	http.StatusGatewayTimeout:        "The request's deadline passed.",
}

// withUUID adds format uuid to the schema of a binding that holds an id.
func withUUID(schema map[string]any, b binding) map[string]any {
	if !b.uuid {
		return schema
	}
	schema = maps.Clone(schema)
	schema["format"] = "uuid"
	return schema
}
