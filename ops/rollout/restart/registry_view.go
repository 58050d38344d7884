package restart

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"time"

	"github.com/kitshop/kitshop/kit/sd"
)

// RegistryView reads the registry's HTTP view (GET /v1/services/<name>),
// which is what the platform's callers discover through: an instance
// listed there receives traffic.
type RegistryView struct {
	// Base is the view's base URL, e.g. https://127.0.0.1:8090.
	Base   string
	Client *http.Client
}

// NewRegistryView reaches the view at addr, over HTTPS trusting caFile
// (make run's development CA, as curl --cacert does), or plain HTTP when
// caFile is "" (KITSHOP_INSECURE=1 make run).
func NewRegistryView(addr, caFile string) (*RegistryView, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	scheme := "http"
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("CA %s: no PEM certificate in it", caFile)
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		scheme = "https"
	}
	return &RegistryView{Base: scheme + "://" + addr, Client: &http.Client{Transport: tr, Timeout: 5 * time.Second}}, nil
}

// Instances lists what the registry holds for service.
func (v *RegistryView) Instances(ctx context.Context, service string) ([]sd.Instance, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.Base+"/v1/services/"+url.PathEscape(service), nil)
	if err != nil {
		return nil, err
	}
	resp, err := v.Client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("registry view: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("registry view: GET /v1/services/%s: %s", service, resp.Status)
	}
	var body struct {
		Instances []sd.Instance `json:"instances"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 4<<20)).Decode(&body); err != nil {
		return nil, fmt.Errorf("registry view: %w", err)
	}
	return body.Instances, nil
}

// Close releases idle connections.
func (v *RegistryView) Close() { v.Client.CloseIdleConnections() }
