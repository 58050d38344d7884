package main

import (
	"context"
	"errors"
	"net"
	"strings"
	"testing"
)

// fakeResolver answers from a table; a name not in it does not resolve.
type fakeResolver map[string][]string

func (f fakeResolver) LookupIPAddr(_ context.Context, host string) ([]net.IPAddr, error) {
	ips, ok := f[host]
	if !ok {
		return nil, errors.New("no such host")
	}
	var out []net.IPAddr
	for _, s := range ips {
		out = append(out, net.IPAddr{IP: net.ParseIP(s)})
	}
	return out, nil
}

func TestGuardAllowsOnlyLoopback(t *testing.T) {
	r := fakeResolver{
		"devbox":    {"127.0.1.1"},
		"split":     {"127.0.0.1", "10.0.0.7"},
		"shop.test": {"203.0.113.9"},
		"none":      {},
	}
	ctx := context.Background()
	for host, local := range map[string]bool{
		"localhost": true, "LOCALHOST.": true, "api.localhost": true,
		"127.0.0.1": true, "127.9.9.9": true, "::1": true, "[::1]": true,
		"devbox":   true, // every address loopback
		"10.0.0.7": false, "0.0.0.0": false, "::": false, "203.0.113.9": false,
		"split": false, "shop.test": false, "none": false,
	} {
		err := checkLocal(ctx, r, host, false)
		if local && err != nil {
			t.Errorf("%s: refused: %v", host, err)
		}
		if !local && err == nil {
			t.Errorf("%s: allowed, but it is not loopback", host)
		}
		if err := checkLocal(ctx, r, host, true); err != nil {
			t.Errorf("%s with -allow-remote: %v", host, err)
		}
	}
	if err := checkLocal(ctx, r, "unknown.example", false); err == nil || !strings.Contains(err.Error(), "-allow-remote") {
		t.Errorf("an unresolvable name: %v, want a refusal naming -allow-remote", err)
	}
}

func TestValidateRefusesRemoteTargetsAndSkipVerify(t *testing.T) {
	r := fakeResolver{"shop.test": {"203.0.113.9"}}
	cases := []struct {
		args []string
		want string // "" = accepted
	}{
		{[]string{"-target", "https://localhost:8080"}, ""},
		{[]string{"-target", "https://shop.test"}, "not a loopback"},
		{[]string{"-target", "https://shop.test", "-allow-remote"}, ""},
		{[]string{"-target", "https://shop.test", "-allow-remote", "-insecure-skip-verify"}, "-insecure-skip-verify is refused"},
		{[]string{"-target", "https://127.0.0.1:8080", "-insecure-skip-verify"}, ""},
		{[]string{"-grpc", "-grpc-target", "shop.test:9082"}, "not a loopback"},
		{[]string{"-grpc", "-grpc-target", "[::1]:9082"}, ""},
		{[]string{"-target", "ftp://localhost"}, "want http(s)"},
		{[]string{"-target", "https://localhost/api"}, "without a path"},
		{[]string{"-duration", "0"}, "must end by itself"},
		{[]string{"-duration", "0", "-requests", "10"}, ""},
		{[]string{"-rate", "0"}, "-rate must be a positive"},
		{[]string{"-slope", "1", "-step", "1"}, "exclusive"},
		{[]string{"-cert", "c.pem"}, "go together"},
	}
	for _, c := range cases {
		cfg, err := parseFlags(append([]string{"-cacert", ""}, c.args...), &strings.Builder{})
		if err != nil {
			t.Fatalf("%v: %v", c.args, err)
		}
		err = cfg.validate(context.Background(), r)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%v: refused: %v", c.args, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%v: %v, want an error with %q", c.args, err, c.want)
		}
	}
}
