package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
)

// BenchmarkGatewayGetProduct measures GET /api/v1/products/{id} through
// the gateway (HTTPS in, the products client's gRPC over mTLS out) against
// the same request made directly on products' HTTP port (HTTPS, the same
// REST mapping in-process), in the same run on the same product, and, when
// nginx is installed (make bench installs it: ops/bench-deps.sh), through
// nginx as a plain TLS-terminating reverse proxy to products' HTTP port.
// For each path it measures:
//   - saturation throughput: a closed loop of benchWorkers callers, and
//     the CPU time the proxy and products spend per request meanwhile;
//   - p50 and p99 latency at fixed fractions of the direct path's
//     saturation rate (benchLoads; the figure is at half): an open
//     loop that sends on a fixed schedule whatever the answers do, each
//     latency counted from when its request was due, so a stall shows in
//     every request it delays (no coordinated omission). Requests that
//     fail under that load (an overloaded path times out) are counted by
//     status, not treated as the benchmark's failure.
//
// The paths take turns, benchRounds times per phase, so that a change in
// the neighbours' load on a shared machine spreads over all of them. It
// runs a fixed load whatever b.N is (one round is longer than any
// -benchtime), because starting the platform per round would dominate.
// Everything (client, gateway, products, Postgres, nginx) shares the
// machine's cores.
func BenchmarkGatewayGetProduct(b *testing.B) {
	p := launch(b, platformConfig{instances: 1, orders: 1, gateways: 1, gatewayEnv: edgeLimitsEnv(b, "")})
	s := openShop(b, p, 1)
	path := "/api/v1/products/" + s.productID[0]
	products := p.instances("products")
	if len(products) != 1 {
		b.Fatalf("%d products instances registered, want 1", len(products))
	}
	client := benchClient(b, p)
	productsPID := p.procs["products"][0].cmd.Process.Pid
	targets := []*benchTarget{
		{name: "direct", url: "https://" + products[0].HTTPAddr + path},
		{name: "gateway", url: p.gatewayURL(0) + path, apiKey: edgeKey, proxy: p.procs["gateway"][0].cmd.Process.Pid},
	}
	if addr, pid, ok := startNginx(b, p, products[0].HTTPAddr); ok {
		targets = append(targets, &benchTarget{name: "nginx", url: "https://" + addr + path, proxy: pid})
	}
	for _, tg := range targets {
		proto, err := tg.send(client)
		if err != nil {
			b.Fatalf("%s: %v", tg.name, err)
		}
		tg.proto = proto
		tg.loads = make([]openLoop, len(benchLoads))
	}

	workers := benchWorkers()
	b.ResetTimer()
	for _, tg := range targets {
		var warmUp closedLoop
		tg.saturate(&warmUp, client, workers, time.Second, 0) // connections, caches
	}
	for range benchRounds {
		for _, tg := range targets {
			tg.saturate(&tg.closed, client, workers, benchSaturation/benchRounds, productsPID)
		}
	}
	directRate := targets[0].closed.rate()
	for i, load := range benchLoads {
		for range benchRounds {
			for _, tg := range targets {
				tg.openLoop(&tg.loads[i], client, load*directRate, benchOpenLoop/benchRounds)
			}
		}
	}
	b.StopTimer()

	b.Log(benchTable(targets, workers, directRate))
	direct, gw := targets[0], targets[1]
	for _, tg := range targets {
		b.ReportMetric(tg.closed.rate(), tg.name+"-req/s")
	}
	b.ReportMetric(100*gw.closed.rate()/directRate, "gw-throughput-%")
	for i, load := range benchLoads {
		at := fmt.Sprintf("-at%.0f%%", 100*load)
		b.ReportMetric(ms(gw.loads[i].percentile(50)-direct.loads[i].percentile(50)), "gw-p50-overhead-ms"+at)
		b.ReportMetric(ms(gw.loads[i].percentile(99)-direct.loads[i].percentile(99)), "gw-p99-overhead-ms"+at)
	}
	for _, tg := range targets {
		if tg.closed.failed > 0 {
			b.Errorf("%s: %d requests failed at saturation: %v", tg.name, tg.closed.failed, tg.failures)
		}
	}
}

// What BenchmarkGatewayGetProduct measures, per path: how long each phase
// lasts, in how many turns, and the open loop's loads as fractions of the
// direct path's saturation rate.
const (
	benchSaturation = 4500 * time.Millisecond
	benchOpenLoop   = 4500 * time.Millisecond
	benchRounds     = 3
)

var benchLoads = []float64{0.5, 0.1}

// benchTable is BenchmarkGatewayGetProduct's report, in at most 10 lines:
// the testing package cuts a benchmark's log after that many.
func benchTable(targets []*benchTarget, workers int, directRate float64) string {
	var t strings.Builder
	fmt.Fprintf(&t, "GET /api/v1/products/{id}: saturation with %d closed-loop workers for %v; open loop for %v per load; paths in turns, %d rounds\n",
		workers, benchSaturation, benchOpenLoop, benchRounds)
	fmt.Fprintf(&t, "%-8s %-8s %12s %9s %9s %9s", "path", "protocol", "saturation/s", "of direct", "proxy cpu", "products")
	for _, load := range benchLoads {
		at := fmt.Sprintf("@%.0f/s", load*directRate)
		fmt.Fprintf(&t, " %10s %10s %7s", "p50"+at, "p99", "failed")
	}
	fmt.Fprintf(&t, " %10s\n", "send lag")
	for _, tg := range targets {
		proxyCPU := "-"
		if tg.proxy != 0 {
			proxyCPU = tg.closed.perRequest(tg.closed.proxyCPU).String()
		}
		fmt.Fprintf(&t, "%-8s %-8s %12.0f %8.0f%% %9s %9s", tg.name, tg.proto, tg.closed.rate(), 100*tg.closed.rate()/directRate,
			proxyCPU, tg.closed.perRequest(tg.closed.productsCPU))
		var lag time.Duration
		for i := range benchLoads {
			l := &tg.loads[i]
			fmt.Fprintf(&t, " %10v %10v %7d", l.percentile(50).Round(time.Microsecond), l.percentile(99).Round(time.Microsecond), l.failed)
			lag = max(lag, l.lag)
		}
		fmt.Fprintf(&t, " %10v\n", lag.Round(time.Microsecond))
	}
	direct := targets[0]
	for _, tg := range targets[1:] {
		fmt.Fprintf(&t, "%s overhead: throughput %.0f%% of direct", tg.name, 100*tg.closed.rate()/directRate)
		for i, load := range benchLoads {
			fmt.Fprintf(&t, "; at %.0f%% of direct p50 %+v, p99 %+v", 100*load,
				(tg.loads[i].percentile(50) - direct.loads[i].percentile(50)).Round(time.Microsecond),
				(tg.loads[i].percentile(99) - direct.loads[i].percentile(99)).Round(time.Microsecond))
		}
		t.WriteString("\n")
	}
	t.WriteString("targets for the gateway: p50 overhead <= 1ms, p99 overhead <= 3ms at 50% of direct, throughput >= 60% of direct; " +
		"cpu: user+system time per request at saturation of the proxy (the gateway; nginx with its workers) and of products; " +
		"send lag: the most the open loop's sender fell behind its schedule (included in its requests' latencies)\n")
	var failures []string
	for _, tg := range targets {
		if len(tg.failures) > 0 {
			failures = append(failures, fmt.Sprintf("%s %v", tg.name, tg.failures))
		}
	}
	if len(failures) > 0 {
		fmt.Fprintf(&t, "failed requests: %s\n", strings.Join(failures, "; "))
	}
	return strings.TrimSuffix(t.String(), "\n")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// benchWorkers is the closed loop's callers: KITSHOP_BENCH_WORKERS, else
// 32, enough to keep 2 cores busy through every hop.
func benchWorkers() int {
	if n, err := strconv.Atoi(os.Getenv("KITSHOP_BENCH_WORKERS")); err == nil && n > 0 {
		return n
	}
	return 32
}

// benchClient is the public client with a connection pool deep enough for
// every worker to keep its connection: a new TLS handshake per request
// would measure handshakes instead of the paths.
func benchClient(b *testing.B, p *platform) *http.Client {
	c := p.public()
	tr := c.Transport.(*http.Transport)
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 1024
	c.Timeout = 10 * time.Second
	b.Cleanup(tr.CloseIdleConnections)
	return c
}

// benchTarget is one path to products and what was measured on it.
type benchTarget struct {
	name, url, apiKey string
	// proxy is the process between the client and products (0: none).
	proxy  int
	proto  string
	closed closedLoop
	loads  []openLoop // by benchLoads

	mu sync.Mutex
	// failures counts failed requests by what went wrong ("status 504").
	failures map[string]int
}

// closedLoop is what the saturation rounds measured.
type closedLoop struct {
	served, failed        int64
	elapsed               time.Duration
	proxyCPU, productsCPU time.Duration
}

func (c *closedLoop) rate() float64 { return float64(c.served) / c.elapsed.Seconds() }

func (c *closedLoop) perRequest(cpu time.Duration) time.Duration {
	return (cpu / time.Duration(max(1, c.served))).Round(time.Microsecond)
}

// openLoop is what the open-loop rounds at one load measured.
type openLoop struct {
	lat    []time.Duration
	lag    time.Duration
	failed int64
}

func (o *openLoop) percentile(p int) time.Duration {
	if len(o.lat) == 0 {
		return 0
	}
	slices.Sort(o.lat)
	return o.lat[len(o.lat)*p/100]
}

// send makes one request and reads the answer whole; anything but 200 is
// an error. It returns the HTTP version spoken.
func (tg *benchTarget) send(c *http.Client) (string, error) {
	req, err := http.NewRequest(http.MethodGet, tg.url, nil)
	if err != nil {
		return "", err
	}
	if tg.apiKey != "" {
		req.Header.Set("X-API-Key", tg.apiKey)
	}
	resp, err := c.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return "", err
	}
	if resp.StatusCode != http.StatusOK {
		return "", fmt.Errorf("status %d", resp.StatusCode)
	}
	return resp.Proto, nil
}

func (tg *benchTarget) failed(err error) {
	tg.mu.Lock()
	defer tg.mu.Unlock()
	if tg.failures == nil {
		tg.failures = map[string]int{}
	}
	tg.failures[err.Error()]++
}

// saturate runs workers callers back to back for d and adds to into what
// they did, and the CPU time the proxy and productsPID (unless 0) used.
func (tg *benchTarget) saturate(into *closedLoop, c *http.Client, workers int, d time.Duration, productsPID int) {
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	proxyCPU, productsCPU := treeCPU(tg.proxy), treeCPU(productsPID)
	start := time.Now()
	stop := start.Add(d)
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(stop) {
				if _, err := tg.send(c); err != nil {
					failed.Add(1)
					tg.failed(err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	into.elapsed += time.Since(start)
	into.served += ok.Load()
	into.failed += failed.Load()
	into.proxyCPU += treeCPU(tg.proxy) - proxyCPU
	into.productsCPU += treeCPU(productsPID) - productsCPU
}

// treeCPU is the CPU time (user and system) used so far by process pid
// and its direct children (nginx's workers), from /proc; 0 for pid 0 or
// where /proc is unavailable.
func treeCPU(pid int) time.Duration {
	if pid == 0 {
		return 0
	}
	total, _ := procCPU(strconv.Itoa(pid))
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		if cpu, ppid := procCPU(e.Name()); ppid == pid {
			total += cpu
		}
	}
	return total
}

// procCPU reads /proc/<pid>/stat: the process's CPU time and its parent.
func procCPU(pid string) (cpu time.Duration, ppid int) {
	stat, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, 0
	}
	// Fields after the command name (which may hold spaces) start at
	// state; ppid is the 2nd, utime and stime the 12th and 13th, in clock
	// ticks (USER_HZ, 100 on every Linux ABI).
	i := strings.LastIndexByte(string(stat), ')')
	if i < 0 {
		return 0, 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0, 0
	}
	ppid, _ = strconv.Atoi(f[1])
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * (time.Second / 100), ppid
}

// openLoop sends rate requests a second for d, each at its due time
// start + i/rate in a goroutine of its own, whether or not earlier ones
// have answered, and adds their latencies to into.
func (tg *benchTarget) openLoop(into *openLoop, c *http.Client, rate float64, d time.Duration) {
	n := int(rate * d.Seconds())
	lat := make([]time.Duration, n)
	var wg sync.WaitGroup
	var failed atomic.Int64
	start := time.Now().Add(10 * time.Millisecond)
	for i := range n {
		due := start.Add(time.Duration(float64(i) * float64(time.Second) / rate))
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
		} else {
			into.lag = max(into.lag, -wait)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := tg.send(c); err != nil {
				failed.Add(1)
				tg.failed(err)
				lat[i] = -1
				return
			}
			lat[i] = time.Since(due)
		}()
	}
	wg.Wait()
	into.failed += failed.Load()
	into.lat = append(into.lat, slices.DeleteFunc(lat, func(d time.Duration) bool { return d < 0 })...)
}

// nginxConf is a plain reverse proxy: TLS and HTTP/2 in (the same
// certificate and protocol as the gateway), kept-alive HTTP/1.1 TLS
// connections out to products' HTTP port, the upstream verified against
// the platform's CA.
const nginxConf = `
worker_processes auto;
daemon off;
pid {{dir}}/nginx.pid;
error_log {{dir}}/error.log warn;
{{user}}
events { worker_connections 4096; }
http {
	access_log off;
	keepalive_requests 1000000;
	client_body_temp_path {{dir}}/client_body;
	proxy_temp_path {{dir}}/proxy;
	fastcgi_temp_path {{dir}}/fastcgi;
	uwsgi_temp_path {{dir}}/uwsgi;
	scgi_temp_path {{dir}}/scgi;
	upstream products {
		server {{upstream}};
		keepalive 256;
		keepalive_requests 1000000;
	}
	server {
		listen {{addr}} ssl http2;
		ssl_certificate {{cert}};
		ssl_certificate_key {{key}};
		location / {
			proxy_pass https://products;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_ssl_session_reuse on;
			proxy_ssl_verify on;
			proxy_ssl_trusted_certificate {{ca}};
			proxy_ssl_name localhost;
		}
	}
}
`

// startNginx runs nginx as a reverse proxy to upstream (products' HTTP
// port) from a configuration and prefix of its own in a temporary
// directory, on a free loopback port, stopped when the benchmark ends.
// It returns its address and the master's pid, or false (and logs why)
// when nginx is not installed.
func startNginx(b *testing.B, p *platform, upstream string) (string, int, bool) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			b.Log("nginx is not installed (make bench installs it with ops/bench-deps.sh): no nginx comparison")
			return "", 0, false
		}
		bin = "/usr/sbin/nginx"
	}
	// A directory of its own rather than the test's: run as root, nginx's
	// workers drop to an unprivileged user, who must reach the prefix.
	dir, err := os.MkdirTemp("", "kitshop-bench-nginx-")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		b.Fatal(err)
	}
	userLine := ""
	if os.Geteuid() == 0 {
		group := "nobody"
		if _, err := user.LookupGroup("nogroup"); err == nil {
			group = "nogroup"
		}
		userLine = "user nobody " + group + ";"
	}
	addr := kittest.FreeAddr(b)
	certs := p.certs["gateway"]
	conf := strings.NewReplacer("{{dir}}", dir, "{{user}}", userLine, "{{upstream}}", upstream, "{{addr}}", addr,
		"{{cert}}", certs.Cert, "{{key}}", certs.Key, "{{ca}}", certs.CA).Replace(nginxConf)
	confPath := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := kittest.StartProcess(b, bin, nil, "-p", dir, "-e", filepath.Join(dir, "error.log"), "-c", confPath)
	// Registered after StartProcess's cleanup, so it runs first: a fast
	// shutdown (SIGTERM) makes the master stop its workers, which a kill
	// of the master alone would leave behind.
	b.Cleanup(func() {
		if cmd.ProcessState != nil {
			return
		}
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	b.Cleanup(func() {
		if b.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			b.Logf("--- nginx error.log:\n%s", log)
		}
	})
	c := p.public()
	c.Timeout = 2 * time.Second
	kittest.WaitFor(b, 15*time.Second, "nginx serving", func() bool {
		resp, err := c.Get("https://" + addr + "/health/live")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	c.CloseIdleConnections()
	return addr, cmd.Process.Pid, true
}
