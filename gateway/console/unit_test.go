package console

import (
	"strings"
	"testing"
)

func TestTraceID(t *testing.T) {
	for in, want := range map[string]string{
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01": "4bf92f3577b34da6a3ce929d0e0e4736",
		"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00": "4bf92f3577b34da6a3ce929d0e0e4736", // unsampled: still its trace
		"00-00000000000000000000000000000000-00f067aa0ba902b7-01": "",                                 // invalid per W3C
		"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01": "",                                 // W3C ids are lower-case
		"00-4bf92f3577b34da6a3ce929d0e0e47-00f067aa0ba902b7-01":   "",
		"00-4bf92f3577b34da6a3ce929d0e0e4736\"><script>-x-01":     "",
		"": "",
	} {
		got, ok := traceID(in)
		if got != want || ok != (want != "") {
			t.Errorf("traceID(%q) = %q, %v; want %q", in, got, ok, want)
		}
	}
}

// Rollout keys are written by another component, possibly a newer one:
// what can be read is shown, the rest named.
func TestDecodeRolloutLeniently(t *testing.T) {
	row := decodeRollout("products", []byte(`{"weights":{"v2":5,"v1":95},"state":"paused","step":{"n":2},"stable":"v1","canary":"v2","future":true}`))
	if row.Err != "" || len(row.Weights) != 2 || row.Weights[0] != (weight{"v1", 95}) || row.Weights[1] != (weight{"v2", 5}) {
		t.Fatalf("weights: %+v", row)
	}
	want := []field{{"state", "paused"}, {"step", `{"n":2}`}, {"stable", "v1"}, {"canary", "v2"}}
	if len(row.Fields) != len(want) {
		t.Fatalf("fields %+v, want %+v", row.Fields, want)
	}
	for i := range want {
		if row.Fields[i] != want[i] {
			t.Fatalf("fields %+v, want %+v", row.Fields, want)
		}
	}
	if row := decodeRollout("x", []byte(`{"state":"done"}`)); row.Err != "no weights" || len(row.Fields) != 1 {
		t.Fatalf("no weights: %+v", row)
	}
	if row := decodeRollout("x", []byte(`{"weights":{"v1":"most"}}`)); !strings.HasPrefix(row.Err, "weights are not") {
		t.Fatalf("bad weights: %+v", row)
	}
	long := strings.Repeat("é", 300)
	row = decodeRollout("x", []byte(long))
	if !strings.HasPrefix(row.Err, "not a JSON object: ") || len(row.Err) > 250 || !strings.HasSuffix(row.Err, "é…") {
		t.Fatalf("malformed, long value: %q", row.Err)
	}
}

func TestConfigChecks(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no Identify":     {},
		"relative Zipkin": {Identify: fakeIdentify, ZipkinUI: "zipkin/"},
		"ftp Zipkin":      {Identify: fakeIdentify, ZipkinUI: "ftp://z/"},
		"scheme":          {Identify: fakeIdentify, HTTPScheme: "gopher"},
		"login URL":       {Identify: fakeIdentify, LoginURL: "http://[::1"},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New accepted %+v", name, cfg)
		}
	}
	cfg, err := Config{Identify: fakeIdentify, ZipkinUI: "http://localhost:9411/zipkin/", SagaLimit: 10_000}.withDefaults()
	if err != nil || cfg.ZipkinUI != "http://localhost:9411/zipkin" || cfg.SagaLimit != maxSagaLimit || cfg.HTTPScheme != "http" {
		t.Fatalf("defaults: %+v, %v", cfg, err)
	}
}
