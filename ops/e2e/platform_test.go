package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/boot"
	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// platform is a registry plus two instances each of users, products and
// payments, all over mTLS with certificates from a throwaway CA, sharing
// one Postgres database (each service in its own schema).
type platform struct {
	t        testing.TB
	bin      map[string]string
	certs    map[string]tlsx.Files
	etcdAddr string
	viewAddr string
	env      []string
	procs    map[string][]*instance
	// ordersEnv is added to every orders instance's environment.
	ordersEnv   []string
	breakerOpen time.Duration
	gatewayEnv  []string
	productsEnv []string
	// jwtKeyFile is the users instances' signing key (PEM), for tests
	// that mint tokens the platform trusts (an expired one, say).
	jwtKeyFile string
}

type instance struct {
	cmd  *exec.Cmd
	name string
	// log is the file the process writes its output to.
	log string
	// httpAddr is the HTTP address of a gateway (started on a port of
	// its own, so tests know which instance they call).
	httpAddr string
}

const (
	adminEmail    = "admin@example.com"
	adminPassword = "correct horse battery"
)

// platformConfig says what launch starts.
type platformConfig struct {
	// instances of users, products and payments each.
	instances int
	// orders instances (0: none), run from ordersBin when set (a build
	// with crash points) with ordersEnv added.
	orders    int
	ordersBin string
	ordersEnv []string
	// breakerOpen is how long the test's own callers keep a backend's
	// breaker open (a minute when zero, as in production). Tests that
	// kill a service's only instance on purpose shorten it, or their
	// next calls would wait out the breaker they tripped.
	breakerOpen time.Duration
	// gateways to start last, with gatewayEnv added. A gateway is ready,
	// and registers, only once every backend has an instance, so they
	// need orders > 0.
	gateways   int
	gatewayEnv []string
	// productsEnv is added to every products instance's environment
	// (KITSHOP_PRODUCTS_SEED_DEMO=1 for the README's demo catalog).
	productsEnv []string
	// env is added to every service's and gateway's environment
	// (KITSHOP_ZIPKIN_URL, KITSHOP_LOG_LEVEL), before the per-service
	// lists above.
	env []string
}

func startPlatform(t *testing.T) *platform {
	return launch(t, platformConfig{instances: 2})
}

func launch(t testing.TB, cfg platformConfig) *platform {
	t.Helper()
	p := &platform{t: t, procs: map[string][]*instance{}}
	names := []string{"registry", "users", "products", "payments"}
	if cfg.orders > 0 && cfg.ordersBin == "" {
		names = append(names, "orders")
	}
	if cfg.gateways > 0 {
		names = append(names, "gateway")
	}
	p.gatewayEnv = cfg.gatewayEnv
	p.productsEnv = cfg.productsEnv
	p.bin = kittest.BuildBinaries(t, names...)
	if cfg.ordersBin != "" {
		p.bin["orders"] = cfg.ordersBin
	}
	p.ordersEnv = cfg.ordersEnv
	p.breakerOpen = cfg.breakerOpen
	if p.breakerOpen == 0 {
		p.breakerOpen = time.Minute
	}
	var err error
	p.certs, err = tlsx.WriteDevFiles(filepath.Join(t.TempDir(), "tls"), "registry", "users", "products", "payments", "orders", "gateway")
	if err != nil {
		t.Fatal(err)
	}
	p.etcdAddr, p.viewAddr = kittest.FreeAddr(t), kittest.FreeAddr(t)
	// The data directory is the test's: the process is killed at the end,
	// and a temporary directory of its own (~120 MB of etcd files) would
	// be left behind every run.
	kittest.StartProcess(t, p.bin["registry"], tlsEnv(p.certs["registry"]),
		"-etcd-addr", p.etcdAddr, "-peer-addr", kittest.FreeAddr(t), "-http-addr", p.viewAddr, "-data-dir", t.TempDir())
	kittest.WaitFor(t, 30*time.Second, "registry ready", func() bool {
		return p.get(p.viewAddr, "/health/ready") == http.StatusOK
	})
	p.jwtKeyFile = kittest.WriteSigningKey(t)
	p.env = []string{
		"KITSHOP_HTTP_ADDR=127.0.0.1:0", "KITSHOP_GRPC_ADDR=127.0.0.1:0",
		"KITSHOP_ETCD_ENDPOINTS=" + p.etcdAddr, "DATABASE_URL=" + pgtest.URL(t),
		"KITSHOP_DRAIN_TIMEOUT=5s", "KITSHOP_DEREGISTER_GRACE=200ms", "KITSHOP_BCRYPT_COST=4",
		// Both users instances sign with one key, as in production.
		"KITSHOP_JWT_KEY_FILE=" + p.jwtKeyFile,
		"KITSHOP_ADMIN_EMAIL=" + adminEmail, "KITSHOP_ADMIN_PASSWORD=" + adminPassword,
	}
	p.env = append(p.env, cfg.env...)
	// users first: the others verify tokens with its JWKS, and payments
	// validates the user it charges.
	for _, svc := range []string{"users", "products", "payments"} {
		for range cfg.instances {
			p.start(svc)
		}
		p.waitInstances(svc, cfg.instances)
	}
	for range cfg.orders {
		p.start("orders")
	}
	if cfg.orders > 0 {
		p.waitInstances("orders", cfg.orders)
	}
	for range cfg.gateways {
		p.startGateway()
	}
	if cfg.gateways > 0 {
		p.waitInstances("gateway", cfg.gateways)
	}
	return p
}

// startGateway starts a gateway on a port of its own, without a gRPC
// port, with the platform's gatewayEnv and then extraEnv.
func (p *platform) startGateway(extraEnv ...string) *instance {
	addr := kittest.FreeAddr(p.t)
	env := append([]string{"KITSHOP_HTTP_ADDR=" + addr, "KITSHOP_GRPC_ADDR="}, p.gatewayEnv...)
	in := p.start("gateway", append(env, extraEnv...)...)
	in.httpAddr = addr
	return in
}

// gatewayURL is the base URL of the i-th gateway started.
func (p *platform) gatewayURL(i int) string { return "https://" + p.procs["gateway"][i].httpAddr }

// public is an HTTP client as a customer's is: it trusts the platform's
// CA (the gateway serves HTTPS with the development certificate) and has
// no certificate of its own.
func (p *platform) public() *http.Client {
	caPEM, err := os.ReadFile(p.certs["gateway"].CA)
	if err != nil {
		p.t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(caPEM)
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	return &http.Client{Transport: tr, Timeout: 35 * time.Second}
}

func (p *platform) start(svc string, extraEnv ...string) *instance {
	env := append(append([]string(nil), p.env...), tlsEnv(p.certs[svc])...)
	switch svc {
	case "orders":
		env = append(env, p.ordersEnv...)
	case "products":
		env = append(env, p.productsEnv...)
	}
	env = append(env, extraEnv...)
	cmd, log := kittest.StartProcessLog(p.t, p.bin[svc], env)
	in := &instance{cmd: cmd, name: svc, log: log}
	p.procs[svc] = append(p.procs[svc], in)
	return in
}

// instances lists what the registry view says is registered for svc.
func (p *platform) instances(svc string) []sd.Instance {
	var body struct{ Instances []sd.Instance }
	if code := p.getJSON(p.viewAddr, "/v1/services/"+svc, &body); code != http.StatusOK {
		return nil
	}
	return body.Instances
}

func (p *platform) waitInstances(svc string, n int) {
	p.t.Helper()
	kittest.WaitFor(p.t, 60*time.Second, svc+" instances registered", func() bool { return len(p.instances(svc)) == n })
}

// caller is a kitshop process of the given identity ("orders"), built as
// a real one is, whose Backend configurations the tests hand to the
// client packages.
func (p *platform) caller(identity string) *boot.Process {
	p.t.Helper()
	f := p.certs[identity]
	cfg := config.Service{
		Name: identity, HTTPAddr: "127.0.0.1:0", GRPCAddr: "127.0.0.1:0", LogLevel: "error",
		EtcdEndpoints: []string{p.etcdAddr}, TraceSampleRate: 1, AdvertiseHost: "127.0.0.1",
		BreakerFailures: 5, BreakerOpenTimeout: p.breakerOpen,
		TLSCA: f.CA, TLSCert: f.Cert, TLSKey: f.Key,
	}
	proc, err := boot.New(cfg, io.Discard)
	if err != nil {
		p.t.Fatal(err)
	}
	p.t.Cleanup(func() { _ = proc.Close() })
	return proc
}

// httpClient trusts the test CA and presents the gateway's certificate.
func (p *platform) httpClient() *http.Client {
	id, err := tlsx.Load(p.certs["gateway"])
	if err != nil {
		p.t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = id.ClientConfig("registry")
	return &http.Client{Transport: tr, Timeout: 5 * time.Second}
}

func (p *platform) get(addr, path string) int { return p.getJSON(addr, path, nil) }

func (p *platform) getJSON(addr, path string, out any) int {
	resp, err := p.httpClient().Get("https://" + addr + path)
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	if out != nil {
		if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
			return 0
		}
	}
	return resp.StatusCode
}

// metric reads one counter from an instance's /metrics (summing the lines
// whose labels contain every part of match).
func (p *platform) metric(in sd.Instance, svc string, match ...string) float64 {
	p.t.Helper()
	id, err := tlsx.Load(p.certs["gateway"])
	if err != nil {
		p.t.Fatal(err)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = id.ClientConfig(svc)
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Second}).Get("https://" + in.HTTPAddr + "/metrics")
	if err != nil {
		p.t.Fatalf("metrics of %s: %v", in.HTTPAddr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var sum float64
	for _, line := range strings.Split(string(body), "\n") {
		if !strings.HasPrefix(line, "kitshop_requests_total{") || !containsAll(line, match) {
			continue
		}
		sum += parseValue(line)
	}
	return sum
}

func tlsEnv(f tlsx.Files) []string {
	return []string{"KITSHOP_TLS_CA=" + f.CA, "KITSHOP_TLS_CERT=" + f.Cert, "KITSHOP_TLS_KEY=" + f.Key}
}

func containsAll(s string, parts []string) bool {
	for _, part := range parts {
		if !strings.Contains(s, part) {
			return false
		}
	}
	return true
}

// parseValue is the sample value at the end of a Prometheus text line.
func parseValue(line string) float64 {
	i := strings.LastIndexByte(line, ' ')
	v, err := strconv.ParseFloat(line[i+1:], 64)
	if err != nil {
		return 0
	}
	return v
}

// stopAll stops (SIGTERM, then waits) every running instance of svc and
// waits until the registry lists none.
func (p *platform) stopAll(svc string) {
	for _, in := range p.procs[svc] {
		if in.cmd.ProcessState == nil {
			_ = in.cmd.Process.Signal(syscall.SIGTERM)
			_ = in.cmd.Wait()
		}
	}
	p.procs[svc] = nil
	p.waitInstances(svc, 0)
}
