// Command registry runs kitshop's development service registry: an
// embedded single-node etcd that services register in, plus a read-only
// HTTP view of the registered instances.
//
//	go run ./registry                 # etcd on 127.0.0.1:2379, view on :8090
//	go run ./registry -data-dir ./data/registry
//
// With KITSHOP_TLS_CA, KITSHOP_TLS_CERT and KITSHOP_TLS_KEY set (a
// certificate naming "registry"), etcd speaks TLS and refuses clients
// without a certificate from the platform CA, so only platform processes
// can register; the view serves HTTPS with the same certificate.
//
// Without -data-dir the etcd data lives in a temporary directory removed
// on exit: registrations are leases that services renew anyway, so a
// fresh registry loses nothing a restart of the services would not
// rebuild.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-kit/log/level"
	"go.uber.org/zap/zapcore"

	"github.com/kitshop/kitshop/kit/config"
	"github.com/kitshop/kitshop/kit/health"
	"github.com/kitshop/kitshop/kit/httpx"
	"github.com/kitshop/kitshop/kit/lifecycle"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/sd"
	"github.com/kitshop/kitshop/kit/tlsx"
	"github.com/kitshop/kitshop/kit/tracing"
)

// readTimeout bounds each etcd read behind the HTTP view and readiness.
const readTimeout = 3 * time.Second

func main() {
	err := run(os.Args[1:])
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "registry:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("registry", flag.ContinueOnError)
	etcdAddr := config.String(fs, "etcd-addr", "KITSHOP_REGISTRY_ETCD_ADDR", "127.0.0.1:2379", "etcd client listen address")
	peerAddr := config.String(fs, "peer-addr", "KITSHOP_REGISTRY_PEER_ADDR", "127.0.0.1:2380", "etcd peer listen address (unused by a single node, but required)")
	dataDir := config.String(fs, "data-dir", "KITSHOP_REGISTRY_DATA_DIR", "", "etcd data directory; empty: a temporary directory removed on exit")
	httpAddr := config.String(fs, "http-addr", "KITSHOP_HTTP_ADDR", ":8090", "HTTP listen address of the view (:0 picks a free port)")
	logLevel := config.String(fs, "log-level", "KITSHOP_LOG_LEVEL", config.DefaultLogLevel, "debug, info, warn or error")
	tlsCA := config.String(fs, "tls-ca", "KITSHOP_TLS_CA", "", "platform CA (PEM) that client certificates must chain to; with -tls-cert and -tls-key: mTLS on etcd, HTTPS on the view")
	tlsCert := config.String(fs, "tls-cert", "KITSHOP_TLS_CERT", "", "the registry's certificate (PEM), naming spiffe://kitshop/registry")
	tlsKey := config.String(fs, "tls-key", "KITSHOP_TLS_KEY", "", "the registry's private key (PEM)")
	if err := config.Parse(fs, args); err != nil {
		return err
	}
	logger, err := logx.NewWithLevel(os.Stderr, "registry", *logLevel)
	if err != nil {
		return err
	}
	tlsFiles := tlsx.Files{CA: *tlsCA, Cert: *tlsCert, Key: *tlsKey}
	id, err := loadIdentity(tlsFiles)
	if err != nil {
		return err
	}
	if id == nil {
		_ = level.Warn(logger).Log("msg", "KITSHOP_TLS_CA/CERT/KEY unset: etcd accepts registrations from anyone who reaches it, so keep it on loopback", "etcd_addr", *etcdAddr)
	} else {
		_ = level.Info(logger).Log("msg", "mTLS on: etcd requires a platform client certificate; the view serves HTTPS", "identity", tlsx.ServiceURI(id.Service))
	}
	ctx, stop := lifecycle.SignalContext(context.Background())
	defer stop()

	// Until App.Run takes them over, whatever was opened is closed here
	// if a later step fails.
	var closers []io.Closer
	fail := func(err error) error {
		for i := len(closers) - 1; i >= 0; i-- {
			_ = closers[i].Close()
		}
		return err
	}

	dir, removeDir, err := dataDirectory(*dataDir, logger)
	if err != nil {
		return err
	}
	closers = append(closers, removeDir)
	etcdLevel := zapcore.WarnLevel
	if *logLevel == "debug" {
		etcdLevel = zapcore.InfoLevel
	}
	etcd, stopEtcd, err := startEtcd(etcdOptions{ClientAddr: *etcdAddr, PeerAddr: *peerAddr, DataDir: dir, LogLevel: etcdLevel, TLS: tlsFiles}, logger)
	if err != nil {
		return fail(fmt.Errorf("start etcd: %w", err))
	}
	closers = append(closers, stopEtcd)
	endpoint, err := clientEndpoint(etcd)
	if err != nil {
		return fail(err)
	}
	_ = level.Info(logger).Log("msg", "etcd serving", "client_addr", endpoint, "data_dir", dir, "temporary", *dataDir == "")

	client, err := sd.NewClientTLS([]string{endpoint}, clientTLS(id))
	if err != nil {
		return fail(fmt.Errorf("etcd client: %w", err))
	}
	closers = append(closers, client)

	ready := health.New()
	ready.AddCheck("etcd", etcdCheck(client, readTimeout))
	httpL, err := lifecycle.Listen(*httpAddr)
	if err != nil {
		return fail(err)
	}
	tracerCfg, err := tracing.ConfigFromEnv("registry", httpL.Addr().String())
	if err != nil {
		return fail(err)
	}
	tracer, closeTracer, err := tracing.New(tracerCfg)
	if err != nil {
		return fail(err)
	}
	closers = append(closers, closeTracer)
	// Like every kitshop HTTP port: a span per request, continuing W3C or
	// B3 traces, and a traceparent on every response.
	viewHandler, err := newHandler(client, ready, metrics.NewRegistry(), logger, readTimeout)
	if err != nil {
		return fail(err)
	}
	handler := tracing.HTTPServer(tracer, viewHandler)
	app := &lifecycle.App{
		Name:         "registry",
		Logger:       logger,
		Readiness:    ready,
		HTTP:         httpx.NewServer(*httpAddr, handler),
		HTTPListener: viewListener(httpL, id),
		Jobs:         []func(context.Context) error{watchEtcd(etcd)},
		// Closed last first: the client, then etcd, then its data.
		Closers: closers,
	}
	return app.Run(ctx)
}
