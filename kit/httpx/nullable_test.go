package httpx

import (
	"testing"
)

type address struct {
	City string `json:"city"`
}

type patchUser struct {
	Name    *string           `json:"name"`
	Address Nullable[address] `json:"address"`
}

func TestNullableThroughDecodeJSON(t *testing.T) {
	absent, err := DecodeJSON[patchUser](jsonRequest(`{"name":"a"}`, "application/json"))
	if err != nil || absent.Address.Set {
		t.Fatalf("absent: %+v %v", absent, err)
	}
	null, err := DecodeJSON[patchUser](jsonRequest(`{"address":null}`, "application/json"))
	if err != nil || !null.Address.Set || null.Address.Value != nil {
		t.Fatalf("null: %+v %v", null, err)
	}
	set, err := DecodeJSON[patchUser](jsonRequest(`{"address":{"city":"Oslo"}}`, "application/json"))
	if err != nil || !set.Address.Set || set.Address.Value == nil || set.Address.Value.City != "Oslo" {
		t.Fatalf("value: %+v %v", set, err)
	}
	// Strictness reaches inside the Nullable.
	_, err = DecodeJSON[patchUser](jsonRequest(`{"address":{"town":"Oslo"}}`, "application/json"))
	e := asError(t, err, 400, ReasonUnknownField)
	if len(e.Fields) != 1 || e.Fields[0].Field != "town" {
		t.Fatalf("fields %+v", e.Fields)
	}
	_, err = DecodeJSON[patchUser](jsonRequest(`{"address":{"city":7}}`, "application/json"))
	asError(t, err, 400, ReasonMalformedJSON)
}
