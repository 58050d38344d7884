package httpx

import (
	"context"
	"net/http"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/gorilla/mux"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/logx"
)

// Reasons for requests that match no route.
const (
	ReasonRouteNotFound    = "ROUTE_NOT_FOUND"
	ReasonMethodNotAllowed = "METHOD_NOT_ALLOWED"
)

// NewRouter returns a gorilla/mux router whose unknown routes answer a 404
// ROUTE_NOT_FOUND problem and whose known paths asked with the wrong method
// answer a 405 METHOD_NOT_ALLOWED problem with the Allow header RFC 9110
// requires (gorilla/mux does not set it).
//
// Paths are matched as sent. gorilla/mux would otherwise answer a path
// that is not in canonical form ("//products", "/a/../products") with a
// 301 text/plain redirect of its own, which turns a POST into a GET in
// most clients; here such a path is a 404 ROUTE_NOT_FOUND problem whose
// detail names the canonical path.
//
// Every matched route runs under the router's guard: the query string is
// checked (CheckQuery), and the request gets a deadline of
// MaxRequestTimeout unless it already has a shorter one, so that even a
// handler outside Handler cannot work for longer than an answer can be
// written.
//
// Middleware added with Router.Use does not run for the 404 and 405
// answers (gorilla applies it to matched routes only), so wrap the router
// itself with RequestID, AccessLog and Recover rather than using Use for
// them.
//
// The template of the route a request matched is noted on its
// logx.Record, so that AccessLog names the route rather than the path.
func NewRouter() *mux.Router {
	r := mux.NewRouter().SkipClean(true)
	r.Use(guard)
	r.NotFoundHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		// gorilla/mux reports a method mismatch inside a subrouter as "not
		// found" when a later route shares the subrouter's prefix, so ask
		// again before claiming the path does not exist.
		if allowed := AllowedMethods(r, req); len(allowed) > 0 {
			methodNotAllowed(r, w, req, allowed)
			return
		}
		msg := "no route for " + req.URL.Path
		if clean := cleanPath(req.URL.Path); clean != req.URL.Path {
			msg += "; paths are matched as sent, and its canonical form is " + clean
		}
		WriteProblem(w, req, errs.New(errs.NotFound, ReasonRouteNotFound, msg))
	})
	r.MethodNotAllowedHandler = http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		methodNotAllowed(r, w, req, AllowedMethods(r, req))
	})
	return r
}

// methodNotAllowed answers 405, except that HEAD on a GET route is served
// as the GET: net/http drops the body of a response to HEAD, so clients
// get the GET's status and headers, as RFC 9110 asks.
func methodNotAllowed(r *mux.Router, w http.ResponseWriter, req *http.Request, allowed []string) {
	if req.Method == http.MethodHead && slices.Contains(allowed, http.MethodGet) {
		get := req.Clone(req.Context())
		get.Method = http.MethodGet
		r.ServeHTTP(w, get)
		return
	}
	list := strings.Join(allowed, ", ")
	w.Header().Set("Allow", list)
	WriteProblem(w, req, errs.Newf(errs.InvalidArgument, ReasonMethodNotAllowed,
		"%s is not allowed on %s; allowed: %s", req.Method, req.URL.Path, list).
		WithStatus(http.StatusMethodNotAllowed))
}

// AllowedMethods lists, in a stable order, the methods for which router
// has a route matching req's path (and every other matcher but the
// method). It asks the router itself, so subrouters, host and header
// matchers are all honoured.
func AllowedMethods(router *mux.Router, req *http.Request) []string {
	var candidates []string
	_ = router.Walk(func(route *mux.Route, _ *mux.Router, _ []*mux.Route) error {
		if ms, err := route.GetMethods(); err == nil {
			for _, m := range ms {
				if !slices.Contains(candidates, m) {
					candidates = append(candidates, m)
				}
			}
		}
		return nil
	})
	slices.SortFunc(candidates, compareMethods)
	var allowed []string
	for _, m := range candidates {
		probe := req.Clone(req.Context())
		probe.Method = m
		var match mux.RouteMatch
		if router.Match(probe, &match) && match.MatchErr == nil {
			allowed = append(allowed, m)
		}
	}
	return allowed
}

// methodOrder puts the common methods first, in the order people read them.
var methodOrder = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut,
	http.MethodPatch, http.MethodDelete, http.MethodOptions,
}

func compareMethods(a, b string) int {
	ia, ib := slices.Index(methodOrder, a), slices.Index(methodOrder, b)
	switch {
	case ia >= 0 && ib >= 0:
		return ia - ib
	case ia >= 0:
		return -1
	case ib >= 0:
		return 1
	}
	return strings.Compare(a, b)
}

// guard is the middleware NewRouter runs for every matched route. It
// also notes the route's template on the request's logx.Record, for
// AccessLog's line.
func guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rec := logx.RecordFrom(r.Context()); rec != nil {
			if tpl := routeTemplate(mux.CurrentRoute(r)); tpl != "" {
				rec.SetRoute(tpl)
			}
		}
		if err := CheckQuery(r); err != nil {
			WriteProblem(w, r, err)
			return
		}
		// Nested routers (the platform router around a service's) each
		// run the guard; the outer one's deadline serves them all.
		if dl, ok := r.Context().Deadline(); !ok || time.Until(dl) > MaxRequestTimeout {
			ctx, cancel := context.WithTimeout(r.Context(), MaxRequestTimeout)
			defer cancel()
			r = r.WithContext(ctx)
		}
		next.ServeHTTP(w, r)
	})
}

// templates caches each route's path template ("" for a route without
// one, such as a catch-all MatcherFunc), because mux's GetPathTemplate
// allocates an error for those on every call. Routes are made at start-up,
// so the cache is as bounded as the routes are.
var templates sync.Map // *mux.Route -> string

func routeTemplate(route *mux.Route) string {
	if route == nil {
		return ""
	}
	if tpl, ok := templates.Load(route); ok {
		return tpl.(string)
	}
	tpl, err := route.GetPathTemplate()
	if err != nil {
		tpl = ""
	}
	templates.Store(route, tpl)
	return tpl
}

// cleanPath is the canonical form of p, as gorilla/mux and net/http's
// ServeMux compute it: one slash between segments, no "." or "..", the
// trailing slash kept.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if p[0] != '/' {
		p = "/" + p
	}
	np := path.Clean(p)
	if p[len(p)-1] == '/' && np != "/" {
		np += "/"
	}
	return np
}
