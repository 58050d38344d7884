package sd_test

import (
	"context"
	"encoding/json"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/sd"
)

// newClient is the production client (sd.NewClient) for srv, closed at the
// end of the test.
func newClient(t *testing.T, srv *etcdtest.Server) *clientv3.Client {
	t.Helper()
	c, err := sd.NewClient(srv.Endpoints())
	if err != nil {
		t.Fatalf("sd.NewClient: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// getKey returns the key's value and lease, or ok=false when absent.
func getKey(t *testing.T, c *clientv3.Client, key string) (value string, lease clientv3.LeaseID, ok bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Get(ctx, key)
	if err != nil {
		t.Fatalf("get %s: %v", key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", 0, false
	}
	return string(resp.Kvs[0].Value), clientv3.LeaseID(resp.Kvs[0].Lease), true
}

func putInstance(t *testing.T, c *clientv3.Client, inst sd.Instance) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	v, err := json.Marshal(inst)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Put(ctx, sd.Key(inst.Name, inst.ID), string(v)); err != nil {
		t.Fatalf("put: %v", err)
	}
	return string(v)
}

func deleteKey(t *testing.T, c *clientv3.Client, key string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Delete(ctx, key); err != nil {
		t.Fatalf("delete %s: %v", key, err)
	}
}

// runRegistrar runs r in the background; the returned function waits for
// Run to return and reports its error.
func runRegistrar(t *testing.T, ctx context.Context, r *sd.Registrar) func() error {
	t.Helper()
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	return func() error {
		t.Helper()
		select {
		case err := <-errc:
			return err
		case <-time.After(10 * time.Second):
			t.Fatal("Registrar.Run did not return")
			return nil
		}
	}
}

func waitRegistered(t *testing.T, r *sd.Registrar, timeout time.Duration) {
	t.Helper()
	select {
	case <-r.Registered():
	case <-time.After(timeout):
		t.Fatalf("instance not registered within %v", timeout)
	}
}

func register(t *testing.T, srv *etcdtest.Server, id, grpcAddr string) {
	t.Helper()
	putInstance(t, srv.Client(t), sd.Instance{ID: id, Name: "users", GRPCAddr: grpcAddr})
}

// dialer records every connection a pool opens.
type dialer struct {
	mu    sync.Mutex
	conns map[string][]*grpc.ClientConn
}

func (d *dialer) dial(addr string) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.conns == nil {
		d.conns = map[string][]*grpc.ClientConn{}
	}
	d.conns[addr] = append(d.conns[addr], conn)
	return conn, nil
}

func (d *dialer) dialed(addr string) []*grpc.ClientConn {
	d.mu.Lock()
	defer d.mu.Unlock()
	return append([]*grpc.ClientConn(nil), d.conns[addr]...)
}

// recordingBackend is a Backend of the "users" instances registered in c,
// whose connections d records; it is closed at the end of the test
// (closing it earlier is fine).
func recordingBackend(t *testing.T, c *clientv3.Client, d *dialer) *sd.Backend[healthpb.HealthClient] {
	t.Helper()
	b, err := sd.NewBackend(sd.BackendConfig{Service: "users", Etcd: c, Dial: d.dial}, healthpb.NewHealthClient)
	if err != nil {
		t.Fatalf("NewBackend: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}
