package httpx

import (
	"net/http"
	"strconv"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/page"
)

// PageRequest is a validated page_size and the opaque page_token.
type PageRequest struct {
	Size  int
	Token string
}

// ParsePage reads page_size and page_token from the query string. The size
// follows page.Size (unset means page.DefaultSize, larger than page.MaxSize
// is lowered to it, negative is a 400); a size that is not an integer is a
// 400 naming the field. The token is returned as sent: the service decodes
// it with page.DecodeToken against its query.
func ParsePage(r *http.Request) (PageRequest, error) {
	q := r.URL.Query()
	n := 0
	if raw := q.Get("page_size"); raw != "" {
		var err error
		if n, err = strconv.Atoi(raw); err != nil {
			return PageRequest{}, errs.Invalid(errs.FieldViolation{Field: "page_size", Message: "must be an integer"})
		}
	}
	size, err := page.Size(n)
	if err != nil {
		return PageRequest{}, err
	}
	return PageRequest{Size: size, Token: q.Get("page_token")}, nil
}
