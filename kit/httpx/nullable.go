package httpx

import (
	"bytes"
	"encoding/json"
)

// Nullable tells a JSON member that is absent (Set false) from one that is
// null (Set true, Value nil), which PATCH bodies need: "address": null
// clears an address, leaving address out keeps it.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// UnmarshalJSON is only called for members that are present.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	n.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		n.Value = nil
		return nil
	}
	// The outer decoder's DisallowUnknownFields does not reach into a
	// custom unmarshaler, so apply it again here.
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var v T
	if err := dec.Decode(&v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}
