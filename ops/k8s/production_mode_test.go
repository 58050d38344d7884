package k8s

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
)

// TestProdIsProductionMode: every program the production overlays deploy
// runs with KITSHOP_ENV=production, so that a test-only setting (fault
// injection) stops it at start-up instead of failing customers' calls;
// and no overlay sets a fault.
func TestProdIsProductionMode(t *testing.T) {
	for _, o := range overlays {
		objs := render(t, o)
		for _, d := range typed[appsv1.Deployment](objs) {
			for _, c := range d.Spec.Template.Spec.Containers {
				env := resolveEnv(t, objs, c)
				if strings.HasPrefix(o.name, "prod") && env.value("KITSHOP_ENV") != "production" {
					t.Errorf("%s/%s: KITSHOP_ENV=%q, want production", o.name, d.Name, env.value("KITSHOP_ENV"))
				}
				for _, name := range []string{"KITSHOP_FAULT_ERROR_RATE", "KITSHOP_FAULT_LATENCY"} {
					if env.isSet(name) {
						t.Errorf("%s/%s sets %s: fault injection is for tests", o.name, d.Name, name)
					}
				}
			}
		}
	}
}
