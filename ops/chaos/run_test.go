package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestBadUsageIsRefusedBeforeTouchingThePlatform(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	t.Setenv("KITSHOP_ORDERS_DATABASE_URL", "")
	nowhere := filepath.Join(t.TempDir(), "launcher.sock")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{}, "want exactly one scenario"},
		{[]string{"meteor"}, `unknown scenario "meteor"`},
		{[]string{"-rate=0", "kill"}, "-rate must be"},
		{[]string{"-mode=sideways", "partition"}, "-mode"},
		{[]string{"-settle=-1s", "kill"}, "must be positive"},
		{[]string{"-control", nowhere, "etcd-down"}, "orders check` reads the orders database"},
		{[]string{"-control", nowhere, "postgres-restart"}, "it restarts Postgres"},
		{[]string{"-control", nowhere, "-skip-check", "kill"}, "each instance has a store of its own"},
		{[]string{"-control", nowhere, "-skip-check", "partition"}, "needs make run on Postgres"},
		{[]string{"-control", nowhere, "-skip-check", "etcd-down"}, "is `make run` up"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), c.args, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("chaos %q: exit %d, stderr %q; want 2 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}

func TestBudgetHasAFloor(t *testing.T) {
	b := budget{fraction: 0.05, floor: 10}
	for _, c := range []struct{ requests, want int64 }{{0, 10}, {100, 10}, {200, 10}, {201, 11}, {1000, 50}} {
		if got := b.allowed(c.requests); got != c.want {
			t.Errorf("allowed(%d) = %d, want %d", c.requests, got, c.want)
		}
	}
}

func TestEveryScenarioIsListedInHelp(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"-h"}, &out, &errOut); code != 0 {
		t.Fatalf("-h exited %d", code)
	}
	for _, name := range []string{"kill", "etcd-down", "postgres-restart", "payments-slow", "partition", "rolling-restart"} {
		if !strings.Contains(errOut.String(), "  "+name+" ") {
			t.Errorf("-h does not list %s:\n%s", name, errOut.String())
		}
	}
}
