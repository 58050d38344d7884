package rest

import (
	"net/http"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/protobuf/types/dynamicpb"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/httpx"
)

// thingStruct is the part of Thing that httpx.DecodeJSON can read into a
// Go struct.
type thingStruct struct {
	Text string  `json:"text"`
	I64  int64   `json:"i64"`
	Flag bool    `json:"flag"`
	Nums []int64 `json:"nums"`
	Part *struct {
		Name string `json:"name"`
		Qty  int64  `json:"qty"`
	} `json:"part"`
}

// TestBadBodiesFailAsInHTTPX: a service moving from httpx.DecodeJSON to
// kit/rest changes no error its clients see. Both decoders build their
// answers with httpx's constructors; this pins that they reach them alike:
// the same reason, status and field paths, and for everything but a value
// of the wrong type the same message too. (A wrong type differs in the
// message's offset, the value's start in httpx and its end here, and httpx
// may not quote a number that the json package did not keep.)
func TestBadBodiesFailAsInHTTPX(t *testing.T) {
	md := thingDescriptor()
	tab, err := tableFor(md)
	if err != nil {
		t.Fatal(err)
	}
	big := `{"text":"` + strings.Repeat("x", httpx.MaxBodyBytes) + `"}`
	for _, c := range []struct {
		name, contentType, body string
		wrongType               bool
	}{
		{"no content type", "", `{}`, false},
		{"wrong content type", "text/plain; charset=utf-8", `{}`, false},
		{"empty", "application/json", ``, false},
		{"whitespace", "application/json", "  \n", false},
		{"truncated", "application/json", `{"text":`, false},
		{"syntax", "application/json", `{"text" "x"}`, false},
		{"invalid UTF-8", "application/json", "{\"text\":\"\xff\"}", false},
		{"duplicate", "application/json", `{"text":"a","text":"b"}`, false},
		{"trailing value", "application/json", `{} {}`, false},
		{"unknown member", "application/json", `{"bogus":1}`, false},
		{"nested unknown", "application/json", `{"part":{"bogus":1}}`, false},
		{"case mismatch", "application/json", `{"TEXT":"x"}`, false},
		{"too large", "application/json", big, false},
		{"string as number", "application/json", `{"text":5}`, true},
		{"bool as string", "application/json", `{"flag":"true"}`, true},
		{"quoted integer", "application/json", `{"part":{"qty":"5"}}`, true},
		{"object for scalar", "application/json", `{"text":{}}`, true},
		{"control character", "application/json", `{"text":"a\u0000b"}`, false},
		{"nested control character", "application/json", `{"part":{"name":"x\u0007"}}`, false},
		{"control character in a name", "application/json", `{"bo\u0000gus":1}`, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			req := func() *http.Request {
				r := newRequest(http.MethodPost, "/", c.body, nil)
				r.Header.Set("Content-Type", c.contentType)
				return r
			}
			_, want := httpx.DecodeJSON[thingStruct](req())
			got := decodeBody(req(), dynamicpb.NewMessage(md), tab, nil)
			if want == nil {
				t.Fatal("httpx.DecodeJSON accepted the body")
			}
			w, g := errs.As(want), errs.As(got)
			same := g != nil && g.Kind == w.Kind && g.Reason == w.Reason && g.HTTPStatus() == w.HTTPStatus()
			if c.wrongType {
				same = same && len(g.Fields) == 1 && len(w.Fields) == 1 && g.Fields[0].Field == w.Fields[0].Field
			} else {
				same = same && g.Message == w.Message && reflect.DeepEqual(g.Fields, w.Fields)
			}
			if !same {
				t.Fatalf("rest:  %v %v\nhttpx: %v %v", got, g.Fields, want, w.Fields)
			}
		})
	}
}
