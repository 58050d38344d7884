package kittest

import (
	"bytes"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/kitshop/kitshop/kit/tlsx"
)

// The harness of the "kitshop vs bare grpc-go" benchmarks, shared so each
// service's benchmark states only what it calls.

// BareServer serves what register adds to a plain grpc.NewServer (under
// mTLS with files' identity when they are set) until the test ends, and
// returns its address: the floor any implementation pays for gRPC.
func BareServer(tb testing.TB, files tlsx.Files, register func(*grpc.Server)) string {
	tb.Helper()
	var opts []grpc.ServerOption
	if files.Enabled() {
		id, err := tlsx.Load(files)
		if err != nil {
			tb.Fatal(err)
		}
		opts = append(opts, grpc.Creds(credentials.NewTLS(id.ServerConfig())))
	}
	srv := grpc.NewServer(opts...)
	register(srv)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	go func() { _ = srv.Serve(lis) }()
	tb.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// PlainConn is a plain grpc.NewClient connection to addr, closed when the
// test ends; under mTLS (files set) it presents files' identity and
// expects the server to be peer.
func PlainConn(tb testing.TB, addr string, files tlsx.Files, peer string) *grpc.ClientConn {
	tb.Helper()
	creds := insecure.NewCredentials()
	if files.Enabled() {
		id, err := tlsx.Load(files)
		if err != nil {
			tb.Fatal(err)
		}
		creds = credentials.NewTLS(id.ClientConfig(peer))
	}
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(creds))
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = conn.Close() })
	return conn
}

// BenchCalls makes b.N calls from 32 goroutines after one warm-up call
// (which also opens the connection). Besides ns/op and allocations it
// reports req/s and cpu-ns/op, the process's CPU time per call (client
// and server together): on a shared machine that figure moves less with
// the neighbours' load than wall time does.
func BenchCalls(b *testing.B, call func() error) {
	b.Helper()
	if err := call(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	// 16 callers per core keep both cores busy, so ns/op measures the
	// server's throughput rather than one call's latency.
	b.SetParallelism(16)
	b.ResetTimer()
	start, cpu := time.Now(), processCPU()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := call(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed, used := time.Since(start), processCPU()-cpu
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "req/s")
	if cpu > 0 {
		b.ReportMetric(float64(used)/float64(b.N), "cpu-ns/op")
	}
}

// processCPU is the CPU time (user and system) this process has used,
// from /proc/self/stat, or 0 where that is unavailable.
func processCPU() time.Duration {
	stat, err := os.ReadFile("/proc/self/stat")
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) start at
	// "state"; utime and stime are the 12th and 13th, in clock ticks
	// (USER_HZ, 100 on every Linux ABI).
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(utime+stime) * (time.Second / 100)
}
