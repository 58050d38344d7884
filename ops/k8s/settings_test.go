package k8s

import (
	"bytes"
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
)

// repoRoot is the kitshop repository this module lives in.
const repoRoot = "../.."

// knownSettings are the KITSHOP_* names the programs read: every string
// literal "KITSHOP_..." in the repository's non-test Go sources. The
// programs ignore a variable they do not know, so a misspelt one in a
// manifest would silently change nothing.
func knownSettings(t *testing.T) map[string]bool {
	t.Helper()
	literal := regexp.MustCompile(`"(KITSHOP_[A-Z0-9_]+)"`)
	known := map[string]bool{}
	for _, dir := range []string{"kit", "users", "products", "orders", "payments", "gateway"} {
		err := filepath.WalkDir(filepath.Join(repoRoot, dir), func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
				return err
			}
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			for _, m := range literal.FindAllSubmatch(src, -1) {
				known[string(m[1])] = true
			}
			return nil
		})
		if err != nil {
			t.Fatalf("reading the programs' sources: %v", err)
		}
	}
	if !known["KITSHOP_DRAIN_TIMEOUT"] || !known["KITSHOP_RATE_TIERS"] {
		t.Fatalf("found %d settings in %s, not the ones every program reads: is this module still inside the repository?", len(known), repoRoot)
	}
	return known
}

// TestSettingsAreKnown: every KITSHOP_* variable a program gets is one it
// reads.
func TestSettingsAreKnown(t *testing.T) {
	known := knownSettings(t)
	for _, o := range overlays {
		objs := render(t, o)
		for _, d := range typed[appsv1.Deployment](objs) {
			for _, c := range d.Spec.Template.Spec.Containers {
				for name := range resolveEnv(t, objs, c).vars {
					if strings.HasPrefix(name, "KITSHOP_") && !known[name] {
						t.Errorf("%s/%s: %s is not a setting any program reads", o.name, d.Name, name)
					}
				}
			}
		}
	}
}

// TestRateTiers decodes the gateway's KITSHOP_RATE_TIERS file as strictly
// as the gateway does (kit/ratelimit.LoadTiers: unknown members refused,
// both figures required and positive, a whole burst), so a bad tier fails
// here rather than stopping every gateway at start.
func TestRateTiers(t *testing.T) {
	for _, o := range overlays {
		t.Run(o.name, func(t *testing.T) {
			objs := render(t, o)
			d := typed[appsv1.Deployment](objs)["gateway"]
			c := d.Spec.Template.Spec.Containers[0]
			path := resolveEnv(t, objs, c).value("KITSHOP_RATE_TIERS")
			_, vol, ok := mountOf(d.Spec.Template.Spec, c, path)
			if !ok || vol.ConfigMap == nil {
				t.Fatalf("KITSHOP_RATE_TIERS=%q is not in a ConfigMap mount", path)
			}
			cm := typed[corev1.ConfigMap](objs)[vol.ConfigMap.Name]
			if cm == nil {
				t.Fatalf("ConfigMap %s is not rendered", vol.ConfigMap.Name)
			}
			raw, ok := cm.Data[filepath.Base(path)]
			if !ok {
				t.Fatalf("ConfigMap %s has no key %s", cm.Name, filepath.Base(path))
			}
			dec := json.NewDecoder(bytes.NewReader([]byte(raw)))
			dec.DisallowUnknownFields()
			var tiers map[string]struct {
				PerMinute *float64     `json:"per_minute"`
				Burst     *json.Number `json:"burst"`
			}
			if err := dec.Decode(&tiers); err != nil {
				t.Fatalf("tiers.json: %v", err)
			}
			validName := regexp.MustCompile(`^[a-z0-9_-]{1,64}$`)
			for name, tier := range tiers {
				if !validName.MatchString(name) {
					t.Errorf("tier name %q", name)
				}
				if tier.PerMinute == nil || *tier.PerMinute <= 0 || tier.Burst == nil {
					t.Errorf("tier %s: per_minute and burst are both required and positive", name)
					continue
				}
				if b, err := tier.Burst.Int64(); err != nil || b <= 0 {
					t.Errorf("tier %s: burst %s is not a positive whole number", name, *tier.Burst)
				}
			}
			// The file writes out API.md's tiers rather than leaning on the
			// gateway's defaults, so it alone says what the limits are.
			for _, name := range []string{"anonymous", "free", "pro", "enterprise"} {
				if _, ok := tiers[name]; !ok {
					t.Errorf("tiers.json lacks API.md's tier %s", name)
				}
			}
			// Every key's tier exists (the dev overlay's keys are visible).
			for _, s := range typed[corev1.Secret](objs) {
				if logicalName(s.Name) != "gateway-api-keys" {
					continue
				}
				spec := string(s.Data["api-keys"]) + s.StringData["api-keys"]
				for _, entry := range strings.Split(spec, ",") {
					if entry = strings.TrimSpace(entry); entry == "" {
						continue
					}
					i := strings.LastIndexByte(entry, ':')
					if _, ok := tiers[entry[i+1:]]; i < 0 || !ok {
						t.Errorf("an API key names tier %q, which tiers.json lacks", entry[i+1:])
					}
				}
			}
		})
	}
}
