package ratelimit

import (
	"fmt"
	"strings"
)

// MaxAPIKeyLen bounds an API key, configured or sent. A longer X-API-Key
// is refused without a lookup.
const MaxAPIKeyLen = 256

// ParseAPIKeys parses KITSHOP_API_KEYS, comma-separated key:tier pairs
// ("k1:pro,k2:enterprise"), into each key's tier. Space around an entry is
// ignored; a key may contain ':' (the last one separates the tier). An
// empty spec means no keys.
//
// Errors name the entry by its position and never quote the entry or the
// key, because the error ends up in logs and keys are secrets: an empty
// key, a key with characters other than printable ASCII, a key longer
// than MaxAPIKeyLen, a key given twice, or a tier missing from tiers.
func ParseAPIKeys(spec string, tiers map[string]Tier) (map[string]Tier, error) {
	keys := map[string]Tier{}
	if strings.TrimSpace(spec) == "" {
		return keys, nil
	}
	firstSeen := map[string]int{}
	for i, entry := range strings.Split(spec, ",") {
		pos := i + 1
		entry = strings.TrimSpace(entry)
		sep := strings.LastIndexByte(entry, ':')
		if sep < 0 {
			return nil, fmt.Errorf("api keys: entry %d: want key:tier", pos)
		}
		key, tierName := entry[:sep], entry[sep+1:]
		if err := validAPIKey(key); err != nil {
			return nil, fmt.Errorf("api keys: entry %d: %w", pos, err)
		}
		tier, ok := tiers[tierName]
		if !ok {
			// Tier names are configuration, not secrets: naming it helps.
			return nil, fmt.Errorf("api keys: entry %d: unknown tier %q", pos, tierName)
		}
		if first, dup := firstSeen[key]; dup {
			return nil, fmt.Errorf("api keys: entry %d repeats the key of entry %d", pos, first)
		}
		firstSeen[key] = pos
		keys[key] = tier
	}
	return keys, nil
}

// validAPIKey checks the shape of a key. Its errors never include the key.
func validAPIKey(key string) error {
	if key == "" {
		return fmt.Errorf("empty key")
	}
	if len(key) > MaxAPIKeyLen {
		return fmt.Errorf("key longer than %d bytes", MaxAPIKeyLen)
	}
	for i := 0; i < len(key); i++ {
		// Visible ASCII only: what fits in a header value without quoting
		// and survives copy-paste between env files and clients.
		if key[i] < 0x21 || key[i] > 0x7e {
			return fmt.Errorf("key has a character other than printable ASCII at byte %d", i+1)
		}
	}
	return nil
}
