package rest

import (
	"net/http"

	"github.com/kitshop/kitshop/kit/page"
)

// paged is a request with kit/page's page_size.
type paged interface{ GetPageSize() int32 }

// CheckPageSize is a Hook for list routes: a negative page_size is 400
// VALIDATION_FAILED before Call, under kit/page's rule, so the gateway
// refuses it without a backend call (the service applies the same rule
// again, and the rest of it: 0 is the default, above the maximum is
// lowered).
func CheckPageSize[Req paged](_ *http.Request, req Req, _ Members) error {
	_, err := page.Size(int(req.GetPageSize()))
	return err
}
