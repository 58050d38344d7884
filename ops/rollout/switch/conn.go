package switchover

import (
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// devTLSDir is where `make run` keeps its development certificates.
const devTLSDir = ".run/tls"

// devIdentity is the development certificate the tools borrow: the
// gateway's, since they read the registry and the gateway's metrics as
// the gateway's own peers would.
const devIdentity = "gateway"

// Platform is how a rollout tool reaches the platform: the registry
// (etcd, where rollouts live) and, for the canary, the gateways'
// /metrics. Flags with the platform's own environment fallbacks; the mTLS
// files default to `make run`'s under .run/tls when they exist.
type Platform struct {
	etcd           *[]string
	ca, cert, key  *string
	requestTimeout *time.Duration
}

// DefinePlatformFlags adds the connection flags to fs.
func DefinePlatformFlags(fs *flag.FlagSet) *Platform {
	return &Platform{
		etcd: config.StringList(fs, "etcd-endpoints", "KITSHOP_ETCD_ENDPOINTS", []string{"127.0.0.1:2379"},
			"comma-separated etcd endpoints of the registry"),
		ca: config.String(fs, "tls-ca", "KITSHOP_TLS_CA", devFile("ca.pem"),
			"CA certificate (PEM); empty: plaintext (KITSHOP_INSECURE platforms)"),
		cert: config.String(fs, "tls-cert", "KITSHOP_TLS_CERT", devFile(devIdentity+".pem"),
			"client certificate (PEM) presented to the registry"),
		key: config.String(fs, "tls-key", "KITSHOP_TLS_KEY", devFile(devIdentity+"-key.pem"),
			"client key (PEM)"),
		requestTimeout: config.Duration(fs, "request-timeout", "", 5*time.Second,
			"bound of each registry read or write and each metrics scrape"),
	}
}

// devFile is .run/tls/name when it exists, else "".
func devFile(name string) string {
	p := filepath.Join(devTLSDir, name)
	if _, err := os.Stat(p); err != nil {
		return ""
	}
	return p
}

// Timeout bounds one remote operation.
func (p *Platform) Timeout() time.Duration { return *p.requestTimeout }

// Connect opens the registry client and the HTTP client for the
// platform's metrics (nil TLS config: plaintext).
func (p *Platform) Connect() (*clientv3.Client, *http.Client, error) {
	files := tlsx.Files{CA: *p.ca, Cert: *p.cert, Key: *p.key}
	var etcdTLS, httpTLS *tls.Config
	if files.Enabled() {
		if files.CA == "" || files.Cert == "" || files.Key == "" {
			return nil, nil, errors.New("-tls-ca, -tls-cert and -tls-key go together")
		}
		id, err := tlsx.Load(files)
		if err != nil {
			return nil, nil, fmt.Errorf("mTLS files: %w", err)
		}
		etcdTLS = id.ClientConfig("registry")
		httpTLS = id.ClientConfig(devIdentity)
	}
	c, err := sd.NewClientTLS(*p.etcd, etcdTLS)
	if err != nil {
		return nil, nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = httpTLS
	return c, &http.Client{Transport: tr, Timeout: *p.requestTimeout}, nil
}

// Scheme is the scheme of the platform's HTTP ports.
func (p *Platform) Scheme() string {
	if *p.ca != "" {
		return "https"
	}
	return "http"
}
