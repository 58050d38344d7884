package main

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
)

const (
	// startBound covers building every binary (cold caches on a loaded
	// 2-core machine take minutes) and starting them one after the other.
	startBound = 4 * time.Minute
	// registeredBound covers registration trailing readiness by a moment.
	registeredBound = 30 * time.Second
)

var startedLine = regexp.MustCompile(`launcher: started (\w+) \(pid (\d+)\)`)

// TestMakeRun is `make run` end to end: the real launcher builds and
// starts the whole platform under mTLS, on ports shifted clear of a
// developer's own `make run` and of the ephemeral range other tests draw
// from; every service registers, products serves its demo catalog over
// TLS with the generated CA (and through the gateway once it exists), and
// SIGINT stops every process, the launcher exiting 0 with nothing left
// running. It builds every binary, so it is the package's only such test.
func TestMakeRun(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the whole platform")
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	launcher := kittest.BuildBinaries(t, "ops/launcher")["ops/launcher"]
	offset, ps := freeOffset(t)
	work := t.TempDir()
	tlsDir := filepath.Join(work, "tls")

	socket := filepath.Join(work, "launcher.sock")
	var out kittest.LogBuffer
	cmd := exec.Command(launcher, "-bin-dir", filepath.Join(work, "bin"), "-tls-dir", tlsDir,
		"-port-offset", strconv.Itoa(offset), "-control", socket)
	cmd.Dir = root // the launcher builds ./registry, ./users, ... from the checkout
	cmd.Env = hermeticEnv()
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	stopped := false
	t.Cleanup(func() {
		if !stopped { // the test failed half-way: leave nothing behind
			_ = cmd.Process.Kill()
			<-exited
			for _, pid := range childPIDs(out.String()) {
				_ = syscall.Kill(-pid, syscall.SIGKILL) // each child leads its own process group
			}
		}
		if t.Failed() {
			t.Logf("launcher output (tail):\n%s", tailOf(out.String(), 8000))
		}
	})

	// The banner comes once everything is ready.
	deadline := time.After(startBound)
	for !strings.Contains(out.String(), "launcher: all started with mTLS") {
		select {
		case err := <-exited:
			stopped = true
			t.Fatalf("launcher exited before the banner: %v", err)
		case <-deadline:
			t.Fatalf("no banner within %v", startBound)
		case <-time.After(100 * time.Millisecond):
		}
	}
	want := []string{"registry", "users", "products", "payments", "orders"}
	if isCommand(filepath.Join(root, "gateway")) {
		want = append(want, "gateway")
	}
	pids := childPIDs(out.String())
	for _, name := range want {
		if pids[name] == 0 {
			t.Fatalf("%s was not started (started: %v)", name, pids)
		}
	}
	banner := out.String()[strings.Index(out.String(), "launcher: all started"):]
	if !strings.Contains(banner, fmt.Sprintf("shifted by %d", offset)) || !strings.Contains(banner, "try: curl -s --cacert "+filepath.Join(tlsDir, "ca.pem")) {
		t.Errorf("banner:\n%s", banner)
	}

	client := caClient(t, filepath.Join(tlsDir, "ca.pem"))
	registry, _ := find(ps, "registry")
	kittest.WaitFor(t, registeredBound, "every service registered", func() bool {
		var view struct {
			Services map[string][]json.RawMessage `json:"services"`
		}
		if getJSON(client, "https://"+registry.httpAddr+"/v1/services", &view) != nil {
			return false
		}
		for _, name := range want[1:] {
			if len(view.Services[name]) == 0 {
				return false
			}
		}
		return true
	})

	products, _ := find(ps, "products")
	bases := []string{"https://" + localhost(products.httpAddr)}
	if gateway, ok := find(ps, "gateway"); ok && pids["gateway"] != 0 {
		bases = append(bases, "https://"+localhost(gateway.httpAddr))
	}
	for _, base := range bases {
		var all, coffee struct {
			Products []struct {
				SKU string `json:"sku"`
			} `json:"products"`
			TotalSize int `json:"total_size"`
		}
		if err := getJSON(client, base+"/api/v1/products?page_size=100", &all); err != nil {
			t.Fatalf("%s: %v", base, err)
		}
		if all.TotalSize != 12 || len(all.Products) != 12 || !strings.HasPrefix(all.Products[0].SKU, "DEMO-") {
			t.Errorf("%s/api/v1/products: %d products (%+v), want the 12 demo ones", base, all.TotalSize, all.Products)
		}
		if err := getJSON(client, base+"/api/v1/products?q=coffee", &coffee); err != nil || coffee.TotalSize == 0 {
			t.Errorf("%s q=coffee: %d, %v", base, coffee.TotalSize, err)
		}
	}
	if !regexp.MustCompile(`products +\| .*"created":12`).MatchString(out.String()) {
		t.Error("products did not log that it created 12 demo products")
	}

	countUsers := func() int {
		var v struct {
			Instances []json.RawMessage `json:"instances"`
		}
		if getJSON(client, "https://"+registry.httpAddr+"/v1/services/users", &v) != nil {
			return -1
		}
		return len(v.Instances)
	}
	exerciseControl(t, socket, countUsers, pids)
	if t.Failed() {
		return
	}

	// Ctrl-C: everything stops, in reverse order, within the bound.
	if err := cmd.Process.Signal(os.Interrupt); err != nil {
		t.Fatal(err)
	}
	stopBound := time.Duration(len(pids))*stopTimeout + 10*time.Second
	select {
	case err := <-exited:
		stopped = true
		if err != nil {
			t.Errorf("launcher exited with %v after SIGINT", err)
		}
	case <-time.After(stopBound):
		t.Fatalf("launcher still running %v after SIGINT", stopBound)
	}
	log := out.String()
	for i, name := range want {
		line := "launcher: " + name + " stopped (exit status 0)"
		at := strings.Index(log, line)
		if at < 0 {
			t.Errorf("no %q", line)
			continue
		}
		if i > 0 && at > strings.Index(log, "launcher: "+want[i-1]+" stopped") {
			t.Errorf("%s stopped before %s, which was started after it", want[i-1], name)
		}
	}
	for name, pid := range pids {
		if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
			t.Errorf("%s (pid %d) is still there after the launcher exited: %v", name, pid, err)
		}
	}
}

// freeOffset picks a port offset at which every port of the platform is
// free, and returns it with the shifted processes. Shifted ports stay in
// 12379..32084: above the defaults a developer's `make run` holds, below
// Linux's ephemeral range (32768 up), from which other tests' ":0"
// listeners and outgoing connections take theirs.
func freeOffset(t *testing.T) (int, []process) {
	t.Helper()
	var last error
	for range 20 {
		offset := 10000 + 100*rand.IntN(130)
		ps, err := shiftPorts(processes, offset)
		if err != nil {
			t.Fatal(err)
		}
		if last = checkPortsFree(ps); last == nil {
			return offset, ps
		}
	}
	t.Fatalf("no port offset with every port free: %v", last)
	return 0, nil
}

// hermeticEnv is the test's environment without kitshop settings, so a
// developer's DATABASE_URL, TLS files or seed choice cannot change what
// is tested: in-memory stores and the launcher's defaults.
func hermeticEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "KITSHOP_") || strings.HasPrefix(kv, "DATABASE_URL=") {
			continue
		}
		env = append(env, kv)
	}
	return env
}

func childPIDs(out string) map[string]int {
	pids := map[string]int{}
	for _, m := range startedLine.FindAllStringSubmatch(out, -1) {
		pid, _ := strconv.Atoi(m[2])
		pids[m[1]] = pid
	}
	return pids
}

// caClient trusts the launcher's development CA, as curl --cacert does.
func caClient(t *testing.T, caFile string) *http.Client {
	t.Helper()
	pem, err := os.ReadFile(caFile)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("%s holds no certificate", caFile)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Timeout: 5 * time.Second, Transport: tr}
}

func getJSON(c *http.Client, url string, into any) error {
	resp, err := c.Get(url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

func tailOf(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
