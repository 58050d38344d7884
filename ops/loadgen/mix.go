package main

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

// The routes loadgen knows, by the names the report and -mix use.
const (
	routeList       = "list"        // GET /api/v1/products
	routeSearch     = "search"      // GET /api/v1/products?q=
	routeGetProduct = "get-product" // GET /api/v1/products/{id}
	routeLogin      = "login"       // POST /api/v1/auth/login
	routePlaceOrder = "place-order" // POST /api/v1/orders
	routeGetOrder   = "get-order"   // GET /api/v1/orders/{id}
)

var knownRoutes = []string{routeList, routeSearch, routeGetProduct, routeLogin, routePlaceOrder, routeGetOrder}

// journeyMix is a shop's traffic in the large: mostly browsing, some
// logins, a few orders each read back once or twice. Each request is drawn
// independently (an open loop has no per-user session to wait on), so
// the weights are the shares of requests, in percent.
const journeyMix = "list=25,search=20,get-product=30,login=5,place-order=8,get-order=12"

// step is one route of a mix with its weight.
type step struct {
	route  string
	weight int
}

// mix is a weighted choice of routes.
type mix struct {
	steps []step
	total int
}

// parseMix reads "route=weight,..." with weights > 0 and known routes.
func parseMix(s string) (mix, error) {
	var m mix
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		name, w, ok := strings.Cut(part, "=")
		if !ok {
			return mix{}, fmt.Errorf("mix entry %q: want route=weight", part)
		}
		if !slices.Contains(knownRoutes, name) {
			return mix{}, fmt.Errorf("mix entry %q: unknown route (known: %s)", part, strings.Join(knownRoutes, ", "))
		}
		weight, err := strconv.Atoi(w)
		if err != nil || weight <= 0 || weight > 1_000_000 {
			return mix{}, fmt.Errorf("mix entry %q: weight must be a whole number from 1 to 1000000", part)
		}
		if m.has(name) {
			return mix{}, fmt.Errorf("mix entry %q: route given twice", part)
		}
		m.steps = append(m.steps, step{name, weight})
		m.total += weight
	}
	if len(m.steps) == 0 {
		return mix{}, fmt.Errorf("empty mix")
	}
	return m, nil
}

// scenarioMix is the mix of a -scenario: one route, or the journey.
func scenarioMix(scenario, custom string) (mix, error) {
	switch {
	case custom != "":
		return parseMix(custom)
	case scenario == "journey":
		return parseMix(journeyMix)
	case slices.Contains(knownRoutes, scenario):
		return parseMix(scenario + "=1")
	}
	return mix{}, fmt.Errorf("unknown -scenario %q (known: journey, %s)", scenario, strings.Join(knownRoutes, ", "))
}

// pick maps n in [0, total) onto a route, each owning a run of n as long
// as its weight.
func (m mix) pick(n int) string {
	for _, s := range m.steps {
		if n < s.weight {
			return s.route
		}
		n -= s.weight
	}
	return m.steps[len(m.steps)-1].route
}

func (m mix) next() string { return m.pick(rand.IntN(m.total)) }

func (m mix) has(route string) bool {
	return slices.ContainsFunc(m.steps, func(s step) bool { return s.route == route })
}

// needsUsers says whether setup must register and log in a user pool.
func (m mix) needsUsers() bool {
	return m.has(routeLogin) || m.has(routePlaceOrder) || m.has(routeGetOrder)
}

func (m mix) String() string {
	parts := make([]string, len(m.steps))
	for i, s := range m.steps {
		parts[i] = fmt.Sprintf("%s=%d", s.route, s.weight)
	}
	return strings.Join(parts, ",")
}
