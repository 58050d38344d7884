package rest

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pb33f/jsonschema/v6"

	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// thingSchemas compiles the written (out) and read (in) schemas of Thing,
// which has a field of every kind, as OpenAPI generates them, asserting
// formats (date-time) and content encodings (base64).
func thingSchemas(t *testing.T) (out, in *jsonschema.Schema) {
	t.Helper()
	tab, err := tableFor(thingDescriptor())
	if err != nil {
		t.Fatal(err)
	}
	g := newSchemaGen()
	doc := map[string]any{
		"out":        g.message(tab, false),
		"in":         g.message(tab, true),
		"components": map[string]any{"schemas": g.schemas},
	}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	c.AssertContent()
	if err := c.AddResource("thing.json", v); err != nil {
		t.Fatal(err)
	}
	if out, err = c.Compile("thing.json#/out"); err != nil {
		t.Fatal(err)
	}
	if in, err = c.Compile("thing.json#/in"); err != nil {
		t.Fatal(err)
	}
	return out, in
}

func validates(t *testing.T, s *jsonschema.Schema, doc string) error {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return s.Validate(v)
}

const fullThing = `{"i32":-5,"i64":-9007199254740993,"u32":4294967295,"u64":18446744073709551615,` +
	`"flag":true,"text":"a\nb","blob":"AAE=","ratio":1.5,"status":"GONE_AWAY","maybe":7,` +
	`"nums":[1,2],"parts":[{"name":"a","qty":1}],"labels":{"a":1,"b":2},` +
	`"at":"2024-05-01T12:00:00.5+02:00","ttl":"1m30.25s","part":{"name":"p","qty":3},"one_b":4,` +
	`"child":{"child":{"text":"deep","status":"UNSPECIFIED"}}}`

// What the codec writes, for every kind, matches the written schema:
// the full message and the empty one (nulls, [], {}).
func TestOpenAPISchemaOfWhatIsWritten(t *testing.T) {
	out, _ := thingSchemas(t)
	for _, body := range []string{fullThing, `{}`, `{"maybe":0,"one_a":"","child":{}}`} {
		m, _, err := decodeThing(t, body)
		if err != nil {
			t.Fatal(err)
		}
		written, err := encodeThing(t, m)
		if err != nil {
			t.Fatal(err)
		}
		if err := validates(t, out, written); err != nil {
			t.Errorf("%s: written %s does not match: %v", body, written, err)
		}
	}
	// And the schema is not empty: what the codec never writes fails it.
	for _, bad := range []string{
		`{}`, // every member is written
		strings.Replace(emptyThingJSON(t), `"i64":0`, `"i64":"0"`, 1),
		strings.Replace(emptyThingJSON(t), `"nums":[]`, `"nums":null`, 1),
		strings.Replace(emptyThingJSON(t), `"status":"UNSPECIFIED"`, `"status":"HTTP_STATUS_ACTIVE"`, 1),
		strings.Replace(emptyThingJSON(t), `"at":null`, `"at":"May 1st"`, 1),
		strings.Replace(emptyThingJSON(t), `"ttl":null`, `"ttl":"90"`, 1),
		strings.Replace(emptyThingJSON(t), `"blob":""`, `"blob":"!!"`, 1),
		strings.Replace(emptyThingJSON(t), `"u32":0`, `"u32":-1`, 1),
		strings.Replace(emptyThingJSON(t), `"text":""`, `"text":null`, 1),
	} {
		if validates(t, out, bad) == nil {
			t.Errorf("%s passes", bad)
		}
	}
}

func emptyThingJSON(t *testing.T) string {
	m, _, err := decodeThing(t, `{}`)
	if err != nil {
		t.Fatal(err)
	}
	s, err := encodeThing(t, m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// A body the decoder reads, the read schema accepts, and one it refuses,
// the schema refuses, for what a schema can say. (It cannot say that two
// members of a oneof are exclusive, the description does; nor what text
// kit/netx refuses, nor an integer's range beyond its format.)
func TestOpenAPISchemaOfWhatIsRead(t *testing.T) {
	_, in := thingSchemas(t)
	for _, body := range []string{
		fullThing,
		`{}`,
		`{"text":null,"part":null,"nums":null,"labels":null,"at":null,"status":null}`,
		`{"status":"UNSPECIFIED"}`,
		`{"u64":18446744073709551615,"u32":0}`,
		`{"labels":{}}`,
		`{"nope":1}`,
		`{"part":{"nope":1}}`,
		`{"child":{"child":{"nope":1}}}`,
		`{"nums":[null]}`,
		`{"parts":[null]}`,
		`{"labels":{"a":null}}`,
		`{"status":"NOPE"}`,
		`{"status":"HTTP_STATUS_ACTIVE"}`,
		`{"i64":"5"}`,
		`{"flag":"true"}`,
		`{"u32":-1}`,
		`{"u64":-1}`,
		`{"at":"yesterday"}`,
		`{"blob":"!!"}`,
		`{"part":[]}`,
		`[]`,
		`null`,
	} {
		_, _, decodeErr := decodeThing(t, body)
		schemaErr := validates(t, in, body)
		if (decodeErr == nil) != (schemaErr == nil) {
			t.Errorf("%s: decoder says %v, schema says %v", body, decodeErr, schemaErr)
		}
	}
}

func TestOpenAPIPath(t *testing.T) {
	for tpl, want := range map[string]string{
		"/api/v1/users/{id}":            "/api/v1/users/{id}",
		"/items/{id:[0-9]+}/x":          "/items/{id}/x",
		"/a/{n:[a-z]{2,3}}/{m}":         "/a/{n}/{m}",
		"/unbalanced/{id":               "/unbalanced/{id",
		"/api/v1/orders/{id}/cancel":    "/api/v1/orders/{id}/cancel",
		"/no/variables/at/all":          "/no/variables/at/all",
		"/two/{a}/{b:(?:x|y)}/and/more": "/two/{a}/{b}/and/more",
	} {
		if got := OpenAPIPath(tpl); got != want {
			t.Errorf("OpenAPIPath(%q) = %q, want %q", tpl, got, want)
		}
	}
}

func documentedGet(method, path string, doc Doc) Route {
	return Unary(Spec[*productsv1.GetProductRequest, *productsv1.Product]{
		Method: method, Path: path, Doc: doc,
		Call: func(context.Context, *productsv1.GetProductRequest) (*productsv1.Product, error) { return mug, nil },
	})
}

func TestOpenAPIRefusesWhatItCannotSay(t *testing.T) {
	info := OpenAPIInfo{Title: "t", Version: "1"}
	updateByName := Unary(Spec[*productsv1.UpdateProductRequest, *productsv1.Product]{
		Method: http.MethodPatch, Path: "/p/{name}", Body: true,
		Call: func(context.Context, *productsv1.UpdateProductRequest) (*productsv1.Product, error) { return mug, nil },
	})
	for name, c := range map[string]struct {
		info   OpenAPIInfo
		routes []Route
	}{
		"no title":            {OpenAPIInfo{Version: "1"}, nil},
		"a broken route":      {info, []Route{documentedGet(http.MethodGet, "/p/{nope}", Doc{})}},
		"an unknown method":   {info, []Route{documentedGet("CONNECT", "/p/{id}", Doc{})}},
		"same template":       {info, []Route{documentedGet(http.MethodGet, "/p/{id}", Doc{}), updateByName}},
		"same path twice":     {info, []Route{documentedGet(http.MethodGet, "/p/{id}", Doc{}), documentedGet(http.MethodGet, "/p/{id:[a-z]+}", Doc{})}},
		"a 200 problem":       {OpenAPIInfo{Title: "t", Version: "1", Problems: []int{200}}, nil},
		"a route's 5xx is ok": {info, []Route{documentedGet(http.MethodGet, "/p/{id}", Doc{Problems: []int{502}})}},
	} {
		_, err := OpenAPI(c.info, c.routes...)
		if (err == nil) != (name == "a route's 5xx is ok") {
			t.Errorf("%s: %v", name, err)
		}
	}
	for _, d := range []Doc{{Statuses: []int{200}}, {Statuses: []int{404}}, {Problems: []int{302}}, {Summary: "two\nlines"}} {
		if documentedGet(http.MethodGet, "/p/{id}", d).Err() == nil {
			t.Errorf("Doc %+v is accepted", d)
		}
	}
}

func TestOpenAPIOperation(t *testing.T) {
	f := &fakeProducts{}
	routes := f.routes()
	// AdjustStock's Respond answers 202, which only Doc can tell.
	routes = append(routes,
		documentedGet(http.MethodGet, "/api/v1/products/{id:[0-9a-f-]+}", Doc{Summary: "One product.", Problems: []int{http.StatusConflict}}),
		Unary(Spec[*productsv1.AdjustStockRequest, *productsv1.Product]{
			Method: http.MethodDelete, Path: "/api/v1/products/{id}/stock", Status: http.StatusNoContent,
			Doc:  Doc{Statuses: []int{http.StatusAccepted}},
			Call: func(context.Context, *productsv1.AdjustStockRequest) (*productsv1.Product, error) { return mug, nil },
		}))
	b, err := OpenAPI(OpenAPIInfo{Title: "t", Version: "1"}, routes...)
	if err != nil {
		t.Fatal(err)
	}
	var d struct {
		Paths map[string]map[string]struct {
			Summary    string
			Parameters []struct {
				Name, In string
				Schema   map[string]any
			}
			Responses map[string]struct {
				Content map[string]struct {
					Schema map[string]any
				}
			}
		}
	}
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatal(err)
	}
	get := d.Paths["/api/v1/products/{id}"]["get"]
	if get.Summary != "One product." || get.Parameters[0].Schema["pattern"] != "^(?:[0-9a-f-]+)$" {
		t.Errorf("GetProduct: %+v", get)
	}
	if _, ok := get.Responses["409"]; !ok {
		t.Error("Doc.Problems' 409 is missing")
	}
	if _, ok := get.Responses["413"]; ok {
		t.Error("a route without a body documents 413")
	}
	// Every query parameter a route reads is a parameter.
	search := d.Paths["/api/v1/products"]["get"]
	var got []string
	for _, p := range search.Parameters {
		got = append(got, p.In+":"+p.Name)
	}
	var want []string
	for _, b := range routes[0].shape.query {
		want = append(want, "query:"+b.name)
	}
	if !slices.Equal(got, want) || len(want) != 6 {
		t.Errorf("search parameters %v, want %v", got, want)
	}
	// Hide: the response schema is the route's own, without reserved.
	patch := d.Paths["/api/v1/products/{id}"]["patch"].Responses["200"].Content["application/json"].Schema
	props, _ := patch["properties"].(map[string]any)
	if props == nil || props["reserved"] != nil || props["stock"] == nil {
		t.Errorf("PATCH response: %v", patch)
	}
	// 204 and Doc.Statuses: no body, whatever the other status.
	del := d.Paths["/api/v1/products/{id}/stock"]["delete"].Responses
	if _, ok := del["202"]; !ok || del["204"].Content != nil || del["202"].Content != nil {
		t.Errorf("DELETE responses: %+v", del)
	}
}
