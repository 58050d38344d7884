package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunDispatchesAndRefusesUnknownCommands(t *testing.T) {
	for _, c := range []struct {
		args []string
		code int
		want string
	}{
		{nil, 2, "usage: rollout"},
		{[]string{"rollback"}, 2, "usage: rollout"},
		{[]string{"-h"}, 0, "usage: rollout"},
		// Each subcommand checks its own arguments: reaching it proves
		// the dispatch, without a platform to talk to.
		{[]string{"switch"}, 2, "switch"},
		{[]string{"canary"}, 2, "canary"},
		{[]string{"restart"}, 2, "restart"},
	} {
		var out, errOut bytes.Buffer
		if code := run(context.Background(), c.args, &out, &errOut); code != c.code {
			t.Errorf("run(%q) = %d, want %d (stderr %q)", c.args, code, c.code, errOut.String())
		}
		if !strings.Contains(out.String()+errOut.String(), c.want) {
			t.Errorf("run(%q) printed %q, want it to mention %q", c.args, out.String()+errOut.String(), c.want)
		}
	}
}
