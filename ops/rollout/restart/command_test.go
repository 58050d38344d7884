package restart

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestMainRefusesWhatItCannotRestart(t *testing.T) {
	nowhere := filepath.Join(t.TempDir(), "launcher.sock")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{}, "usage:"},
		{[]string{"users", "orders"}, "usage:"},
		{[]string{"gateway"}, "SO_REUSEPORT"},
		{[]string{"registry"}, "single etcd member"},
		{[]string{"bogus"}, `unknown service "bogus"`},
		{[]string{"-ready-timeout=0", "users"}, "must be positive"},
		{[]string{"-control", nowhere, "users"}, "is `make run` up"},
		{[]string{"-nosuchflag", "users"}, "flag provided but not defined"},
	}
	for _, c := range cases {
		var out, errOut bytes.Buffer
		code := Main(context.Background(), c.args, &out, &errOut)
		if code != 2 || !strings.Contains(errOut.String(), c.want) {
			t.Errorf("restart %q: exit %d, stderr %q; want 2 and %q", c.args, code, errOut.String(), c.want)
		}
	}
}

func TestTargetsOfAllIsEveryServiceCalleesFirst(t *testing.T) {
	got, err := targetsOf("all")
	if err != nil || strings.Join(got, ",") != "users,products,payments,orders" {
		t.Fatalf("all: %v %v", got, err)
	}
}
