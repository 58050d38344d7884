package rest

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/reflect/protoreflect"
)

// Doc is what a route's OpenAPI operation says that the mapping cannot
// work out from the Spec (see OpenAPI). It changes nothing that is served.
type Doc struct {
	// Summary is the operation's one-line summary.
	Summary string
	// Statuses are the other success statuses Respond may choose (202
	// while the work goes on), each documented with Status's body and
	// headers.
	Statuses []int
	// Problems are the problem statuses Call's errors may answer beyond
	// those the mapping implies (409 for a taken SKU, 402 for a declined
	// card). Every operation also documents a default problem response.
	Problems []int
}

// check refuses what the document could not say: a success status that
// is not 2xx (or is Status itself), a problem status that is not 4xx or
// 5xx, a summary over one line.
func (d Doc) check(status int) error {
	for _, s := range d.Statuses {
		if s < 200 || s > 299 || s == status {
			return fmt.Errorf("Statuses: %d is not a 2xx status other than %d", s, status)
		}
	}
	for _, s := range d.Problems {
		if s < 400 || s > 599 {
			return fmt.Errorf("Problems: %d is not a 4xx or 5xx status", s)
		}
	}
	if strings.ContainsAny(d.Summary, "\r\n") {
		return fmt.Errorf("Summary %q is more than one line", d.Summary)
	}
	return nil
}

// routeShape is what the OpenAPI document says of one route, taken from
// its compiled handler so that the document describes exactly what is
// read and written: the same tables, bindings and statuses.
type routeShape struct {
	path, query, headers []binding
	body                 *msgTable // nil: no body is read
	required             []string
	resp                 *msgTable
	status               int
	location             bool
	respHeaders          [][2]string
	metadata             map[string]string
	details              map[protoreflect.FullName]detailMember
	doc                  Doc
}

func (h *handler[Req, Resp]) shape(d Doc) *routeShape {
	return &routeShape{
		path: h.path, query: h.query, headers: h.headers,
		body: h.body, required: h.required,
		resp: h.resp, status: h.status, location: h.location != nil,
		respHeaders: h.respHeaders, metadata: h.metadata, details: h.details,
		doc: d,
	}
}
