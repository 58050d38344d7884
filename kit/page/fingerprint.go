package page

import (
	"encoding/binary"
	"hash/fnv"
	"strconv"
)

// Fingerprint condenses the parts of a query that must stay the same from
// page to page (its text, its filters) into a short bind for EncodeToken
// and DecodeToken, so that tokens stay small however long the query is.
// Each part is length-prefixed, so that ("ab", "c") and ("a", "bc")
// differ; callers must still encode an absent filter differently from
// every value it may take (for example "-" for an unset integer bound).
//
// The hash, 64-bit FNV-1a, is not cryptographic: a fingerprint catches a
// token reused by mistake with other filters, not a forged one, which
// tokens never prevent (see EncodeToken). Fingerprints may change between
// releases; a token then in flight is refused with a 400 and the client
// restarts from the first page.
func Fingerprint(parts ...string) string {
	h := fnv.New64a()
	var n [8]byte
	for _, p := range parts {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		h.Write([]byte(p))
	}
	return strconv.FormatUint(h.Sum64(), 36)
}
