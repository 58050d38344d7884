package main

import (
	"os"
	"strings"
)

// environment is what process p is started with: the launcher's own
// environment, then the platform's layout, which wins (os/exec keeps the
// last value of a duplicated key):
//   - p's listen addresses, and for the registry its etcd's;
//   - KITSHOP_ETCD_ENDPOINTS: the registry this launcher runs, at its
//     shifted port, so every process registers and discovers there;
//   - DATABASE_URL from KITSHOP_<SERVICE>_DATABASE_URL when set;
//   - KITSHOP_PRODUCTS_SEED_DEMO=1 for products, unless the developer set
//     it (=0 to start with an empty catalog);
//   - extra, the launcher's own settings for every process
//     (KITSHOP_ZIPKIN_URL when it runs the trace backend: see traces.go);
//   - p's identity (see security.env).
//
// Everything else passes through: KITSHOP_ZIPKIN_URL set by the developer
// reaches every process, so all of them report to that collector.
func environment(p process, etcd string, sec *security, extra ...string) []string {
	env := os.Environ()
	env = append(env, "KITSHOP_HTTP_ADDR="+p.httpAddr)
	if p.grpcAddr != "" {
		env = append(env, "KITSHOP_GRPC_ADDR="+p.grpcAddr)
	}
	if p.etcdAddr != "" {
		env = append(env, "KITSHOP_REGISTRY_ETCD_ADDR="+p.etcdAddr, "KITSHOP_REGISTRY_PEER_ADDR="+p.peerAddr)
	}
	if etcd != "" {
		env = append(env, "KITSHOP_ETCD_ENDPOINTS="+etcd)
	}
	if url := os.Getenv("KITSHOP_" + strings.ToUpper(p.name) + "_DATABASE_URL"); url != "" {
		env = append(env, "DATABASE_URL="+url)
	}
	// Empty counts as unset, as everywhere in kitshop.
	if p.name == "products" && strings.TrimSpace(os.Getenv("KITSHOP_PRODUCTS_SEED_DEMO")) == "" {
		env = append(env, "KITSHOP_PRODUCTS_SEED_DEMO=1")
	}
	env = append(env, extra...)
	return append(env, sec.env(p)...)
}
