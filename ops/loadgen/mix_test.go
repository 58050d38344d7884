package main

import (
	"strings"
	"testing"
)

func TestPickGivesEachRouteItsWeight(t *testing.T) {
	m, err := parseMix("list=3,get-product=1,place-order=6")
	if err != nil {
		t.Fatal(err)
	}
	if m.total != 10 {
		t.Fatalf("total = %d, want 10", m.total)
	}
	// pick maps [0,total) onto the routes: every n exactly once gives
	// each route exactly its weight.
	got := map[string]int{}
	for n := range m.total {
		got[m.pick(n)]++
	}
	want := map[string]int{"list": 3, "get-product": 1, "place-order": 6}
	for r, w := range want {
		if got[r] != w {
			t.Errorf("%s drawn %d times of %d, want %d", r, got[r], m.total, w)
		}
	}
}

func TestJourneyMixSharesAreItsWeights(t *testing.T) {
	m, err := scenarioMix("journey", "")
	if err != nil {
		t.Fatal(err)
	}
	if m.total != 100 {
		t.Fatalf("journey weights sum to %d, want 100 (they are percentages)", m.total)
	}
	for _, r := range knownRoutes {
		if !m.has(r) {
			t.Errorf("journey lacks %s", r)
		}
	}
	// Random draws land near the weights: 20,000 draws put a share's
	// standard deviation under 0.4 points, so 1.5 points is > 3 sigma.
	const draws = 20000
	got := map[string]int{}
	for range draws {
		got[m.next()]++
	}
	for _, s := range m.steps {
		share := 100 * float64(got[s.route]) / draws
		if d := share - float64(s.weight); d > 1.5 || d < -1.5 {
			t.Errorf("%s: %.1f%% of draws, want %d%%", s.route, share, s.weight)
		}
	}
	if !m.needsUsers() {
		t.Error("the journey logs in and orders: it needs the user pool")
	}
}

func TestSingleRouteScenarios(t *testing.T) {
	for _, r := range knownRoutes {
		m, err := scenarioMix(r, "")
		if err != nil {
			t.Fatalf("%s: %v", r, err)
		}
		if len(m.steps) != 1 || m.pick(0) != r {
			t.Errorf("%s: mix %v", r, m)
		}
	}
	if m, _ := scenarioMix("get-product", ""); m.needsUsers() {
		t.Error("get-product alone needs no users")
	}
}

func TestBadMixesAreRefused(t *testing.T) {
	for spec, want := range map[string]string{
		"":                      "empty mix",
		"list":                  "want route=weight",
		"list=0":                "weight must be",
		"list=-2":               "weight must be",
		"list=x":                "weight must be",
		"checkout=1":            "unknown route",
		"list=1,list=2":         "given twice",
		"list=1,search=2000000": "weight must be",
	} {
		_, err := parseMix(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseMix(%q) = %v, want an error with %q", spec, err, want)
		}
	}
	if _, err := scenarioMix("browse", ""); err == nil {
		t.Error("an unknown scenario was accepted")
	}
}
