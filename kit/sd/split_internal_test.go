package sd

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"google.golang.org/grpc/metadata"

	"github.com/kitshop/kitshop/kit/errs"
)

func rollout(weights map[string]int, step int) Rollout {
	return Rollout{Service: "products", Weights: weights, Stable: "v1", Step: step}
}

// A client key gets the same version on every call within a step, from
// every caller (the hash depends on nothing but the key, the step and the
// weights).
func TestChooseIsStickyPerKeyAndStep(t *testing.T) {
	a := compileSplit(rollout(map[string]int{"v1": 50, "v2": 50}, 3))
	b := compileSplit(rollout(map[string]int{"v2": 50, "v1": 50}, 3)) // another gateway, same document
	moved := 0
	for i := range 200 {
		key := RouteKeyOf(fmt.Sprintf("user:%d", i))
		first := a.choose(key, false)
		for range 20 {
			if got := a.choose(key, false); got != first {
				t.Fatalf("key %s moved from %s to %s within a step", key, first, got)
			}
		}
		if got := b.choose(key, false); got != first {
			t.Fatalf("two callers disagree on key %s: %s and %s", key, first, got)
		}
		next := compileSplit(rollout(map[string]int{"v1": 50, "v2": 50}, 4))
		if next.choose(key, false) != first {
			moved++
		}
	}
	// A new step reshuffles clients (about half move at 50/50).
	if moved < 50 || moved > 150 {
		t.Fatalf("%d of 200 clients changed version with the step, want about 100", moved)
	}
}

// Shares follow the weights, with and without keys.
func TestChooseFollowsWeights(t *testing.T) {
	s := compileSplit(rollout(map[string]int{"v1": 95, "v2": 5}, 1))
	keyed, random := 0, 0
	const n = 20000
	for i := range n {
		if s.choose(RouteKeyOf(fmt.Sprintf("client-%d", i)), false) == "v2" {
			keyed++
		}
		if s.choose("", false) == "v2" {
			random++
		}
	}
	// 5% of 20,000 is 1,000 with a standard deviation near 31.
	for name, got := range map[string]int{"keyed": keyed, "random": random} {
		if got < 800 || got > 1200 {
			t.Errorf("%s: %d of %d calls on the 5%% version", name, got, n)
		}
	}
	zero := compileSplit(rollout(map[string]int{"v1": 100, "v2": 0}, 1))
	for i := range 1000 {
		if v := zero.choose(RouteKeyOf(fmt.Sprint(i)), false); v != "v1" {
			t.Fatalf("a version at weight 0 got a call (%s)", v)
		}
	}
}

func TestRetryPrefersStable(t *testing.T) {
	s := compileSplit(rollout(map[string]int{"v1": 5, "v2": 95}, 1))
	for i := range 100 {
		if v := s.choose(RouteKeyOf(fmt.Sprint(i)), true); v != "v1" {
			t.Fatalf("retry went to %s, want the stable v1", v)
		}
	}
	// A stable version switched off (blue-green to v2) is not forced.
	off := compileSplit(rollout(map[string]int{"v1": 0, "v2": 100}, 1))
	if v := off.choose("k", true); v != "v2" {
		t.Fatalf("retry went to %s, a version with no weight", v)
	}
}

func TestRolloutValidate(t *testing.T) {
	good := rollout(map[string]int{"v1": 95, "v2": 5}, 1)
	if err := good.Validate(); err != nil {
		t.Fatalf("valid rollout refused: %v", err)
	}
	for name, r := range map[string]Rollout{
		"sum":      rollout(map[string]int{"v1": 95, "v2": 4}, 1),
		"negative": rollout(map[string]int{"v1": 105, "v2": -5}, 1),
		"empty":    rollout(nil, 1),
		"version":  rollout(map[string]int{"": 100}, 1),
		"service":  {Service: "a/b", Weights: map[string]int{"v1": 100}},
	} {
		if err := r.Validate(); errs.KindOf(err) != errs.InvalidArgument {
			t.Errorf("%s: Validate = %v, want InvalidArgument", name, err)
		}
	}
	if _, err := DecodeRollout([]byte(`{"service":"products","weights":{"v1":"100"}}`)); errs.KindOf(err) != errs.InvalidArgument {
		t.Errorf("malformed JSON: %v", err)
	}
}

// A route key from a caller's metadata is taken when well formed and
// ignored otherwise; one set on the context wins.
func TestRouteKeyFromMetadata(t *testing.T) {
	in := func(v string) context.Context {
		return metadata.NewIncomingContext(context.Background(), metadata.Pairs(MetadataRouteKey, v))
	}
	if got := RouteKey(in("0123abcd")); got != "0123abcd" {
		t.Fatalf("RouteKey = %q", got)
	}
	for _, bad := range []string{"", "a b", "key\x00", strings.Repeat("a", maxRouteKey+1), "ключ"} {
		if got := RouteKey(in(bad)); got != "" {
			t.Errorf("RouteKey(%q) = %q, want it ignored", bad, got)
		}
	}
	if got := RouteKey(WithRouteKey(in("from-caller"), "own")); got != "own" {
		t.Fatalf("RouteKey = %q, want the context's own key", got)
	}
	if k := RouteKeyOf("api-key:3f2a9c01b7e4"); len(k) != 16 || strings.Contains(k, "3f2a") {
		t.Fatalf("RouteKeyOf = %q, want a 16-digit hash that does not repeat the identity", k)
	}
}
