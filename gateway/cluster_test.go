package main

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-kit/log"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/kitshop/kitshop/kit/etcdtest"
	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/sd"
)

func putGateway(t *testing.T, c *clientv3.Client, id string) {
	t.Helper()
	v, err := json.Marshal(sd.Instance{ID: id, Name: gatewayService, HTTPAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, sd.Key(gatewayService, id), string(v)); err != nil {
		t.Fatal(err)
	}
}

// The share follows the registry: two gateways halve each one's rate,
// one leaving gives the survivor the whole, and none still counts the
// gateway itself.
func TestRateShareFollowsLiveGateways(t *testing.T) {
	kittest.CheckGoroutines(t)
	srv := etcdtest.Start(t)
	c := srv.Client(t)
	var share atomic.Int64
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- watchPeers(ctx, c, log.NewNopLogger(), func(n int) { share.Store(int64(n)) }) }()

	kittest.WaitFor(t, 5*time.Second, "share with nobody registered", func() bool { return share.Load() == 1 })
	putGateway(t, c, "a")
	putGateway(t, c, "b")
	kittest.WaitFor(t, 5*time.Second, "share of two", func() bool { return share.Load() == 2 })
	ctxDel, cancelDel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelDel()
	if _, err := c.Delete(ctxDel, sd.Key(gatewayService, "b")); err != nil {
		t.Fatal(err)
	}
	kittest.WaitFor(t, 5*time.Second, "share of one after a gateway left", func() bool { return share.Load() == 1 })

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watchPeers did not stop with its context")
	}
}
