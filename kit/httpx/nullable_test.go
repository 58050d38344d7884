package httpx

import (
	"encoding/json"
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
	// Strictness reaches inside the Nullable, and errors name the member
	// by its full path.
	for _, tc := range []struct{ body, reason, field string }{
		{`{"address":{"town":"Oslo"}}`, ReasonUnknownField, "address.town"},
		{`{"address":{"City":"Oslo"}}`, ReasonUnknownField, "address.City"},
		{`{"address":{"city":"Oslo","city":"Bergen"}}`, ReasonMalformedJSON, "address.city"},
		{`{"address":{"city":7}}`, ReasonMalformedJSON, "address.city"},
		{`{"address":null,"address":{"city":"Oslo"}}`, ReasonMalformedJSON, "address"},
	} {
		_, err = DecodeJSON[patchUser](jsonRequest(tc.body, "application/json"))
		e := asError(t, err, 400, tc.reason)
		if len(e.Fields) != 1 || e.Fields[0].Field != tc.field {
			t.Errorf("%s: fields %+v, want one violation of %q", tc.body, e.Fields, tc.field)
		}
	}
}

func TestNullableWithEncodingJSONV1(t *testing.T) {
	// Code outside DecodeJSON may decode a Nullable with encoding/json;
	// the same strict rules apply.
	var n Nullable[address]
	if err := json.Unmarshal([]byte(`{"city":"Oslo"}`), &n); err != nil || !n.Set || n.Value == nil || n.Value.City != "Oslo" {
		t.Fatalf("value: %+v %v", n, err)
	}
	n = Nullable[address]{}
	if err := json.Unmarshal([]byte(`null`), &n); err != nil || !n.Set || n.Value != nil {
		t.Fatalf("null: %+v %v", n, err)
	}
	for _, bad := range []string{`{"City":"Oslo"}`, `{"city":"a","city":"b"}`, `{"town":"Oslo"}`} {
		if err := json.Unmarshal([]byte(bad), &n); err == nil {
			t.Errorf("%s accepted", bad)
		}
	}
}
