package ratelimit

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestDefaultTiersAreAPIMds(t *testing.T) {
	want := map[string][2]float64{Anonymous: {10, 20}, "free": {100, 200}, "pro": {1000, 2000}, "enterprise": {10000, 20000}}
	got := DefaultTiers()
	if len(got) != len(want) {
		t.Fatalf("%d tiers, want %d", len(got), len(want))
	}
	for name, w := range want {
		tier := got[name]
		if tier.Name != name || tier.PerMinute != w[0] || float64(tier.Burst) != w[1] {
			t.Errorf("%s: %+v, want %v/min burst %v", name, tier, w[0], w[1])
		}
	}
	got["pro"] = Tier{}
	if DefaultTiers()["pro"].Burst != 2000 {
		t.Error("changing the returned map changed the defaults")
	}
}

func writeTiers(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tiers.json")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadTiersMergesOverTheDefaults(t *testing.T) {
	path := writeTiers(t, `{"pro": {"per_minute": 1500, "burst": 3000}, "test": {"per_minute": 0.5, "burst": 1}}`)
	tiers, err := LoadTiers(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := tiers["pro"]; got != (Tier{Name: "pro", PerMinute: 1500, Burst: 3000}) {
		t.Errorf("pro = %+v, want the file's", got)
	}
	if got := tiers["test"]; got != (Tier{Name: "test", PerMinute: 0.5, Burst: 1}) {
		t.Errorf("test = %+v, want the file's", got)
	}
	if got := tiers[Anonymous]; got != DefaultTiers()[Anonymous] {
		t.Errorf("anonymous = %+v, want the default", got)
	}
	if len(tiers) != 5 {
		t.Errorf("%d tiers, want the 4 defaults and test", len(tiers))
	}
	if _, err := New(Config{Tiers: tiers}); err != nil {
		t.Errorf("loaded tiers do not make a Limiter: %v", err)
	}
	if tiers, err := LoadTiers(writeTiers(t, `{}`)); err != nil || len(tiers) != 4 {
		t.Errorf("empty object: %v, %v; want the defaults", tiers, err)
	}
}

func TestLoadTiersErrors(t *testing.T) {
	for name, c := range map[string]struct{ content, want string }{
		"unknown member":     {`{"pro": {"per_minute": 1, "burst": 1, "burts": 2}}`, "burts"},
		"misspelt member":    {`{"pro": {"perMinute": 1, "burst": 1}}`, "perMinute"},
		"missing burst":      {`{"pro": {"per_minute": 1}}`, "required"},
		"null tier":          {`{"pro": null}`, "required"},
		"zero rate":          {`{"pro": {"per_minute": 0, "burst": 1}}`, "per_minute must be > 0"},
		"negative burst":     {`{"pro": {"per_minute": 1, "burst": -1}}`, "burst must be > 0"},
		"fractional burst":   {`{"pro": {"per_minute": 1, "burst": 1.5}}`, "pro"},
		"huge rate":          {`{"pro": {"per_minute": 1e12, "burst": 1}}`, "per_minute"},
		"duplicate tier":     {`{"pro": {"per_minute": 1, "burst": 1}, "pro": {"per_minute": 2, "burst": 2}}`, "pro"},
		"bad tier name":      {`{"pro tier": {"per_minute": 1, "burst": 1}}`, "pro tier"},
		"empty tier name":    {`{"": {"per_minute": 1, "burst": 1}}`, "tier name"},
		"not an object":      {`[1, 2]`, "not a valid tiers object"},
		"null":               {`null`, "want a JSON object"},
		"trailing data":      {`{} {}`, "not a valid tiers object"},
		"empty file":         {``, "not a valid tiers object"},
		"string for a count": {`{"pro": {"per_minute": "1", "burst": 1}}`, "per_minute"},
	} {
		path := writeTiers(t, c.content)
		_, err := LoadTiers(path)
		if err == nil {
			t.Errorf("%s: loaded", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), path) {
			t.Errorf("%s: error %q, want it to name the file and say %q", name, err, c.want)
		}
	}
	if _, err := LoadTiers(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing file loaded")
	}
}

func TestParseAPIKeys(t *testing.T) {
	tiers := DefaultTiers()
	keys, err := ParseAPIKeys(" k1:pro, k2:enterprise ,ns:key:free", tiers)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"k1": "pro", "k2": "enterprise", "ns:key": "free"}
	if len(keys) != len(want) {
		t.Fatalf("got %v, want %v", keys, want)
	}
	for k, tier := range want {
		if keys[k] != tiers[tier] {
			t.Errorf("%s: %+v, want %s", k, keys[k], tier)
		}
	}
	if keys, err := ParseAPIKeys("", tiers); err != nil || len(keys) != 0 {
		t.Errorf("empty spec: %v, %v; want no keys", keys, err)
	}
}

func TestParseAPIKeysErrorsNameThePositionNotTheKey(t *testing.T) {
	const secret = "s3cr3t-key"
	for name, c := range map[string]struct{ spec, want string }{
		"unknown tier":   {"ok:pro," + secret + ":gold", `entry 2: unknown tier "gold"`},
		"empty key":      {"ok:pro,:free", "entry 2: empty key"},
		"duplicate key":  {secret + ":pro,other:free," + secret + ":enterprise", "entry 3 repeats the key of entry 1"},
		"no tier":        {"ok:pro," + secret, "entry 2: want key:tier"},
		"empty entry":    {"ok:pro,,x:free", "entry 2: want key:tier"},
		"trailing comma": {secret + ":pro,", "entry 2"},
		"space in key":   {"s3cr3t key:pro", "entry 1: key has a character other than printable ASCII"},
		"too long":       {strings.Repeat(secret, 30) + ":pro", "entry 1: key longer than 256 bytes"},
	} {
		_, err := ParseAPIKeys(c.spec, DefaultTiers())
		if err == nil {
			t.Errorf("%s: parsed", name)
			continue
		}
		if !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %q, want %q", name, err, c.want)
		}
		if strings.Contains(err.Error(), "s3cr3t") {
			t.Errorf("%s: error %q reveals the key", name, err)
		}
	}
}
