package httpx

import (
	"context"
	"net/http"
	"reflect"
	"time"

	"github.com/go-kit/kit/endpoint"
	httptransport "github.com/go-kit/kit/transport/http"

	"github.com/kitshop/kitshop/kit/netx"
	"github.com/kitshop/kitshop/kit/typed"
)

// DefaultTimeout is the deadline Handler gives an endpoint's work unless
// the route asks for another with Timeout. Without one, a request whose
// database froze hung for as long as the client waited.
const DefaultTimeout = 30 * time.Second

// HeaderIdempotentReplayed marks the answer to a request that repeated an
// idempotency key: the stored outcome of the first request, not a new one.
const HeaderIdempotentReplayed = "Idempotent-Replayed"

// Replayer is implemented by responses that may be replays of an earlier
// idempotent request. When Replayed reports true, Handler answers with
// "Idempotent-Replayed: true", as API.md asks of every idempotent route.
//
// This is the one way services say it: the service's response type (or a
// transport wrapper around it) carries whether its store found the key
// already used, e.g.
//
//	type Payment struct { ...; replayed bool }
//	func (p Payment) Replayed() bool { return p.replayed }
//
// The method is transport-neutral, so a domain type may implement it.
type Replayer interface {
	Replayed() bool
}

// Handler serves endpoint e over HTTP with go-kit's transport: dec builds
// the typed request (nil means the endpoint takes the zero Req), the
// endpoint's Resp is written as JSON with status (201 for creates), and any
// error from decoding, the endpoint or encoding becomes a problem document.
//
// Before dec runs, the path variables and the query are checked
// (CheckPathVars, CheckQuery): a control character in an id or a filter is
// a 400 naming it, whatever the route does with it.
//
// The endpoint runs under a deadline, DefaultTimeout unless the route
// passes Timeout. Work that ends because of it is answered 504
// DEADLINE_EXCEEDED, and work that ends because the client went away is
// logged as the client's cancellation, not as a failure of this server,
// whatever error the work in progress made of it (see netx.ContextError).
//
// A response that is nil, a nil pointer or a struct{} is answered 204
// with no body. A response implementing httptransport.StatusCoder or
// httptransport.Headerer chooses its own status or adds headers, which is
// how a 202 with Location is made; Location (the option) does the same
// for a response type that has no such method, and a Replayer that was
// replayed gets Idempotent-Replayed: true.
//
// opts are applied after Handler's own options, so a caller may replace
// the error encoder; ServerBefore functions run after the one recording
// the request path.
func Handler[Req, Resp any](e endpoint.Endpoint, dec func(context.Context, *http.Request) (Req, error), status int, opts ...httptransport.ServerOption) http.Handler {
	decode := func(ctx context.Context, r *http.Request) (any, error) {
		if err := CheckPathVars(r); err != nil {
			return nil, err
		}
		if err := CheckQuery(r); err != nil {
			return nil, err
		}
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
	return httptransport.NewServer(withDeadline(e), decode, EncodeResponse[Resp](status), options...)
}

// Timeout gives a Handler route its own deadline instead of
// DefaultTimeout: shorter for a login that must fail fast, longer for a
// report. The router's own cap (MaxRequestTimeout, kept below the
// server's write timeout so that a 504 can still be written) still
// applies.
func Timeout(d time.Duration) httptransport.ServerOption {
	return httptransport.ServerBefore(func(ctx context.Context, _ *http.Request) context.Context {
		return context.WithValue(ctx, timeoutKey{}, d)
	})
}

// Location sets the Location header from the response, for a 201 naming
// what it created:
//
//	httpx.Handler[NewUser, User](e.CreateUser, dec, http.StatusCreated,
//		httpx.Location(func(u User) string { return "/api/v1/users/" + u.ID }))
//
// An empty result sets nothing. It only acts on Handler's responses of
// type Resp.
func Location[Resp any](f func(Resp) string) httptransport.ServerOption {
	loc := func(v any) string {
		if resp, ok := v.(Resp); ok {
			return f(resp)
		}
		return ""
	}
	return httptransport.ServerBefore(func(ctx context.Context, _ *http.Request) context.Context {
		return context.WithValue(ctx, locationKey{}, loc)
	})
}

type (
	timeoutKey  struct{}
	locationKey struct{}
)

// withDeadline runs e under the route's deadline and reports the failure
// of work that ran out of time, or whose client left, as such.
func withDeadline(e endpoint.Endpoint) endpoint.Endpoint {
	return func(ctx context.Context, request any) (any, error) {
		d := DefaultTimeout
		if v, ok := ctx.Value(timeoutKey{}).(time.Duration); ok && v > 0 {
			d = v
		}
		ctx, cancel := context.WithTimeout(ctx, d)
		defer cancel()
		resp, err := e(ctx, request)
		// An HTTP client sends no deadline: any deadline here is this
		// server's own budget, so running out of it is this server's
		// slowness (false), while a cancellation is the client leaving.
		return resp, netx.ContextError(ctx, err, false)
	}
}

// EncodeResponse is the go-kit response encoder Handler uses: the response
// must be a Resp (anything else is an Internal error, not a panic) and is
// written as JSON with status, or 204 when empty.
func EncodeResponse[Resp any](status int) httptransport.EncodeResponseFunc {
	return func(ctx context.Context, w http.ResponseWriter, response any) error {
		if response == nil {
			w.WriteHeader(http.StatusNoContent)
			return nil
		}
		resp, err := typed.Cast[Resp](response)
		if err != nil {
			return err
		}
		if h, ok := response.(httptransport.Headerer); ok {
			for k, vs := range h.Headers() {
				for _, v := range vs {
					w.Header().Add(k, v)
				}
			}
		}
		if loc, ok := ctx.Value(locationKey{}).(func(any) string); ok {
			if l := loc(response); l != "" {
				w.Header().Set("Location", l)
			}
		}
		if r, ok := response.(Replayer); ok && r.Replayed() {
			w.Header().Set(HeaderIdempotentReplayed, "true")
		}
		code := status
		if sc, ok := response.(httptransport.StatusCoder); ok {
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
