package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/pg/pgtest"
	ordersv1 "github.com/kitshop/kitshop/pb/orders/v1"
)

// BenchmarkCheckout measures confirmed orders per second through orders'
// gRPC (the orders client, as the gateway calls it), with every service
// one process on the same Postgres, and reports p50 and p99 latency next
// to `pgbench -N` on that Postgres, measured in the same run. It runs a
// fixed load for checkoutLoad whatever b.N is (one round is longer than
// any -benchtime), because starting the platform per round would
// dominate.
func BenchmarkCheckout(b *testing.B) {
	p := launch(b, platformConfig{instances: 1, orders: 1})
	s := openShopStock(b, p, 20, 1_000_000)

	run := func(d time.Duration, workers int) (confirmed int, lat []time.Duration, failures int) {
		var mu sync.Mutex
		var wg sync.WaitGroup
		stop := time.Now().Add(d)
		for w := range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; time.Now().Before(stop); i++ {
					req := orderRequest(s.productID[(w+i)%len(s.productID)], 1, cardApproved)
					start := time.Now()
					resp, err := s.orders.CreateOrder(withDeadline(s.customer, 30*time.Second), req)
					took := time.Since(start)
					mu.Lock()
					if err == nil && resp.GetOrder().GetStatus() == ordersv1.OrderStatus_ORDER_STATUS_CONFIRMED {
						confirmed++
						lat = append(lat, took)
					} else {
						failures++
					}
					mu.Unlock()
				}
			}()
		}
		wg.Wait()
		return confirmed, lat, failures
	}
	workers := 32
	if n, err := strconv.Atoi(os.Getenv("KITSHOP_BENCH_WORKERS")); err == nil && n > 0 {
		workers = n
	}
	run(3*time.Second, workers) // warm-up: connections, caches, JIT of plans
	b.ResetTimer()
	confirmed, lat, failures := run(checkoutLoad, workers)
	b.StopTimer()
	if confirmed == 0 {
		b.Fatalf("no order confirmed (%d failures)", failures)
	}
	slices.Sort(lat)
	rate := float64(confirmed) / checkoutLoad.Seconds()
	tps := pgbenchTPS(b)
	b.ReportMetric(rate, "orders/s")
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(tps, "pgbench-N-tps")
	b.ReportMetric(float64(failures), "failed")
	target := min(400, tps/10)
	b.Logf("%.0f confirmed orders/s (p50 %v, p99 %v, %d failed) with %d workers; pgbench -N %.0f tps; target %.0f orders/s: %s",
		rate, lat[len(lat)/2], lat[len(lat)*99/100], failures, workers, tps, target, map[bool]string{true: "met", false: "NOT met"}[rate >= target])
}

// checkoutLoad is how long BenchmarkCheckout measures.
const checkoutLoad = 20 * time.Second

var tpsLine = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbenchTPS runs pgbench's simple-update workload (-N) on a fresh
// database of the same server, as many clients as the checkout had
// workers' worth of connections, for 15 s.
func pgbenchTPS(b *testing.B) float64 {
	b.Helper()
	url := pgtest.URL(b)
	if out, err := exec.Command("pgbench", "-i", "-q", "-s", "10", url).CombinedOutput(); err != nil {
		b.Fatalf("pgbench -i: %v\n%s", err, out)
	}
	out, err := exec.Command("pgbench", "-N", "-c", "16", "-j", "2", "-T", "15", url).CombinedOutput()
	if err != nil {
		b.Fatalf("pgbench -N: %v\n%s", err, out)
	}
	m := tpsLine.FindSubmatch(out)
	if m == nil {
		b.Fatalf("no tps in pgbench's output:\n%s", out)
	}
	tps, err := strconv.ParseFloat(string(m[1]), 64)
	if err != nil {
		b.Fatal(fmt.Errorf("pgbench tps %q: %w", m[1], err))
	}
	return tps
}
