package ratelimit

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/go-json-experiment/json"
)

// Anonymous is the tier of clients without an API key. Every tier set must
// have it: it is what a request without X-API-Key is charged to.
const Anonymous = "anonymous"

// Tier is an allowance: a bucket of Burst requests refilled at PerMinute
// requests a minute. Both figures are for the whole gateway cluster; each
// instance enforces its share (see Limiter.SetShare).
type Tier struct {
	Name      string
	PerMinute float64
	Burst     int
}

// Bounds on configured figures. They are far above any sensible tier and
// exist so that a typo (an extra three zeros) is an error at start-up
// rather than a limiter that never limits.
const (
	maxPerMinute = 1e9
	maxBurst     = 1e9
	// maxTierName bounds a tier name, which becomes a metric label value.
	maxTierName = 64
	// maxTiersFile bounds the KITSHOP_RATE_TIERS file: tiers are a handful
	// of lines, so anything bigger is the wrong file.
	maxTiersFile = 1 << 20
)

// DefaultTiers returns API.md's tiers: anonymous 10/min burst 20, free
// 100/200, pro 1000/2000, enterprise 10000/20000. The map is new on every
// call, so callers may change it.
func DefaultTiers() map[string]Tier {
	return map[string]Tier{
		Anonymous:    {Name: Anonymous, PerMinute: 10, Burst: 20},
		"free":       {Name: "free", PerMinute: 100, Burst: 200},
		"pro":        {Name: "pro", PerMinute: 1000, Burst: 2000},
		"enterprise": {Name: "enterprise", PerMinute: 10000, Burst: 20000},
	}
}

// tierFile is one member of the KITSHOP_RATE_TIERS file. Pointers tell a
// missing member from a zero one, so the error can say which it is.
type tierFile struct {
	PerMinute *float64 `json:"per_minute"`
	Burst     *int     `json:"burst"`
}

// LoadTiers reads the KITSHOP_RATE_TIERS file, a JSON object
// {"name": {"per_minute": N, "burst": M}, ...}, and returns its tiers
// merged over DefaultTiers: a tier named in the file replaces the default
// of that name, the others stay. Decoding is strict: an unknown or
// repeated member, a missing or non-positive figure, a fractional burst,
// an invalid tier name or trailing data is an error naming the file and
// the tier, so a typo stops the gateway instead of silently changing a
// limit.
func LoadTiers(path string) (map[string]Tier, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("rate tiers: %w", err)
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxTiersFile+1))
	if err != nil {
		return nil, fmt.Errorf("rate tiers %s: %w", path, err)
	}
	if len(raw) > maxTiersFile {
		return nil, fmt.Errorf("rate tiers %s: larger than %d bytes", path, maxTiersFile)
	}
	tiers, err := parseTiers(raw)
	if err != nil {
		return nil, fmt.Errorf("rate tiers %s: %w", path, err)
	}
	return tiers, nil
}

// parseTiers is LoadTiers on the file's content.
func parseTiers(raw []byte) (map[string]Tier, error) {
	var doc map[string]tierFile
	// RejectUnknownMembers turns "perMinute" into an error; duplicate names
	// and invalid UTF-8 are errors by default in this decoder.
	if err := json.UnmarshalRead(bytes.NewReader(raw), &doc, json.RejectUnknownMembers(true)); err != nil {
		return nil, fmt.Errorf("not a valid tiers object: %w", err)
	}
	if doc == nil {
		return nil, errors.New(`want a JSON object {"name": {"per_minute": N, "burst": M}}`)
	}
	tiers := DefaultTiers()
	for name, t := range doc {
		if t.PerMinute == nil || t.Burst == nil {
			return nil, fmt.Errorf("tier %q: per_minute and burst are both required", name)
		}
		tier := Tier{Name: name, PerMinute: *t.PerMinute, Burst: *t.Burst}
		if err := tier.validate(); err != nil {
			return nil, err
		}
		tiers[name] = tier
	}
	return tiers, nil
}

// validate reports what is wrong with t, naming it.
func (t Tier) validate() error {
	if err := validTierName(t.Name); err != nil {
		return err
	}
	// !(x > 0) also catches NaN, which JSON cannot carry but Go callers can.
	if !(t.PerMinute > 0) || t.PerMinute > maxPerMinute {
		return fmt.Errorf("tier %q: per_minute must be > 0 and <= %g, got %g", t.Name, float64(maxPerMinute), t.PerMinute)
	}
	if t.Burst <= 0 || t.Burst > maxBurst {
		return fmt.Errorf("tier %q: burst must be > 0 and <= %d, got %d", t.Name, int(maxBurst), t.Burst)
	}
	return nil
}

// validTierName keeps tier names fit for a metric label and a log line:
// 1 to 64 of [A-Za-z0-9_.-].
func validTierName(name string) error {
	if name == "" || len(name) > maxTierName {
		return fmt.Errorf("tier name %q: want 1 to %d characters", name, maxTierName)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return fmt.Errorf("tier name %q: only letters, digits, '_', '-' and '.' are allowed", name)
		}
	}
	return nil
}

// validateTiers checks a whole tier set as the Limiter will use it.
func validateTiers(tiers map[string]Tier) error {
	if _, ok := tiers[Anonymous]; !ok {
		return fmt.Errorf("tiers: no %q tier (clients without an API key need one)", Anonymous)
	}
	for name, t := range tiers {
		if t.Name != name {
			return fmt.Errorf("tiers: tier %q is filed under %q", t.Name, name)
		}
		if err := t.validate(); err != nil {
			return fmt.Errorf("tiers: %w", err)
		}
	}
	return nil
}
