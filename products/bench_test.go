package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/google/uuid"

	"github.com/kitshop/kitshop/kit/grpcx"
	"github.com/kitshop/kitshop/kit/logx"
	"github.com/kitshop/kitshop/kit/metrics"
	"github.com/kitshop/kitshop/kit/mw"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
	"github.com/kitshop/kitshop/kit/tracing"
	productsv1 "github.com/kitshop/kitshop/pb/products/v1"
)

// Benchmarks run with `make bench` (go test -run '^$' -bench . ./...).
// The Postgres ones use the pgtest cluster, which is tuned for speed over
// durability (fsync off), so they measure the service and its SQL, not the
// disk.

// benchParallelism is RunParallel's goroutines per GOMAXPROCS; the pgbench
// comparison uses as many clients.
const benchParallelism = 4

const benchProducts = 100

// newBenchStore opens a Postgres store with benchProducts products named
// BENCH-1..BENCH-n, each with stock enough for any benchmark run.
func newBenchStore(b *testing.B, dbURL string) (*postgresStore, []string) {
	b.Helper()
	s := openTestPostgres(b, dbURL)
	ctx := context.Background()
	if _, err := s.db.ExecContext(ctx, `INSERT INTO products
			(id, sku, name, description, category, price_cents, currency, stock, created_at, updated_at)
		SELECT gen_random_uuid(), 'BENCH-' || g, 'Bench ' || g, '', 'bench', 100, 'USD', $2, now(), now()
		FROM generate_series(1, $1) AS g`, benchProducts, MaxStock); err != nil {
		b.Fatal(err)
	}
	ps, err := s.ListProducts(ctx, "", benchProducts)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, len(ps))
	for i, p := range ps {
		ids[i] = p.ID
	}
	return s, ids
}

// BenchmarkReserveInventory measures reservations per second through the
// service against real Postgres: one item from 100 products, three
// distinct items, and one item of a single hot product (every reservation
// queues on the same row lock).
func BenchmarkReserveInventory(b *testing.B) {
	for _, bc := range []struct {
		name  string
		items int
		hot   bool
	}{{"single-item", 1, false}, {"three-items", 3, false}, {"single-item-hot", 1, true}} {
		b.Run(bc.name, func(b *testing.B) {
			store, ids := newBenchStore(b, pgtest.URL(b))
			svc := NewService(store, Options{})
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			start := time.Now()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					req := ReserveRequest{ReservationID: uuid.NewString()}
					for _, i := range rand.Perm(len(ids))[:bc.items] {
						if bc.hot {
							i = 0
						}
						req.Items = append(req.Items, StockItem{ProductID: ids[i], Quantity: 1})
					}
					if _, err := svc.ReserveInventory(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "reservations/s")
		})
	}
}

// BenchmarkGetProductGRPC measures GetProduct over a real connection through
// the whole chain: client interceptors, server interceptors, auth, tracing
// (spans made, not reported), JSON logging, RED metrics, service, store,
// on the memory store and on Postgres. BenchmarkGetProduct
// (bench_client_test.go) compares the memory case, as a products process
// and products/client build it, with bare grpc-go.
func BenchmarkGetProductGRPC(b *testing.B) {
	for _, bc := range []struct {
		name  string
		store func(b *testing.B) Store
	}{
		{"memory", func(*testing.B) Store { return newMemoryStore() }},
		{"postgres", func(b *testing.B) Store { return openTestPostgres(b, pgtest.URL(b)) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			f := newFixture(b, bc.store(b), Options{})
			p := f.create(b, "GET-1", 1)
			tracer, closer, err := tracing.New(tracing.Config{Service: "products"})
			if err != nil {
				b.Fatal(err)
			}
			defer closer.Close()
			red, err := metrics.NewRED(metrics.NewRegistry(), "products")
			if err != nil {
				b.Fatal(err)
			}
			logger := logx.New(io.Discard, "products")
			chain := mw.Chain{Service: "products", Logger: logger, Tracer: tracer, RED: red}
			addr := serveGRPC(b, f, authtest.NewIssuer(b), chain,
				grpcx.ServerConfig{Service: "products", Logger: logger, Tracer: tracer, RED: red})
			conn, err := grpcx.Dial(addr, grpcx.ClientConfig{Tracer: tracer})
			if err != nil {
				b.Fatal(err)
			}
			defer conn.Close()
			client := productsv1.NewProductsServiceClient(conn)
			req := &productsv1.GetProductRequest{Id: p.ID}
			if _, err := client.GetProduct(context.Background(), req); err != nil {
				b.Fatal(err)
			}
			b.SetParallelism(benchParallelism)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if _, err := client.GetProduct(context.Background(), req); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkListProducts100k streams a 100k-product catalog from Postgres
// over gRPC and reports the heap's peak growth while streaming, which stays
// flat because the server holds one batch at a time, and the process's
// peak RSS (server and client together; Postgres is another process)
// with the kernel's high-water mark reset just before streaming.
func BenchmarkListProducts100k(b *testing.B) {
	store := openTestPostgres(b, pgtest.URL(b))
	seedBulk(b, store, bulkRows)
	g := newGRPCFixture(b, newFixture(b, store, Options{}))
	baseline := sampleHeap().Stop()
	resetPeakRSS(b)
	h := sampleHeap()
	b.ResetTimer()
	for b.Loop() {
		if n := streamAll(b, g.client, 1000); n != bulkRows {
			b.Fatalf("streamed %d products", n)
		}
	}
	b.StopTimer()
	b.ReportMetric(h.Stop()-baseline, "peak-heap-MiB")
	b.ReportMetric(peakRSS(b), "peak-rss-MiB")
	b.ReportMetric(float64(bulkRows)*float64(b.N)/b.Elapsed().Seconds(), "products/s")
}

// resetPeakRSS restarts the kernel's peak-RSS count (Linux >= 4.0).
func resetPeakRSS(b *testing.B) {
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		b.Fatalf("reset peak RSS: %v", err)
	}
}

// peakRSS is VmHWM from /proc/self/status, in MiB.
func peakRSS(b *testing.B) float64 {
	raw, err := os.ReadFile("/proc/self/status")
	if err != nil {
		b.Fatal(err)
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// BenchmarkPgbench is the database's own ceiling next to
// BenchmarkReserveInventory: pgbench (when on PATH) with as many clients
// as the Go benchmark's goroutines, against the same cluster, running
//   - reserve-sql: the SQL of one single-item reservation (the same
//     statements and round trips as the Postgres store, trigger included);
//   - tpcb-N: pgbench's built-in simple-update script (pgbench -N).
//
// It reports pgbench's tps; the gap to reservations/s is what Go,
// database/sql and the service add. To run it by hand:
//
//	pgbench -n -c 8 -j 2 -T 5 -f reserve.sql 'postgres://...?options=-csearch_path%3Dproducts'
//	pgbench -i -s 1 -q URL && pgbench -N -c 8 -j 2 -T 5 URL
func BenchmarkPgbench(b *testing.B) {
	if _, err := pgbenchPath(); err != nil {
		b.Fatal(err)
	}
	clients := strconv.Itoa(benchParallelism * runtime.GOMAXPROCS(0))
	jobs := strconv.Itoa(runtime.GOMAXPROCS(0))
	b.Run("reserve-sql", func(b *testing.B) {
		dbURL := pgtest.URL(b)
		newBenchStore(b, dbURL)
		script := filepath.Join(b.TempDir(), "reserve.sql")
		if err := os.WriteFile(script, []byte(fmt.Sprintf(reserveScript, benchProducts)), 0o644); err != nil {
			b.Fatal(err)
		}
		tps := pgbench(b, "-n", "-c", clients, "-j", jobs, "-T", "5", "-f", script,
			dbURL+"&options="+url.QueryEscape("-csearch_path=products"))
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(tps, "tps")
	})
	b.Run("tpcb-N", func(b *testing.B) {
		dbURL := pgtest.URL(b)
		pgbench(b, "-i", "-s", "1", "-q", dbURL)
		tps := pgbench(b, "-N", "-c", clients, "-j", jobs, "-T", "5", dbURL)
		b.ReportMetric(0, "ns/op")
		b.ReportMetric(tps, "tps")
	})
}

// reserveScript is one single-item reservation as the Postgres store runs
// it: insert the reservation, lock the product, insert the item, reserve.
// %d is the number of products.
const reserveScript = `\set n random(1, %d)
\set a random(1, 9223372036854775806)
BEGIN;
INSERT INTO reservations (id, idempotency_key, status, expires_at, created_at, updated_at)
  VALUES (md5(:a || '-' || :client_id)::uuid, md5(:a || '-' || :client_id), 'RESERVED', now() + interval '15 minutes', now(), now())
  ON CONFLICT DO NOTHING;
SELECT id, stock, reserved, active, price_cents, currency FROM products WHERE sku = 'BENCH-' || :n ORDER BY id FOR UPDATE;
INSERT INTO reservation_items (reservation_id, product_id, quantity, unit_price_cents, currency)
  SELECT md5(:a || '-' || :client_id)::uuid, id, 1, price_cents, currency FROM products WHERE sku = 'BENCH-' || :n;
UPDATE products SET reserved = reserved + 1, version = version + 1, updated_at = now() WHERE sku = 'BENCH-' || :n;
END;
`

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+)`)

// pgbench runs pgbench and returns the tps it reports (0 for -i).
func pgbench(b *testing.B, args ...string) float64 {
	b.Helper()
	bin, err := pgbenchPath()
	if err != nil {
		b.Fatal(err)
	}
	out, err := exec.Command(bin, args...).CombinedOutput()
	if err != nil {
		b.Fatalf("pgbench %s: %v\n%s", strings.Join(args[:len(args)-1], " "), err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		return 0
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		b.Fatalf("pgbench tps %q: %v", m[1], err)
	}
	return tps
}

// pgbenchPath finds pgbench on PATH or beside the Debian server binaries,
// which ops/install-deps.sh installs.
func pgbenchPath() (string, error) {
	if p, err := exec.LookPath("pgbench"); err == nil {
		return p, nil
	}
	matches, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pgbench")
	if len(matches) > 0 {
		return matches[len(matches)-1], nil
	}
	return "", errors.New("pgbench not found on PATH or in /usr/lib/postgresql/*/bin: run ops/install-deps.sh")
}
