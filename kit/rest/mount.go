package rest

import (
	"errors"
	"fmt"

	"github.com/gorilla/mux"
)

// Mount adds routes to router, which should come from httpx.NewRouter so
// that unknown paths answer 404 and wrong methods 405 with Allow, as
// problems. Routes are matched in the order given, so list a literal path
// ("/users/me") before a template that also matches it ("/users/{id}").
//
// Mount panics when Check finds a broken route, as http.ServeMux.Handle
// panics on a bad pattern: it is a programming error that the first test
// (or the first start) reports, never something a request can cause.
func Mount(router *mux.Router, routes ...Route) {
	if err := Check(routes...); err != nil {
		panic(err)
	}
	for _, rt := range routes {
		router.Methods(rt.method).Path(rt.path).Handler(rt.handler)
	}
}

// Check reports every route whose Spec is broken, and two routes with the
// same method and path.
func Check(routes ...Route) error {
	var problems []error
	seen := map[string]bool{}
	for _, rt := range routes {
		if rt.err != nil {
			problems = append(problems, rt.err)
			continue
		}
		if rt.handler == nil {
			problems = append(problems, errors.New("rest: a Route not built by Unary"))
			continue
		}
		key := rt.method + " " + rt.path
		if seen[key] {
			problems = append(problems, fmt.Errorf("rest: %s is declared twice", key))
		}
		seen[key] = true
	}
	return errors.Join(problems...)
}
