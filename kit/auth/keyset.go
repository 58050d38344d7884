package auth

import (
	"crypto/ed25519"
	"slices"
)

// keySet indexes keys by kid, holding for each the one-element slice
// Keys returns, so that the lookup on every request allocates nothing.
// It is immutable once built.
type keySet struct {
	byID map[string][]ed25519.PublicKey
	// all is every key in a stable order, for tokens without a kid, so
	// that verification is deterministic.
	all []ed25519.PublicKey
}

// newKeySet indexes pubs under their RFC 7638 thumbprints.
func newKeySet(pubs []ed25519.PublicKey) keySet {
	byID := make(map[string]ed25519.PublicKey, len(pubs))
	for _, p := range pubs {
		byID[KeyID(p)] = p
	}
	return indexKeys(byID)
}

// indexKeys builds a keySet from keys indexed by kid.
func indexKeys(byID map[string]ed25519.PublicKey) keySet {
	s := keySet{byID: make(map[string][]ed25519.PublicKey, len(byID))}
	for kid, k := range byID {
		// Capacity 1: a caller appending to what Keys returned cannot
		// write into memory another caller reads.
		s.byID[kid] = []ed25519.PublicKey{k}
		s.all = append(s.all, k)
	}
	slices.SortFunc(s.all, func(a, b ed25519.PublicKey) int { return slices.Compare(a, b) })
	s.all = slices.Clip(s.all)
	return s
}

// lookup returns the candidates for kid: its key, or every key when kid
// is "". ok is false when there is none.
func (s keySet) lookup(kid string) ([]ed25519.PublicKey, bool) {
	if kid == "" {
		return s.all, len(s.all) > 0
	}
	keys, ok := s.byID[kid]
	return keys, ok
}

// kids lists the key ids, sorted, for logging a change of the set.
func (s keySet) kids() []string {
	ids := make([]string, 0, len(s.byID))
	for kid := range s.byID {
		ids = append(ids, kid)
	}
	slices.Sort(ids)
	return ids
}
