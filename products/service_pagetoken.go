package main

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"hash/fnv"
	"math"
	"strconv"

	"github.com/google/uuid"
)

// A page token is base64url(JSON) of the last row's sort key plus a
// fingerprint of the query it belongs to. It is opaque to clients but not
// secret: a token that does not decode, names a malformed key, or was made
// for another query or filters is refused with ErrInvalidPageToken, so a
// tampered or mixed-up token gives 400, never a wrong page or a 500.
type pageToken struct {
	// F is the query fingerprint; R is the rank (text searches), N the
	// name (otherwise), I the id.
	F string   `json:"f"`
	R *float32 `json:"r,omitempty"`
	N *string  `json:"n,omitempty"`
	I string   `json:"i"`
}

func encodePageToken(c SearchCursor, fingerprint string) string {
	t := pageToken{F: fingerprint, I: c.ID}
	if fingerprintIsText(fingerprint) {
		r := c.Rank
		t.R = &r
	} else {
		n := c.Name
		t.N = &n
	}
	b, _ := json.Marshal(t) // a struct of strings and a finite float cannot fail
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodePageToken(s, fingerprint string, text bool) (SearchCursor, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return SearchCursor{}, ErrInvalidPageToken
	}
	var t pageToken
	if err := json.Unmarshal(b, &t); err != nil || t.F != fingerprint {
		return SearchCursor{}, ErrInvalidPageToken
	}
	id, err := uuid.Parse(t.I)
	if err != nil || id.String() != t.I {
		return SearchCursor{}, ErrInvalidPageToken
	}
	c := SearchCursor{ID: t.I}
	switch {
	case text && t.R != nil && !math.IsNaN(float64(*t.R)) && !math.IsInf(float64(*t.R), 0):
		c.Rank = *t.R
	case !text && t.N != nil:
		c.Name = *t.N
	default:
		return SearchCursor{}, ErrInvalidPageToken
	}
	return c, nil
}

// fingerprint identifies the query and filters (not the page size, which
// may change between pages). Its first character says which sort key the
// token carries.
func (q SearchQuery) fingerprint() string {
	h := fnv.New64a()
	write := func(s string) {
		var n [8]byte
		binary.BigEndian.PutUint64(n[:], uint64(len(s)))
		h.Write(n[:])
		h.Write([]byte(s))
	}
	bound := func(p *int64) string {
		if p == nil {
			return "-"
		}
		return strconv.FormatInt(*p, 10)
	}
	write(q.Text)
	write(q.Category)
	write(bound(q.MinPriceCents))
	write(bound(q.MaxPriceCents))
	kind := "n"
	if q.Text != "" {
		kind = "t"
	}
	return kind + strconv.FormatUint(h.Sum64(), 36)
}

func fingerprintIsText(fp string) bool { return len(fp) > 0 && fp[0] == 't' }
