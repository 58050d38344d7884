package httpx

import (
	"context"
	"net/http"
	"reflect"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/kit/typed"
)

// Handler serves endpoint e over HTTP with go-kit's transport: dec builds
// the typed request (nil means the endpoint takes the zero Req), the
// endpoint's Resp is written as JSON with status (201 for creates), and any
// error from decoding, the endpoint or encoding becomes a problem document.
//
// A response that is nil, a nil pointer or a struct{} is answered 204
// with no body. A response implementing httptransport.StatusCoder or
// httptransport.Headerer chooses its own status or adds headers, which is
// how a 202 with Location is made.
//
// opts are applied after Handler's own options, so a caller may replace
// the error encoder; ServerBefore functions run after the one recording
// the request path.
func Handler[Req, Resp any](e endpoint.Endpoint, dec func(context.Context, *http.Request) (Req, error), status int, opts ...httptransport.ServerOption) http.Handler {
	decode := func(ctx context.Context, r *http.Request) (any, error) {
		if dec == nil {
			var zero Req
			return zero, nil
		}
		return dec(ctx, r)
	}
	options := append([]httptransport.ServerOption{
		httptransport.ServerBefore(withRequestPath),
		httptransport.ServerErrorEncoder(ErrorEncoder),
	}, opts...)
	return httptransport.NewServer(e, decode, EncodeResponse[Resp](status), options...)
}

// EncodeResponse is the go-kit response encoder Handler uses: the response
// must be a Resp (anything else is an Internal error, not a panic) and is
// written as JSON with status, or 204 when empty.
func EncodeResponse[Resp any](status int) httptransport.EncodeResponseFunc {
	return func(_ context.Context, w http.ResponseWriter, response any) error {
		if response == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		resp, err := typed.Cast[Resp](response)
		if err != nil {
			return err
		}
		if h, err := typed.Cast[httptransport.Headerer](response); err == nil {
			for k, vs := range h.Headers() {
				for _, v := range vs {
					w.Header().Add(k, v)
				}
			}
		}
		code := status
		if sc, err := typed.Cast[httptransport.StatusCoder](response); err == nil {
			code = sc.StatusCode()
		}
		if isEmpty(resp) {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		WriteJSON(w, code, resp)
		return nil
	}
}

// isEmpty reports a response with nothing to say: a nil pointer or
// interface, or a struct type with no fields (struct{}). Nil slices and
// maps are values (JSON null), not absence, so they are still encoded.
func isEmpty(v any) bool {
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Invalid:
		return true
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	case reflect.Struct:
		return rv.NumField() == 0
	}
	return false
}
