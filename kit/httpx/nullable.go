package httpx

import (
	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// Nullable tells a JSON member that is absent (Set false) from one that is
// null (Set true, Value nil), which PATCH bodies need: "address": null
// clears an address, leaving address out keeps it.
type Nullable[T any] struct {
	Set   bool
	Value *T
}

// UnmarshalJSONFrom is only called for members that are present. It
// decodes the value with the decoder it is given, so DecodeJSON's strict
// options (exact names, no unknown or duplicate members) reach inside,
// and errors name the member by its full path.
func (n *Nullable[T]) UnmarshalJSONFrom(dec *jsontext.Decoder) error {
	n.Set = true
	if dec.PeekKind() == 'n' {
		n.Value = nil
		_, err := dec.ReadToken()
		return err
	}
	var v T
	if err := json.UnmarshalDecode(dec, &v); err != nil {
		return err
	}
	n.Value = &v
	return nil
}

// UnmarshalJSON serves encoding/json (v1) callers with the same strict
// rules, for code that decodes a Nullable outside DecodeJSON.
func (n *Nullable[T]) UnmarshalJSON(b []byte) error {
	return json.Unmarshal(b, n, strictJSON)
}
