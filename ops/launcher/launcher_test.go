package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/kitshop/kitshop/kit/tlsx"
)

func TestIsCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, src string) string {
		d := filepath.Join(dir, name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "x.go"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		return d
	}
	if !isCommand(write("built", "package main\nfunc main() {}\n")) {
		t.Error("a main package is not a command")
	}
	if isCommand(write("coming", "// Package coming is not written yet.\npackage coming\n")) {
		t.Error("a doc.go-only placeholder counts as a command")
	}
	if isCommand(filepath.Join(dir, "missing")) {
		t.Error("a missing folder counts as a command")
	}
}

func TestSelectProcessesSkipsWhatIsNotBuilt(t *testing.T) {
	built := func(dir string) bool { return dir != "orders" && dir != "gateway" }
	run, skipped, err := selectProcesses(processes, "", built)
	if err != nil {
		t.Fatal(err)
	}
	if got := names(run); !slices.Equal(got, []string{"registry", "users", "products", "payments"}) {
		t.Errorf("run %v, want the registry first and the built services in order", got)
	}
	if !slices.Equal(skipped, []string{"orders", "gateway"}) {
		t.Errorf("skipped %v", skipped)
	}
	// Once they exist, orders and the gateway start after what they call.
	run, _, _ = selectProcesses(processes, "", func(string) bool { return true })
	if got := names(run); !slices.Equal(got, []string{"registry", "users", "products", "payments", "orders", "gateway"}) {
		t.Errorf("run %v", got)
	}
	run, _, err = selectProcesses(processes, " users,registry ", built)
	if err != nil || !slices.Equal(names(run), []string{"registry", "users"}) {
		t.Errorf("-only users,registry: %v %v", names(run), err)
	}
	if _, _, err := selectProcesses(processes, "users,bogus", built); err == nil || !strings.Contains(err.Error(), `"bogus"`) {
		t.Errorf("-only with an unknown name: %v", err)
	}
}

// Orders is a command now, so `make run` starts it, after the three
// services its checkout calls.
func TestOrdersIsLaunched(t *testing.T) {
	if !isCommand(filepath.Join("..", "..", "orders")) {
		t.Fatal("orders/ is not a main package: make run would skip it")
	}
	at := slices.Index(names(processes), "orders")
	for _, callee := range []string{"users", "products", "payments"} {
		if i := slices.Index(names(processes), callee); i < 0 || i > at {
			t.Errorf("%s starts after orders, which calls it", callee)
		}
	}
}

// Each service gets its own database from KITSHOP_<SERVICE>_DATABASE_URL,
// orders included; without one it inherits DATABASE_URL (its own schema)
// or nothing (the in-memory store).
func TestEnvironmentGivesEachServiceItsDatabase(t *testing.T) {
	t.Setenv("DATABASE_URL", "postgres://shared/kitshop")
	t.Setenv("KITSHOP_ORDERS_DATABASE_URL", "postgres://orders/kitshop")
	for _, p := range processes {
		want := "postgres://shared/kitshop"
		if p.name == "orders" {
			want = "postgres://orders/kitshop"
		}
		if got := last(environment(p, "", nil), "DATABASE_URL"); got != want {
			t.Errorf("%s: DATABASE_URL %q, want %q", p.name, got, want)
		}
	}
}

// Secure by default: each process is started with its own certificate,
// overriding whatever the developer's environment holds; -insecure blanks
// the variables so nothing half-enables TLS.
func TestEnvironmentCarriesEachProcesssIdentity(t *testing.T) {
	t.Setenv("KITSHOP_TLS_CERT", "/somewhere/else.pem")
	dir := filepath.Join(t.TempDir(), "tls")
	sec, err := secure(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range processes {
		env := environment(p, "", sec)
		id, err := tlsx.Load(tlsx.Files{CA: last(env, "KITSHOP_TLS_CA"), Cert: last(env, "KITSHOP_TLS_CERT"), Key: last(env, "KITSHOP_TLS_KEY")})
		if err != nil || id.Service != p.name {
			t.Errorf("%s is started with identity %v, %v", p.name, id, err)
		}
		if last(env, "KITSHOP_HTTP_ADDR") != p.httpAddr {
			t.Errorf("%s: KITSHOP_HTTP_ADDR %q", p.name, last(env, "KITSHOP_HTTP_ADDR"))
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "users-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("users key: %v %v, want mode 0600", fi, err)
	}

	var insecure *security
	env := environment(processes[1], "", insecure)
	for _, k := range []string{"KITSHOP_TLS_CA", "KITSHOP_TLS_CERT", "KITSHOP_TLS_KEY"} {
		if v := last(env, k); v != "" {
			t.Errorf("insecure: %s=%q, want empty", k, v)
		}
	}
}

func TestBannerSaysHowToCall(t *testing.T) {
	t.Chdir(t.TempDir()) // the banner shows the path as given: relative to the checkout
	sec, err := secure(filepath.Join(".run", "tls"))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	banner(&b, processes[:2], sec, []string{"orders"}, nil, 0)
	out := b.String()
	for _, want := range []string{
		"https://localhost:8090/v1/services", "https://localhost:8081", "gRPC localhost:9081",
		"curl -s --cacert .run/tls/ca.pem https://localhost:8090/v1/services", "skipped: [orders]",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	banner(&b, processes[:2], nil, nil, nil, 0)
	if out := b.String(); !strings.Contains(out, "http://localhost:8081") || strings.Contains(out, "https") || !strings.Contains(out, "WITHOUT TLS") {
		t.Errorf("insecure banner:\n%s", out)
	}
}

// With the gateway running, the banner leads with it and a first curl
// through it, at the shifted port; the registry view is still shown.
func TestBannerLeadsWithTheGateway(t *testing.T) {
	t.Chdir(t.TempDir())
	sec, err := secure(filepath.Join(".run", "tls"))
	if err != nil {
		t.Fatal(err)
	}
	shifted, err := shiftPorts(processes, 100)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	banner(&b, shifted, sec, nil, nil, 100)
	out := b.String()
	lines := strings.Split(out, "\n")
	if len(lines) < 2 || !strings.HasPrefix(strings.TrimSpace(lines[1]), "gateway   https://localhost:8180") {
		t.Errorf("the gateway is not listed first:\n%s", out)
	}
	for _, want := range []string{
		"all started with mTLS",
		"https://localhost:8190/v1/services",
		"try: curl -s --cacert .run/tls/ca.pem https://localhost:8180/api/v1/products",
		"README's curl session",
		"shifted by 100",
		"grpcurl -cacert .run/tls/ca.pem localhost:9181 list",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("banner lacks %q:\n%s", want, out)
		}
	}

	b.Reset()
	banner(&b, processes, nil, nil, []string{"orders"}, 0)
	out = b.String()
	if !strings.Contains(out, "try: curl -s http://localhost:8080/api/v1/products") || !strings.Contains(out, "NOT READY: [orders]") ||
		strings.Contains(out, "all started") || strings.Contains(out, "shifted") {
		t.Errorf("insecure banner with orders not ready:\n%s", out)
	}
}

// last is the value of key in env as os/exec resolves duplicates.
func last(env []string, key string) string {
	v := ""
	for _, kv := range env {
		if k, val, ok := strings.Cut(kv, "="); ok && k == key {
			v = val
		}
	}
	return v
}
