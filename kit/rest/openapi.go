package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// OpenAPIInfo is what an OpenAPI document says beyond its routes.
type OpenAPIInfo struct {
	// Title and Version are the document's info; both are required.
	Title, Version string
	// Description, when set, is the info's description (CommonMark).
	Description string
	// Servers are the base URLs the API is served at; none means the
	// document's own origin.
	Servers []string
	// Security says which routes need the caller's bearer token, and
	// which roles they require. It is given each route's method and its
	// Spec's path template ("/api/v1/users/{id}"). Nil means every route
	// is public. A route's Guard cannot say: it is a func.
	Security func(method, path string) Access
	// Problems are problem statuses that every route may answer, from
	// whatever serves them: the gateway's 429 RATE_LIMITED, its breakers'
	// 503 and its deadlines' 504.
	Problems []int
}

// Access is who may call a route: anyone, or a caller with a bearer token
// (the document's bearerAuth, a JWT) and, when Roles is not empty, one of
// those roles. OpenAPI 3.1 lists required roles in a security
// requirement's array, which is where they go.
type Access struct {
	Bearer bool
	Roles  []string
}

// Operation is one method and OpenAPI path of a document ("GET",
// "/api/v1/users/{id}").
type Operation struct {
	Method, Path string
}

func (o Operation) String() string { return o.Method + " " + o.Path }

// OpenAPI writes the OpenAPI 3.1 document of routes: one operation per
// route, with the JSON Schemas of exactly what the route's codec reads and
// writes (see the package's JSON rules), generated from the same compiled
// tables, so the document is not a second copy of the API's shapes.
//
// Each operation has its path variables (required), query parameters and
// headers; its request body (application/json, with the Spec's Required
// members, refusing unknown ones); its success status (and Doc.Statuses)
// with the Location, ResponseHeaders and Metadata headers; and its
// problem responses (application/problem+json, the Problem component,
// plus the route's ErrorDetails members): 400 when the route reads any
// input, 404 with path variables, 413 and 415 with a body, 401 and 403 as
// Security says, Doc.Problems, info.Problems, and a default response for
// the rest. Operation ids are the request message's name without
// "Request" ("CreateOrder"), with the path appended where two routes
// share a message; tags are the proto package's service ("orders").
//
// The output is deterministic: the same routes give the same bytes
// (members sorted by name). It fails on a broken route (Check), a method
// OpenAPI has no operation for, and two templates OpenAPI cannot tell
// apart ("/a/{id}" and "/a/{name}").
func OpenAPI(info OpenAPIInfo, routes ...Route) ([]byte, error) {
	if info.Title == "" || info.Version == "" {
		return nil, errors.New("rest: OpenAPI: the info's Title and Version are required")
	}
	if err := Check(routes...); err != nil {
		return nil, err
	}
	for _, s := range info.Problems {
		if s < 400 || s > 599 {
			return nil, fmt.Errorf("rest: OpenAPI: Problems: %d is not a 4xx or 5xx status", s)
		}
	}
	g := newSchemaGen()
	paths := map[string]map[string]any{}
	templates := map[string]string{} // template without names -> path
	tags := map[string]bool{}
	ids := operationIDs(routes)
	for i, rt := range routes {
		method := strings.ToLower(rt.method)
		if !openAPIMethods[method] {
			return nil, fmt.Errorf("rest: OpenAPI: %s %s: OpenAPI has no %s operation", rt.method, rt.path, rt.method)
		}
		path, patterns, err := openAPIPath(rt.path)
		if err != nil {
			return nil, fmt.Errorf("rest: OpenAPI: %w", err)
		}
		bare := unnamed.ReplaceAllString(path, "{}")
		if other, ok := templates[bare]; ok && other != path {
			return nil, fmt.Errorf("rest: OpenAPI: %s and %s are the same template to OpenAPI", other, path)
		}
		templates[bare] = path
		if paths[path] == nil {
			paths[path] = map[string]any{}
		}
		if paths[path][method] != nil {
			return nil, fmt.Errorf("rest: OpenAPI: %s %s is declared twice", rt.method, path)
		}
		tag := serviceTag(rt)
		tags[tag] = true
		paths[path][method] = g.operation(info, rt, ids[i], tag, patterns)
	}

	doc := map[string]any{
		"openapi": "3.1.0",
		"info":    map[string]any{"title": info.Title, "version": info.Version},
		"paths":   paths,
		"components": map[string]any{
			"schemas": g.schemas,
			"securitySchemes": map[string]any{
				bearerAuth: map[string]any{"type": "http", "scheme": "bearer", "bearerFormat": "JWT"},
			},
		},
	}
	if info.Description != "" {
		doc["info"].(map[string]any)["description"] = info.Description
	}
	if len(info.Servers) > 0 {
		var servers []any
		for _, u := range info.Servers {
			servers = append(servers, map[string]any{"url": u})
		}
		doc["servers"] = servers
	}
	var tagList []any
	for _, t := range slices.Sorted(maps.Keys(tags)) {
		tagList = append(tagList, map[string]any{"name": t})
	}
	if tagList != nil {
		doc["tags"] = tagList
	}

	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		return nil, fmt.Errorf("rest: OpenAPI: %w", err)
	}
	return b.Bytes(), nil
}

// OpenAPIOperations lists the operations of an OpenAPI document, sorted
// by path, then method, methods upper-case: what a test compares with the
// routes a router serves (see OpenAPIPath).
func OpenAPIOperations(doc []byte) ([]Operation, error) {
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		return nil, fmt.Errorf("rest: OpenAPIOperations: %w", err)
	}
	var ops []Operation
	for path, item := range d.Paths {
		for key := range item {
			if openAPIMethods[key] {
				ops = append(ops, Operation{Method: strings.ToUpper(key), Path: path})
			}
		}
	}
	slices.SortFunc(ops, func(a, b Operation) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return ops, nil
}

// OpenAPIPath is a gorilla/mux path template as an OpenAPI path: the
// variables without their patterns ("/items/{id:[0-9]+}" is
// "/items/{id}"). A malformed template is returned as it is.
func OpenAPIPath(template string) string {
	p, _, err := openAPIPath(template)
	if err != nil {
		return template
	}
	return p
}

// bearerAuth is the security scheme's name in the document.
const bearerAuth = "bearerAuth"

// openAPIMethods are the operations an OpenAPI 3.1 path item has.
var openAPIMethods = map[string]bool{
	"get": true, "put": true, "post": true, "delete": true,
	"options": true, "head": true, "patch": true, "trace": true,
}

// unnamed matches a variable of an OpenAPI path, to compare templates
// whatever their variables' names.
var unnamed = regexp.MustCompile(`\{[^}]*\}`)

// openAPIPath converts a mux template, returning each variable's pattern.
func openAPIPath(tpl string) (string, map[string]string, error) {
	var b strings.Builder
	patterns := map[string]string{}
	depth, start := 0, 0
	for i := 0; i < len(tpl); i++ {
		switch c := tpl[i]; {
		case c == '{':
			if depth == 0 {
				start = i + 1
			}
			depth++
		case c == '}':
			depth--
			if depth < 0 {
				return "", nil, fmt.Errorf("unbalanced braces in %q", tpl)
			}
			if depth == 0 {
				name, pattern, _ := strings.Cut(tpl[start:i], ":")
				if pattern != "" {
					patterns[name] = pattern
				}
				b.WriteString("{" + name + "}")
			}
		case depth == 0:
			b.WriteByte(c)
		}
	}
	if depth != 0 {
		return "", nil, fmt.Errorf("unbalanced braces in %q", tpl)
	}
	return b.String(), patterns, nil
}

// operationIDs names each route's operation after its request message,
// adding the path (then the method) where that is not unique.
func operationIDs(routes []Route) []string {
	base := make([]string, len(routes))
	count := map[string]int{}
	for i, rt := range routes {
		name := string(rt.req.Name())
		if trimmed := strings.TrimSuffix(name, "Request"); trimmed != "" {
			name = trimmed
		}
		base[i] = name
		count[name]++
	}
	ids := make([]string, len(routes))
	withPath := map[string]int{}
	for i, rt := range routes {
		ids[i] = base[i]
		if count[base[i]] > 1 {
			ids[i] += "_" + identifier(rt.path)
			withPath[ids[i]]++
		}
	}
	for i, rt := range routes {
		if withPath[ids[i]] > 1 {
			ids[i] += "_" + strings.ToLower(rt.method)
		}
	}
	return ids
}

// identifier spells a path template with letters, digits and underscores.
func identifier(path string) string {
	path = OpenAPIPath(path)
	var b strings.Builder
	under := true
	for _, c := range path {
		if c < 128 && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			b.WriteRune(c)
			under = false
		} else if !under {
			b.WriteByte('_')
			under = true
		}
	}
	return strings.TrimSuffix(b.String(), "_")
}

// serviceTag is the service a route belongs to, from its request's proto
// package: "kitshop.orders.v1" is "orders".
func serviceTag(rt Route) string {
	parts := strings.Split(string(rt.req.ParentFile().Package()), ".")
	last := parts[len(parts)-1]
	if len(parts) > 1 && version.MatchString(last) {
		return parts[len(parts)-2]
	}
	return last
}

var version = regexp.MustCompile(`^v[0-9]+((alpha|beta)[0-9]*)?$`)

// operation describes one route.
func (g *schemaGen) operation(info OpenAPIInfo, rt Route, id, tag string, patterns map[string]string) map[string]any {
	s := rt.shape
	op := map[string]any{"operationId": id, "tags": []string{tag}}
	if s.doc.Summary != "" {
		op["summary"] = s.doc.Summary
	}

	var params []any
	for _, b := range s.path {
		schema := g.text(b.fi)
		if p := patterns[b.name]; p != "" && schema["type"] == "string" {
			schema = maps.Clone(schema)
			schema["pattern"] = "^(?:" + p + ")$"
		}
		params = append(params, map[string]any{"name": b.name, "in": "path", "required": true, "schema": schema})
	}
	for _, b := range s.query {
		params = append(params, map[string]any{"name": b.name, "in": "query", "schema": g.text(b.fi)})
	}
	headers := slices.Clone(s.headers)
	slices.SortFunc(headers, func(a, b binding) int { return strings.Compare(a.name, b.name) })
	for _, b := range headers {
		params = append(params, map[string]any{"name": b.name, "in": "header", "schema": g.text(b.fi)})
	}
	if params != nil {
		op["parameters"] = params
	}
	if s.body != nil {
		op["requestBody"] = map[string]any{
			"required": true,
			"content":  map[string]any{"application/json": map[string]any{"schema": g.body(s.body, s.required)}},
		}
	}

	var access Access
	if info.Security != nil {
		access = info.Security(rt.method, rt.path)
	}
	if access.Bearer {
		roles := append([]string{}, access.Roles...)
		op["security"] = []any{map[string]any{bearerAuth: roles}}
	}

	responses := map[string]any{}
	success := g.successHeaders(s)
	var body map[string]any
	for _, st := range append([]int{s.status}, s.doc.Statuses...) {
		r := map[string]any{"description": statusText(st)}
		if len(success) > 0 {
			r["headers"] = success
		}
		if st != http.StatusNoContent && st != http.StatusNotModified && s.status != http.StatusNoContent {
			if body == nil {
				body = g.message(s.resp, false)
			}
			r["content"] = map[string]any{"application/json": map[string]any{"schema": body}}
		}
		responses[strconv.Itoa(st)] = r
	}

	problems := map[int]bool{}
	if len(s.path)+len(s.query)+len(s.headers) > 0 || s.body != nil {
		problems[http.StatusBadRequest] = true
	}
	if len(s.path) > 0 {
		problems[http.StatusNotFound] = true
	}
	if s.body != nil {
		problems[http.StatusRequestEntityTooLarge] = true
		problems[http.StatusUnsupportedMediaType] = true
	}
	if access.Bearer {
		problems[http.StatusUnauthorized] = true
		if len(access.Roles) > 0 {
			problems[http.StatusForbidden] = true
		}
	}
	for _, st := range s.doc.Problems {
		problems[st] = true
	}
	for _, st := range info.Problems {
		problems[st] = true
	}
	schema := g.problem(s)
	for st := range problems {
		responses[strconv.Itoa(st)] = problemResponse(statusText(st), schema, problemHeaders(s, st))
	}
	responses["default"] = problemResponse("Any other failure.", schema, problemHeaders(s, 0))
	op["responses"] = responses
	return op
}

// successHeaders are the headers a success may carry.
func (g *schemaGen) successHeaders(s *routeShape) map[string]any {
	h := map[string]any{}
	if s.location {
		h["Location"] = map[string]any{
			"description": "Where the created resource is.",
			"schema":      map[string]any{"type": "string", "format": "uri-reference"},
		}
	}
	for _, kv := range s.respHeaders {
		h[kv[0]] = map[string]any{"schema": map[string]any{"type": "string", "const": kv[1]}}
	}
	maps.Copy(h, metadataHeaders(s))
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

// problemHeaders are the headers of a problem of status st (0: any).
func problemHeaders(s *routeShape, st int) map[string]any {
	h := metadataHeaders(s)
	switch st {
	case http.StatusUnauthorized:
		h["WWW-Authenticate"] = map[string]any{"required": true, "schema": map[string]any{"type": "string"}}
	case http.StatusServiceUnavailable, http.StatusTooManyRequests:
		h["Retry-After"] = map[string]any{
			"description": "Seconds to wait before retrying.",
			"schema":      map[string]any{"type": "integer", "minimum": 0},
		}
	}
	return h
}

// problem is the schema of the route's problem documents: the Problem
// component, with the members its ErrorDetails add.
func (g *schemaGen) problem(s *routeShape) map[string]any {
	if len(s.details) == 0 {
		return ref(problemSchema)
	}
	props := map[string]any{}
	for _, d := range s.details {
		props[d.name] = g.message(d.table, false)
	}
	return map[string]any{"allOf": []any{ref(problemSchema), map[string]any{"type": "object", "properties": props}}}
}

func problemResponse(desc string, schema, headers map[string]any) map[string]any {
	r := map[string]any{
		"description": desc,
		"content":     map[string]any{"application/problem+json": map[string]any{"schema": schema}},
	}
	if len(headers) > 0 {
		r["headers"] = headers
	}
	return r
}

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
