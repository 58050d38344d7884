package sd

import (
	"crypto/tls"
	"errors"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"
)

// NewClient returns an etcd client for endpoints ("host:port" or URLs;
// blanks are ignored, so a split comma list can be passed as is).
//
// It does not wait for a connection: a service must start, and serve,
// while etcd is down, and the Registrar and Instancer catch up once etcd
// is reachable. Reconnection backoff is capped at a few seconds (gRPC's
// default grows to two minutes) so an etcd restart is noticed quickly.
// The client's own zap logging is silenced; callers log what matters.
func NewClient(endpoints []string) (*clientv3.Client, error) {
	return NewClientTLS(endpoints, nil)
}

// NewClientTLS is NewClient speaking mTLS with tlsCfg (nil: plaintext),
// so that only platform processes may register, and the registry must
// prove it is the registry.
func NewClientTLS(endpoints []string, tlsCfg *tls.Config) (*clientv3.Client, error) {
	var eps []string
	for _, e := range endpoints {
		if e = strings.TrimSpace(e); e != "" {
			eps = append(eps, e)
		}
	}
	if len(eps) == 0 {
		return nil, errors.New("sd: no etcd endpoints given")
	}
	return clientv3.New(clientv3.Config{
		Endpoints: eps,
		// Bounds the first lease keepalive (DialTimeout+1s) and etcd's
		// own internal calls; dialing itself is non-blocking.
		DialTimeout: 3 * time.Second,
		// etcd's server rejects pings more often than every 5s and pings
		// without active streams; stay within both.
		DialKeepAliveTime:    10 * time.Second,
		DialKeepAliveTimeout: 3 * time.Second,
		DialOptions: []grpc.DialOption{grpc.WithConnectParams(grpc.ConnectParams{
			Backoff: backoff.Config{
				BaseDelay:  250 * time.Millisecond,
				Multiplier: 1.6,
				Jitter:     0.2,
				MaxDelay:   3 * time.Second,
			},
			MinConnectTimeout: 3 * time.Second,
		})},
		Logger: zap.NewNop(),
		TLS:    tlsCfg,
	})
}
