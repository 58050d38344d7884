package main

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/go-kit/log"
	"go.uber.org/zap/zapcore"

	"github.com/kitshop/kitshop/kit/sd"
)

func TestEmbeddedEtcdServesAndStops(t *testing.T) {
	dir, removeDir, err := dataDirectory("", log.NewNopLogger())
	if err != nil {
		t.Fatal(err)
	}
	e, stop, err := startEtcd(etcdOptions{ClientAddr: "127.0.0.1:0", PeerAddr: "127.0.0.1:0", DataDir: dir, LogLevel: zapcore.ErrorLevel}, log.NewNopLogger())
	if err != nil {
		_ = removeDir.Close()
		t.Fatalf("startEtcd: %v", err)
	}
	endpoint, err := clientEndpoint(e)
	if err != nil {
		t.Fatal(err)
	}
	c, err := sd.NewClient([]string{endpoint})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, sd.Key("users", "a"), `{"id":"a"}`); err != nil {
		t.Fatalf("put through the embedded etcd: %v", err)
	}
	_ = c.Close()

	jobDone := make(chan error, 1)
	go func() { jobDone <- watchEtcd(e)(context.Background()) }()
	if err := stop.Close(); err != nil {
		t.Fatal(err)
	}
	// The lifecycle job notices etcd going away by itself.
	select {
	case err := <-jobDone:
		if err == nil {
			t.Fatal("watchEtcd returned nil when etcd stopped")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("watchEtcd did not notice etcd stopping")
	}
	if err := removeDir.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("temporary data dir still there: %v", err)
	}
}

func TestGivenDataDirIsKept(t *testing.T) {
	dir := t.TempDir()
	got, closer, err := dataDirectory(dir, log.NewNopLogger())
	if err != nil || got != dir {
		t.Fatalf("dataDirectory(%q) = %q, %v", dir, got, err)
	}
	if err := closer.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("a given data dir was removed: %v", err)
	}
}

func TestEtcdURLs(t *testing.T) {
	for addr, want := range map[string][2]string{
		"127.0.0.1:2379": {"http://127.0.0.1:2379", "http://127.0.0.1:2379"},
		":2379":          {"http://:2379", "http://127.0.0.1:2379"},
		"0.0.0.0:2379":   {"http://0.0.0.0:2379", "http://127.0.0.1:2379"},
	} {
		l, a, err := etcdURLs("http", addr)
		if err != nil || l.String() != want[0] || a.String() != want[1] {
			t.Errorf("etcdURLs(%q) = %s, %s, %v; want %s, %s", addr, l.String(), a.String(), err, want[0], want[1])
		}
	}
	if _, _, err := etcdURLs("http", "no-port"); err == nil {
		t.Error("etcdURLs accepted an address without a port")
	}
}
