package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"time"

	"github.com/go-kit/log"
	"github.com/go-kit/log/level"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap/zapcore"

	"github.com/kitshop/kitshop/kit/lifecycle"
	"github.com/kitshop/kitshop/kit/tlsx"
)

// etcdStartTimeout bounds the wait for the embedded etcd to elect itself
// and serve, which takes well under a second on a healthy machine.
const etcdStartTimeout = 30 * time.Second

// etcdOptions are the embedded etcd's settings.
type etcdOptions struct {
	// ClientAddr is where services reach etcd (host:port, ":0" allowed).
	ClientAddr string
	// PeerAddr is the raft peer listener; a single node never uses it,
	// but etcd requires one.
	PeerAddr string
	// DataDir holds etcd's data.
	DataDir string
	// LogLevel is the least severe etcd message that is logged.
	LogLevel zapcore.Level
	// TLS, when set, makes the client and peer listeners speak TLS and
	// require a certificate signed by TLS.CA (see secureClients).
	TLS tlsx.Files
}

// startEtcd starts a single-node etcd and waits until it serves. The
// closer stops it.
func startEtcd(opts etcdOptions, logger log.Logger) (*embed.Etcd, io.Closer, error) {
	cfg := embed.NewConfig()
	cfg.Name = "kitshop-registry"
	cfg.Dir = opts.DataDir
	clientScheme, peerScheme := "http", "http"
	if opts.TLS.Enabled() {
		clientScheme, peerScheme = "https", "https"
		secureClients(cfg, opts.TLS)
		securePeers(cfg, opts.TLS)
	}
	listenClient, advertiseClient, err := etcdURLs(clientScheme, opts.ClientAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("etcd client address: %w", err)
	}
	listenPeer, advertisePeer, err := etcdURLs(peerScheme, opts.PeerAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("etcd peer address: %w", err)
	}
	cfg.ListenClientUrls = []url.URL{listenClient}
	cfg.AdvertiseClientUrls = []url.URL{advertiseClient}
	cfg.ListenPeerUrls = []url.URL{listenPeer}
	cfg.AdvertisePeerUrls = []url.URL{advertisePeer}
	cfg.InitialCluster = cfg.Name + "=" + advertisePeer.String()
	// Every registration and re-registration writes a revision; without
	// compaction a long-running registry would grow without bound.
	cfg.AutoCompactionMode = embed.CompactorModePeriodic
	cfg.AutoCompactionRetention = "1h"
	zl, mute := newZapLogger(logger, opts.LogLevel)
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zl)

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, nil, err
	}
	// Stopping makes every etcd listener log its closing as an error;
	// that is the expected end, not news, so etcd is muted first.
	closer := lifecycle.CloserFunc(func() error {
		mute()
		e.Close()
		_ = level.Info(logger).Log("msg", "etcd stopped")
		return nil
	})
	select {
	case <-e.Server.ReadyNotify():
		return e, closer, nil
	case err := <-e.Err():
		e.Close()
		return nil, nil, fmt.Errorf("embedded etcd failed while starting: %w", err)
	case <-time.After(etcdStartTimeout):
		e.Close()
		return nil, nil, fmt.Errorf("embedded etcd not ready after %v", etcdStartTimeout)
	}
}

// etcdURLs turns host:port into etcd's listen URL and the URL to
// advertise, with scheme (https makes etcd speak TLS): an unspecified host (":2379", "0.0.0.0:2379") listens
// everywhere and advertises loopback, which is right on a developer
// machine; clients use their configured endpoints, not this.
func etcdURLs(scheme, addr string) (listen, advertise url.URL, err error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return url.URL{}, url.URL{}, err
	}
	listen = url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}
	if ip := net.ParseIP(host); host == "" || (ip != nil && ip.IsUnspecified()) {
		host = "127.0.0.1"
	}
	advertise = url.URL{Scheme: scheme, Host: net.JoinHostPort(host, port)}
	return listen, advertise, nil
}

// clientEndpoint is the address this process dials to reach its own etcd:
// the real listening address (so ":0" works), loopback when etcd listens
// on every interface.
func clientEndpoint(e *embed.Etcd) (string, error) {
	if len(e.Clients) == 0 {
		return "", errors.New("embedded etcd has no client listener")
	}
	addr, ok := e.Clients[0].Addr().(*net.TCPAddr)
	if !ok {
		return e.Clients[0].Addr().String(), nil
	}
	if addr.IP.IsUnspecified() {
		return net.JoinHostPort("127.0.0.1", fmt.Sprint(addr.Port)), nil
	}
	return addr.String(), nil
}

// watchEtcd is a lifecycle job that fails when etcd stops on its own, so
// the registry exits instead of serving a view of a dead store.
func watchEtcd(e *embed.Etcd) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		select {
		case err := <-e.Err():
			return fmt.Errorf("embedded etcd failed: %w", err)
		case <-e.Server.StopNotify():
			return errors.New("embedded etcd stopped")
		case <-ctx.Done():
			return nil
		}
	}
}

// dataDirectory returns dir, or when dir is empty a fresh temporary
// directory, with a closer that removes a temporary directory (and leaves
// a given one alone).
func dataDirectory(dir string, logger log.Logger) (string, io.Closer, error) {
	if dir != "" {
		return dir, lifecycle.CloserFunc(func() error { return nil }), nil
	}
	tmp, err := os.MkdirTemp("", "kitshop-registry-*")
	if err != nil {
		return "", nil, fmt.Errorf("temporary data dir: %w", err)
	}
	return tmp, lifecycle.CloserFunc(func() error {
		_ = level.Info(logger).Log("msg", "removing temporary etcd data", "data_dir", tmp)
		return os.RemoveAll(tmp)
	}), nil
}
