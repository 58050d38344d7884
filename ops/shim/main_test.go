package main

import (
	"bytes"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/tlsx"
)

// Run as the shim itself when re-executed by TestExec*.
func TestMain(m *testing.M) {
	if os.Getenv("SHIM_TEST_AS_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// tlsServer serves status over HTTPS with a certificate from the
// development CA in dir (made on first use), as the compose stack's
// processes do, and returns its URL with the CA file.
func tlsServer(t *testing.T, dir string, status int) (url, caFile string) {
	t.Helper()
	files, err := tlsx.WriteDevFiles(dir, "users")
	if err != nil {
		t.Fatal(err)
	}
	id, err := tlsx.Load(files["users"])
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(status)
		_, _ = w.Write([]byte(`{"status":"x"}`))
	}))
	srv.TLS = id.ServerConfig()
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are the point of one case
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv.URL, files["users"].CA
}

func TestProbe(t *testing.T) {
	platform := t.TempDir()
	okURL, ca := tlsServer(t, platform, http.StatusOK)
	badURL, _ := tlsServer(t, platform, http.StatusServiceUnavailable)
	otherURL, _ := tlsServer(t, t.TempDir(), http.StatusOK) // another CA

	client, err := probeClient(ca, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := probe(client, okURL+"/health/ready", &out); err != nil || !strings.HasPrefix(out.String(), "200 OK") {
		t.Errorf("healthy: %v %q", err, out.String())
	}
	if err := probe(client, badURL+"/health/ready", &out); err == nil || !strings.Contains(err.Error(), "503") {
		t.Errorf("unavailable: %v", err)
	}
	if err := probe(client, otherURL+"/health/ready", &out); err == nil {
		t.Error("a server whose certificate another CA signed passed")
	}
	if err := probe(client, "https://127.0.0.1:1/health/ready", &out); err == nil {
		t.Error("nothing listening passed")
	}
}

// A server that never answers is cut off at the timeout.
func TestProbeIsBounded(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := probeClient("", 200*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := probe(client, "http://"+ln.Addr().String()+"/", &bytes.Buffer{}); err == nil {
		t.Fatal("silent server passed")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("probe took %v", d)
	}
}

func TestPickAddress(t *testing.T) {
	ip := net.ParseIP
	cases := []struct {
		name          string
		byName, iface []net.IP
		want          string
	}{
		{"host name first, IPv4 preferred", []net.IP{ip("127.0.1.1"), ip("fd00::5"), ip("172.18.0.5")}, []net.IP{ip("10.0.0.9")}, "172.18.0.5"},
		{"host name IPv6 only", []net.IP{ip("fd00::5")}, nil, "fd00::5"},
		{"loopback name, one interface", []net.IP{ip("127.0.1.1")}, []net.IP{ip("127.0.0.1"), ip("172.18.0.7"), ip("fe80::1")}, "172.18.0.7"},
		{"several interfaces", nil, []net.IP{ip("172.18.0.7"), ip("172.19.0.3")}, ""},
		{"none", nil, []net.IP{ip("127.0.0.1")}, ""},
	}
	for _, c := range cases {
		got, err := pickAddress(c.byName, c.iface)
		if c.want == "" {
			if err == nil {
				t.Errorf("%s: got %v, want an error", c.name, got)
			}
			continue
		}
		if err != nil || got.String() != c.want {
			t.Errorf("%s: %v %v, want %s", c.name, got, err, c.want)
		}
	}
}

// exec replaces the shim with the program, adding the advertised host
// only when asked and only when unset.
func TestExec(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh to exec into")
	}
	shim := func(env []string, args ...string) (string, error) {
		cmd := exec.Command(os.Args[0], args...)
		cmd.Env = append(os.Environ(), append(env, "SHIM_TEST_AS_MAIN=1")...)
		out, err := cmd.CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	echo := []string{sh, "-c", `printf '%s|%s' "$KITSHOP_ADVERTISE_HOST" "$0"`, "arg0"}

	got, err := shim([]string{advertiseEnv + "="}, append([]string{"exec"}, echo...)...)
	if err != nil || got != "|arg0" {
		t.Errorf("without -advertise: %q %v", got, err)
	}
	got, err = shim([]string{advertiseEnv + "=10.1.2.3"}, append([]string{"exec", "-advertise"}, echo...)...)
	if err != nil || got != "10.1.2.3|arg0" {
		t.Errorf("preset host: %q %v", got, err)
	}
	if _, err := ownAddress(); err == nil {
		got, err = shim([]string{advertiseEnv + "="}, append([]string{"exec", "-advertise"}, echo...)...)
		host, _, _ := strings.Cut(got, "|")
		if err != nil || net.ParseIP(host) == nil || net.ParseIP(host).IsLoopback() {
			t.Errorf("advertised: %q %v", got, err)
		}
	}
	if got, err := shim(nil, "exec", filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Errorf("missing program: %q", got)
	}
	if got, err := shim(nil, "frobnicate"); err == nil || !strings.Contains(got, "unknown command") {
		t.Errorf("unknown command: %q %v", got, err)
	}
}
