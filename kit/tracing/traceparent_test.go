package tracing_test

import (
	"testing"

	"github.com/kitshop/kitshop/kit/tracing"
)

func TestParseTraceparent(t *testing.T) {
	const valid = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	sc, ok := tracing.ParseTraceparent(valid)
	if !ok {
		t.Fatal("valid traceparent rejected")
	}
	if sc.TraceID.String() != "4bf92f3577b34da6a3ce929d0e0e4736" || sc.ID.String() != "00f067aa0ba902b7" {
		t.Errorf("parsed %s/%s", sc.TraceID, sc.ID)
	}
	if sc.Sampled == nil || !*sc.Sampled {
		t.Error("flags 01 should be sampled")
	}
	if got := tracing.FormatTraceparent(sc); got != valid {
		t.Errorf("round trip = %q, want %q", got, valid)
	}

	if sc, ok := tracing.ParseTraceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"); !ok || *sc.Sampled {
		t.Error("flags 00 should parse as not sampled")
	}
	// A future version may carry more fields.
	if _, ok := tracing.ParseTraceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra"); !ok {
		t.Error("future version with extra fields rejected")
	}

	for _, bad := range []string{
		"",
		"garbage",
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",   // upper case
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01",   // zero trace id
		"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",   // zero span id
		"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",   // forbidden version
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x", // v00 has exactly 4 fields
		"00-4bf92f3577b34da6a3ce929d0e0e473-600f067aa0ba902b7-01",   // misplaced dash
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g",
	} {
		if _, ok := tracing.ParseTraceparent(bad); ok {
			t.Errorf("accepted invalid traceparent %q", bad)
		}
	}
}
