package rest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
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
	// RequestHeaders are optional headers every operation takes, name to
	// description (X-API-Key); ResponseHeaders are headers on every
	// response, success or problem (X-Request-ID, traceparent,
	// RateLimit-Limit). Their values are strings.
	RequestHeaders, ResponseHeaders map[string]string
	// DocumentPath, when set, is where the document itself is served
	// ("/api/v1/openapi.json"), listed as a GET operation of its own so
	// that the document has every route a server serves.
	DocumentPath string
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
// with the Spec's Location, ResponseHeaders and Metadata headers; and its
// problem responses (application/problem+json, the Problem component,
// plus the route's ErrorDetails members): 400 when the route reads any
// input, 404 with path variables, 413 and 415 with a body, 401 and 403 as
// Security says, Doc.Problems, info.Problems, and a default response for
// the rest. Operation ids are the request message's name without
// "Request" ("CreateOrder"), with the path appended where two routes
// share a message; tags are the proto package's service ("orders").
//
// The output is deterministic: the same routes give the same bytes, in
// whatever order they come (members sorted by name). It fails on a broken route (Check), a method
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
	g := newDocGen(info)
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
		paths[path][method] = g.operation(rt, ids[i], tag, patterns)
	}

	if p := info.DocumentPath; p != "" {
		if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, "{}") {
			return nil, fmt.Errorf("rest: OpenAPI: DocumentPath %q is not a path without variables", p)
		}
		if paths[p] == nil {
			paths[p] = map[string]any{}
		}
		if paths[p]["get"] != nil {
			return nil, fmt.Errorf("rest: OpenAPI: DocumentPath: GET %s is a route", p)
		}
		tags[documentTag] = true
		paths[p]["get"] = g.documentOperation()
	}

	doc := map[string]any{
		"openapi":    "3.1.0",
		"info":       map[string]any{"title": info.Title, "version": info.Version},
		"paths":      paths,
		"components": g.components(),
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
