package console

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/auth"
	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// Test identities: the fake Identify reads the role from a header, as the
// storefront's would read it from the session cookie.
const (
	headerRole  = "X-Test-Role"
	headerToken = "X-Test-Token"
	adminToken  = "admin-token"
	adminID     = "8a5e1c55-6a52-4f0e-9a43-2b0c1e7e0a01"
)

func fakeIdentify(r *http.Request) (auth.Claims, bool) {
	role := r.Header.Get(headerRole)
	if role == "" {
		return auth.Claims{}, false
	}
	return auth.Claims{RegisteredClaims: jwt.RegisteredClaims{Subject: adminID}, Role: role}, true
}

func fakeToken(r *http.Request) string { return r.Header.Get(headerToken) }

// platform is a gateway's view of a running kitshop, faked: a real etcd,
// instances serving /health/ready over mTLS with certificates of a test
// CA, and the gateway's identity calling them.
type platform struct {
	t    *testing.T
	srv  *etcdtest.Server
	etcd *clientv3.Client
	ca   *tlsx.CA
	gw   *tlsx.Identity
}

func newPlatform(t *testing.T) *platform {
	t.Helper()
	ca, err := tlsx.NewCA(time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := ca.Identity("gateway")
	if err != nil {
		t.Fatal(err)
	}
	srv := etcdtest.Start(t)
	return &platform{t: t, srv: srv, etcd: srv.Client(t), ca: ca, gw: gw}
}

// httpClient is what kit/boot's Process.HTTPClient gives the gateway: a
// fresh transport presenting the gateway's certificate, accepting only
// service's.
func (p *platform) httpClient(service string) *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.TLSClientConfig = p.gw.ClientConfig(service)
	return &http.Client{Transport: t}
}

// serve starts an HTTPS server with a certificate naming certService,
// which requires the caller's certificate to name the gateway.
func (p *platform) serve(certService string, h http.Handler) *httptest.Server {
	p.t.Helper()
	id, err := p.ca.Identity(certService)
	if err != nil {
		p.t.Fatal(err)
	}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
			http.Error(w, "no client certificate", http.StatusUnauthorized)
			return
		}
		if svc, _ := tlsx.ServiceOf(r.TLS.PeerCertificates[0]); svc != "gateway" {
			http.Error(w, "caller is not the gateway", http.StatusForbidden)
			return
		}
		h.ServeHTTP(w, r)
	}))
	srv.TLS = id.ServerConfig()
	srv.StartTLS()
	p.t.Cleanup(srv.Close)
	return srv
}

// register puts an instance of service in the registry as kit/sd's
// Registrar would (without a lease: the test's etcd dies with it).
func (p *platform) register(service, version, httpAddr string) sd.Instance {
	p.t.Helper()
	return p.registerAs(uuid.NewString(), service, version, httpAddr)
}

// registerAs is register with a chosen id (sd.List orders by id).
func (p *platform) registerAs(id, service, version, httpAddr string) sd.Instance {
	p.t.Helper()
	inst := sd.Instance{ID: id, Name: service, Version: version, HTTPAddr: httpAddr,
		GRPCAddr: "127.0.0.1:1", RegisteredAt: time.Now().UTC()}
	raw, err := json.Marshal(inst)
	if err != nil {
		p.t.Fatal(err)
	}
	p.put(sd.Key(service, inst.ID), string(raw))
	return inst
}

func (p *platform) put(key, value string) {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := p.etcd.Put(ctx, key, value); err != nil {
		p.t.Fatal(err)
	}
}

// instance starts and registers an instance whose /health/ready answers
// status.
func (p *platform) instance(service, version string, status int) sd.Instance {
	p.t.Helper()
	srv := p.serve(service, readyHandler(status, nil))
	return p.register(service, version, srv.Listener.Addr().String())
}

// readyHandler answers /health/ready as kit/health does; next (if any)
// serves every other path.
func readyHandler(status int, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/health/ready" {
			if next != nil {
				next.ServeHTTP(w, r)
				return
			}
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		if status == http.StatusOK {
			_, _ = io.WriteString(w, `{"status":"ok","checks":{"lifecycle":"ok"}}`)
			return
		}
		_, _ = io.WriteString(w, `{"status":"unavailable","checks":{"lifecycle":"ok","postgres":"timed out"}}`)
	})
}

// config is the console's configuration against p.
func (p *platform) config(reg prometheus.Gatherer) Config {
	return Config{
		Identify: fakeIdentify, Token: fakeToken, Etcd: p.etcd, Gatherer: reg,
		HTTPClient: p.httpClient, HTTPScheme: "https", ZipkinUI: "http://zipkin.test:9411/zipkin/",
	}
}

// consoleServer serves cfg's console at Prefix.
func consoleServer(t *testing.T, cfg Config) *httptest.Server {
	t.Helper()
	h, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

type answer struct {
	status int
	header http.Header
	body   string
}

// get requests path with the given role ("" for nobody) and admin token.
func get(t *testing.T, srv *httptest.Server, path, role string, header ...string) answer {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if role != "" {
		req.Header.Set(headerRole, role)
		req.Header.Set(headerToken, adminToken)
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	client := &http.Client{
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	client.CloseIdleConnections()
	return answer{resp.StatusCode, resp.Header, string(body)}
}

func wantContains(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
	if t.Failed() {
		t.Logf("page:\n%s", body)
	}
}

// frozen is a handler that never answers until the test ends (or the
// caller gives up); entered is signalled on each request it holds.
type frozen struct {
	release chan struct{}
	once    sync.Once
	entered chan struct{}
}

func newFrozen(t *testing.T) *frozen {
	f := &frozen{release: make(chan struct{}), entered: make(chan struct{}, 100)}
	t.Cleanup(f.unfreeze)
	return f
}

func (f *frozen) unfreeze() { f.once.Do(func() { close(f.release) }) }

func (f *frozen) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	select {
	case f.entered <- struct{}{}:
	default:
	}
	select {
	case <-r.Context().Done():
	case <-f.release:
	}
}
