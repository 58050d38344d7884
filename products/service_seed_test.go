package main

import (
	"context"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/auth/authtest"

	"github.com/go-kit/log"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// catalog is every product in svc, in id order.
func catalog(t testing.TB, svc Service) []Product {
	t.Helper()
	var all []Product
	err := svc.ListProducts(context.Background(), 0, func(b []Product) error { all = append(all, b...); return nil })
	if err != nil {
		t.Fatal(err)
	}
	return all
}

func seed(t testing.TB, svc Service) SeedResult {
	t.Helper()
	res, err := SeedDemo(context.Background(), svc)
	if err != nil {
		t.Fatalf("seed: %v (after %+v)", err, res)
	}
	return res
}

// The demo catalog is what the README's session needs: several
// categories, real text that full-text search finds, USD prices, stock
// for a few orders; and it is there once, however often it is seeded.
func TestSeedDemoFillsAnEmptyCatalogOnce(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		svc := newFixture(t, newStore(t), Options{}).svc
		if res := seed(t, svc); res.Created != len(demoProducts) || res.Existing != 0 || res.Skipped {
			t.Fatalf("first seed: %+v, want %d created", res, len(demoProducts))
		}
		all := catalog(t, svc)
		if len(all) != len(demoProducts) {
			t.Fatalf("%d products after seeding, want %d", len(all), len(demoProducts))
		}
		categories := map[string]bool{}
		for _, p := range all {
			categories[p.Category] = true
			if p.Currency != "USD" || p.PriceCents <= 0 || p.Stock < 50 || p.Stock > 500 || !p.Active ||
				p.Reserved != 0 || len(p.Description) < 40 {
				t.Errorf("demo product %+v", p)
			}
		}
		if len(categories) < 4 {
			t.Errorf("categories %v, want at least 4", categories)
		}

		page, err := svc.SearchProducts(context.Background(), SearchRequest{Query: "coffee"})
		if err != nil {
			t.Fatal(err)
		}
		if page.TotalSize < 3 {
			t.Errorf("q=coffee finds %d demo products, want several", page.TotalSize)
		}
		page, err = svc.SearchProducts(context.Background(), SearchRequest{Category: "garden"})
		if err != nil || page.TotalSize != 3 {
			t.Errorf("category=garden: %d, %v", page.TotalSize, err)
		}

		// A second start changes nothing and is no error.
		if res := seed(t, svc); res.Created != 0 || res.Existing != len(demoProducts) || res.Skipped {
			t.Errorf("second seed: %+v, want everything already there", res)
		}
		if n := len(catalog(t, svc)); n != len(demoProducts) {
			t.Errorf("%d products after a second seed", n)
		}
	})
}

// listBarrier holds every instance's look at the catalog until all have
// looked, so all of them find it empty and race to create every product:
// the worst case of instances starting together, made certain.
type listBarrier struct {
	Store
	looked *sync.WaitGroup
}

func (b listBarrier) ListProducts(ctx context.Context, afterID string, limit int) ([]Product, error) {
	ps, err := b.Store.ListProducts(ctx, afterID, limit)
	b.looked.Done()
	b.looked.Wait()
	return ps, err
}

// Instances starting together against one database all seed; SKU
// uniqueness makes exactly one of them create each product, and none
// fails.
func TestSeedDemoConcurrentInstances(t *testing.T) {
	const instances = 4
	var looked sync.WaitGroup
	instance := func(t *testing.T, s Store) Service {
		return newFixture(t, listBarrier{s, &looked}, Options{}).svc
	}
	// check seeds through services at once, then reads the catalog from
	// the shared store without the barrier.
	check := func(t *testing.T, shared Store, services []Service) {
		looked.Add(len(services))
		var wg sync.WaitGroup
		results := make([]SeedResult, len(services))
		errs := make([]error, len(services))
		start := make(chan struct{})
		for i, svc := range services {
			wg.Go(func() {
				<-start
				results[i], errs[i] = SeedDemo(context.Background(), svc)
			})
		}
		close(start)
		wg.Wait()
		created, existing := 0, 0
		for i := range services {
			if errs[i] != nil {
				t.Errorf("instance %d: %v", i, errs[i])
			}
			created += results[i].Created
			existing += results[i].Existing
		}
		if created != len(demoProducts) || existing != (len(services)-1)*len(demoProducts) {
			t.Errorf("instances created %d products in all and found %d taken (%+v), want %d and %d",
				created, existing, results, len(demoProducts), (len(services)-1)*len(demoProducts))
		}
		all := catalog(t, newFixture(t, shared, Options{}).svc)
		skus := make([]string, 0, len(all))
		for _, p := range all {
			skus = append(skus, p.SKU)
		}
		slices.Sort(skus)
		if len(skus) != len(demoProducts) || len(slices.Compact(slices.Clone(skus))) != len(skus) {
			t.Errorf("catalog after concurrent seeds: %v", skus)
		}
	}
	t.Run("memory", func(t *testing.T) {
		store := newMemoryStore()
		var services []Service
		for range instances {
			services = append(services, instance(t, store))
		}
		check(t, store, services)
	})
	t.Run("postgres", func(t *testing.T) {
		url := pgtest.URL(t)
		var services []Service
		for range instances {
			// One pool each, as separate processes would have.
			services = append(services, instance(t, openTestPostgres(t, url)))
		}
		check(t, openTestPostgres(t, url), services)
	})
}

// Demo data never lands in a real catalog; a seed cut short is completed.
func TestSeedDemoOnlyIntoAnEmptyOrDemoCatalog(t *testing.T) {
	eachStore(t, func(t *testing.T, newStore func(*testing.T) Store) {
		f := newFixture(t, newStore(t), Options{})
		f.create(t, "REAL-1", 5)
		if res := seed(t, f.svc); !res.Skipped || res.Created != 0 {
			t.Errorf("seed into a real catalog: %+v", res)
		}
		if n := len(catalog(t, f.svc)); n != 1 {
			t.Errorf("%d products, want the real one only", n)
		}

		partial := newFixture(t, newStore(t), Options{})
		for _, p := range demoProducts[:3] {
			p.Currency = demoCurrency
			if _, err := partial.svc.CreateProduct(context.Background(), p); err != nil {
				t.Fatal(err)
			}
		}
		if res := seed(t, partial.svc); res.Skipped || res.Created != len(demoProducts)-3 || res.Existing != 3 {
			t.Errorf("seed after a partial one: %+v", res)
		}
		if n := len(catalog(t, partial.svc)); n != len(demoProducts) {
			t.Errorf("%d products, want %d", n, len(demoProducts))
		}
	})
}

// stallingStore never answers CreateProduct before its context ends: a
// database that hangs during the seed.
type stallingStore struct{ Store }

func (stallingStore) CreateProduct(ctx context.Context, _ Product) (Product, error) {
	<-ctx.Done()
	return Product{}, ctx.Err()
}

// failingStore fails every CreateProduct: a database that went away.
type failingStore struct{ Store }

var errDown = errors.New("connection refused")

func (failingStore) CreateProduct(context.Context, Product) (Product, error) {
	return Product{}, errDown
}

// At start-up the seed logs what it did, is bounded by the start-up
// timeout, and a failure stops the process with its cause.
func TestSeedDemoAtStart(t *testing.T) {
	var logs kittest.LogBuffer
	logger := log.NewJSONLogger(&logs)
	svc := newFixture(t, newMemoryStore(), Options{}).svc
	if err := seedDemoAtStart(context.Background(), svc, time.Second, logger); err != nil {
		t.Fatal(err)
	}
	line := logs.Find(t, "msg", "demo products seeded")
	if line == nil || line["created"] != float64(len(demoProducts)) {
		t.Errorf("log: %s", logs.String())
	}

	stalled := newFixture(t, stallingStore{newMemoryStore()}, Options{}).svc
	began := time.Now()
	err := seedDemoAtStart(context.Background(), stalled, 100*time.Millisecond, logger)
	if err == nil || !strings.Contains(err.Error(), "KITSHOP_STARTUP_TIMEOUT") || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("stalled seed: %v", err)
	}
	if d := time.Since(began); d > 5*time.Second {
		t.Errorf("stalled seed returned after %v", d)
	}

	failing := newFixture(t, failingStore{newMemoryStore()}, Options{}).svc
	if err := seedDemoAtStart(context.Background(), failing, time.Second, logger); !errors.Is(err, errDown) {
		t.Errorf("failing seed: %v", err)
	}
}

// KITSHOP_PRODUCTS_SEED_DEMO=1 (what make run sets) seeds the process's
// catalog before it turns ready; without it the catalog starts empty.
func TestRunSeedsDemoProductsWhenAsked(t *testing.T) {
	keyFile := writePublicKey(t, authtest.NewIssuer(t))
	for _, seedEnv := range []string{"1", ""} {
		t.Run("KITSHOP_PRODUCTS_SEED_DEMO="+seedEnv, func(t *testing.T) {
			t.Setenv("KITSHOP_PRODUCTS_SEED_DEMO", seedEnv)
			httpAddr, grpcAddr := kittest.FreeAddr(t), kittest.FreeAddr(t)
			ctx, stop := context.WithCancel(context.Background())
			done := make(chan error, 1)
			go func() {
				done <- run(ctx, []string{"-http-addr", httpAddr, "-grpc-addr", grpcAddr, "-etcd-endpoints", "",
					"-database-url", "", "-jwt-public-key-file", keyFile, "-log-level", "warn"})
			}()
			defer func() {
				stop()
				select {
				case err := <-done:
					if err != nil {
						t.Errorf("run: %v", err)
					}
				case <-time.After(30 * time.Second):
					t.Error("run did not return after cancel")
				}
			}()
			base := "http://" + httpAddr
			kittest.WaitFor(t, 30*time.Second, "products ready", func() bool {
				resp, err := http.Get(base + "/health/ready")
				if err != nil {
					return false
				}
				resp.Body.Close()
				return resp.StatusCode == http.StatusOK
			})
			resp, err := http.Get(base + "/api/v1/products?q=coffee")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var page struct {
				TotalSize int64 `json:"total_size"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&page); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("search: %d %v", resp.StatusCode, err)
			}
			if seeded := page.TotalSize > 0; seeded != (seedEnv == "1") {
				t.Errorf("q=coffee finds %d products with KITSHOP_PRODUCTS_SEED_DEMO=%q", page.TotalSize, seedEnv)
			}
		})
	}
}

func writePublicKey(t *testing.T, iss *authtest.Issuer) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(iss.Key.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyFile := filepath.Join(t.TempDir(), "jwt.pub.pem")
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return keyFile
}
