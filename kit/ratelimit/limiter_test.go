package ratelimit

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kitshop/kitshop/kit/kittest"
)

func TestBurstThenRefusedThenRefilled(t *testing.T) {
	f := newFixture(t, Config{Tiers: map[string]Tier{Anonymous: oneASecond}})
	c := f.client(t, request("192.0.2.1:4711"))

	for i, wantRemaining := range []int{2, 1, 0} {
		d := f.Allow(c)
		if !d.Allowed || d.Remaining != wantRemaining || d.Limit != 3 || d.Tier != Anonymous {
			t.Fatalf("request %d: %+v, want allowed with %d remaining of 3", i+1, d, wantRemaining)
		}
	}
	d := f.Allow(c)
	if d.Allowed || d.Remaining != 0 || d.RetryAfter != time.Second || d.Reset != 3*time.Second {
		t.Fatalf("4th request: %+v, want refused, retry after 1s, full after 3s", d)
	}

	f.clock.Advance(999 * time.Millisecond)
	if d := f.Allow(c); d.Allowed || d.RetryAfter != time.Millisecond {
		t.Fatalf("after 999ms: %+v, want refused, retry after 1ms", d)
	}
	f.clock.Advance(time.Millisecond)
	if d := f.Allow(c); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("after 1s: %+v, want one more admitted", d)
	}
	if d := f.Allow(c); d.Allowed {
		t.Fatalf("right after the refilled token: %+v, want refused", d)
	}

	// Three seconds later the bucket is full again: three more, no more.
	f.clock.Advance(3 * time.Second)
	if got := f.allowN(c, 5); got != 3 {
		t.Fatalf("after a full refill: %d admitted, want 3", got)
	}
}

func TestDefaultAnonymousTierRefillsOneTokenEverySixSeconds(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.client(t, request("192.0.2.1:4711"))
	if got := f.allowN(c, 25); got != 20 {
		t.Fatalf("admitted %d, want the burst of 20", got)
	}
	d := f.Allow(c)
	if d.RetryAfter != 6*time.Second || d.Reset != 120*time.Second {
		t.Fatalf("refused: %+v, want retry after 6s and full after 120s", d)
	}
	f.clock.Advance(6*time.Second - time.Nanosecond)
	if f.Allow(c).Allowed {
		t.Fatal("admitted before the token was there")
	}
	f.clock.Advance(time.Nanosecond)
	if !f.Allow(c).Allowed {
		t.Fatal("refused after 6s")
	}
}

func TestClientsHaveTheirOwnBuckets(t *testing.T) {
	f := newFixture(t, Config{Tiers: map[string]Tier{Anonymous: oneASecond}})
	a := f.client(t, request("192.0.2.1:1"))
	b := f.client(t, request("192.0.2.2:1"))
	if got := f.allowN(a, 5); got != 3 {
		t.Fatalf("a: %d admitted, want 3", got)
	}
	if got := f.allowN(b, 5); got != 3 {
		t.Fatalf("b after a emptied its bucket: %d admitted, want 3", got)
	}
}

func TestIPv6ClientsAreTheirSlash64(t *testing.T) {
	f := newFixture(t, Config{Tiers: map[string]Tier{Anonymous: oneASecond}})
	// Three addresses in one /64 share one bucket ...
	for i, remote := range []string{"[2001:db8:1:2::1]:1", "[2001:db8:1:2:ffff::9]:2", "[2001:db8:1:2:aaaa:bbbb:cccc:dddd%eth0]:3"} {
		c := f.client(t, request(remote))
		if got := c.String(); got != "ip:2001:db8:1:2::/64" {
			t.Fatalf("%s is %q, want ip:2001:db8:1:2::/64", remote, got)
		}
		if !f.Allow(c).Allowed {
			t.Fatalf("request %d from the /64 refused", i+1)
		}
	}
	if f.Allow(f.client(t, request("[2001:db8:1:2::77]:1"))).Allowed {
		t.Fatal("a fourth address in the same /64 got past its burst of 3")
	}
	// ... but the next /64 is another client.
	if !f.Allow(f.client(t, request("[2001:db8:1:3::1]:1"))).Allowed {
		t.Fatal("the neighbouring /64 was refused")
	}
	// IPv4 addresses are clients one by one, mapped or not.
	if got := f.client(t, request("[::ffff:192.0.2.9]:1")).String(); got != "ip:192.0.2.9" {
		t.Fatalf("IPv4-mapped peer is %q, want ip:192.0.2.9", got)
	}
}

func TestShareDividesRateAndBurstOfNewAndExistingBuckets(t *testing.T) {
	f := newFixture(t, Config{Tiers: map[string]Tier{Anonymous: {Name: Anonymous, PerMinute: 60, Burst: 4}}})
	old := f.client(t, request("192.0.2.1:1"))
	if d := f.Allow(old); !d.Allowed || d.Remaining != 3 {
		t.Fatalf("before the share: %+v", d)
	}

	f.SetShare(2)
	if f.Share() != 2 {
		t.Fatalf("Share() = %d, want 2", f.Share())
	}
	// A new bucket holds ceil(4/2) = 2 and refills at 0.5/s.
	fresh := f.client(t, request("192.0.2.2:1"))
	d := f.Allow(fresh)
	if !d.Allowed || d.Limit != 4 || d.Remaining != 2 || d.Reset != 2*time.Second {
		t.Fatalf("new bucket under share 2: %+v, want 1 local token left shown as 2 of 4, full in 2s", d)
	}
	if got := f.allowN(fresh, 3); got != 1 {
		t.Fatalf("new bucket under share 2 admitted %d more, want 1", got)
	}
	if d := f.Allow(fresh); d.RetryAfter != 2*time.Second {
		t.Fatalf("retry after %v, want 2s at 0.5 tokens/s", d.RetryAfter)
	}
	// The existing bucket had 3 tokens; its burst is now 2.
	if got := f.allowN(old, 3); got != 2 {
		t.Fatalf("existing bucket under share 2 admitted %d, want 2", got)
	}
	f.clock.Advance(time.Second)
	if f.Allow(old).Allowed {
		t.Fatal("existing bucket refilled at the full rate under share 2")
	}
	f.clock.Advance(time.Second)
	if !f.Allow(old).Allowed {
		t.Fatal("existing bucket did not refill one token in 2s under share 2")
	}

	// Back to one instance: full rate and burst again, from the tokens held.
	f.SetShare(0) // counts as 1
	if f.Share() != 1 {
		t.Fatalf("SetShare(0) left Share() = %d, want 1", f.Share())
	}
	f.clock.Advance(4 * time.Second)
	if got := f.allowN(old, 6); got != 4 {
		t.Fatalf("after the share went back to 1: %d admitted, want the burst of 4", got)
	}
}

func TestShareRoundsTheBurstUpAndScalesRemainingBack(t *testing.T) {
	// burst 5 over 3 instances: 2 each (ceil), shown as up to 5.
	f := newFixture(t, Config{Tiers: map[string]Tier{Anonymous: {Name: Anonymous, PerMinute: 60, Burst: 5}}})
	f.SetShare(3)
	c := f.client(t, request("192.0.2.1:1"))
	if d := f.Allow(c); d.Remaining != 3 || d.Limit != 5 {
		t.Fatalf("%+v, want 1 local token shown as 3 of 5", d)
	}
	if d := f.Allow(c); !d.Allowed || d.Remaining != 0 {
		t.Fatalf("%+v, want the second local token admitted and 0 remaining", d)
	}
}

func TestManyDistinctClientsStayWithinMaxClients(t *testing.T) {
	if testing.Short() {
		t.Skip("a million clients")
	}
	const maxClients = 10_000
	clients := 1_000_000
	if kittest.RaceEnabled {
		// Under the race detector a million new buckets take ~15 s, mostly
		// its GC; a quarter of it still overflows the table 25 times.
		clients = 250_000
	}
	f := newFixture(t, Config{MaxClients: maxClients})
	for i := range clients {
		ip := [4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)}
		f.Allow(f.addrClient(netip.AddrFrom4(ip), true))
		if i%50_000 == 0 {
			if n := f.Len(); n > maxClients {
				t.Fatalf("%d buckets after %d clients, want at most %d", n, i+1, maxClients)
			}
		}
	}
	if n := f.Len(); n > maxClients || n < maxClients*9/10 {
		t.Fatalf("%d buckets for %d clients, want at most %d (and most of them used)", n, clients, maxClients)
	}
	if got := gaugeValue(t, f.reg, "kitshop_ratelimit_buckets"); int(got) != f.Len() {
		t.Fatalf("buckets gauge %v, Len %d", got, f.Len())
	}
	if got := counterValue(t, f.reg, "kitshop_ratelimit_evicted_total", "reason", "capacity"); got < float64(clients-maxClients) {
		t.Fatalf("capacity evictions %v, want at least %d", got, clients-maxClients)
	}
}

func TestCapacityEvictsTheLeastRecentlyUsed(t *testing.T) {
	// MaxClients 64 is one shard, so the LRU order is exact.
	f := newFixture(t, Config{MaxClients: 64, Tiers: map[string]Tier{Anonymous: oneASecond}})
	if len(f.shards) != 1 {
		t.Fatalf("%d shards, want 1", len(f.shards))
	}
	clients := make([]Client, 65)
	for i := range clients {
		clients[i] = f.addrClient(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), true)
	}
	// Client 0 empties its bucket, then 1..63 fill the table, then 0 is
	// used again (refused) so that 1 is now the least recently used.
	f.allowN(clients[0], 3)
	for _, c := range clients[1:64] {
		f.Allow(c)
	}
	f.Allow(clients[0])
	f.Allow(clients[64]) // evicts 1
	if f.Len() != 64 {
		t.Fatalf("Len %d, want 64", f.Len())
	}
	if f.Allow(clients[0]).Allowed {
		t.Fatal("the recently used, empty bucket was evicted: its client got a fresh burst")
	}
	// Client 1 lost its bucket (it had 2 tokens) and starts again full.
	if d := f.Allow(clients[1]); d.Remaining != 2 {
		t.Fatalf("evicted client came back with %+v, want a new full bucket", d)
	}
}

func TestIdleBucketsAreEvictedOnceFull(t *testing.T) {
	f := newFixture(t, Config{Tiers: map[string]Tier{Anonymous: oneASecond}})
	for i := range 100 {
		f.Allow(f.addrClient(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), true))
	}
	busy := f.addrClient(netip.AddrFrom4([4]byte{198, 51, 100, 1}), true)
	f.allowN(busy, 3)
	if n := f.Len(); n != 101 {
		t.Fatalf("Len %d, want 101", n)
	}
	// An empty bucket of this tier is full after 3s: not before.
	f.clock.Advance(3*time.Second - time.Millisecond)
	f.Allow(busy)
	if n := f.Len(); n != 101 {
		t.Fatalf("Len %d before the refill time, want 101", n)
	}
	f.clock.Advance(time.Millisecond)
	if n := f.Len(); n != 1 {
		t.Fatalf("Len %d after the refill time, want only the busy client's bucket", n)
	}
	if got := gaugeValue(t, f.reg, "kitshop_ratelimit_buckets"); got != 1 {
		t.Fatalf("buckets gauge %v, want 1", got)
	}
	if got := counterValue(t, f.reg, "kitshop_ratelimit_evicted_total", "reason", "idle"); got != 100 {
		t.Fatalf("idle evictions %v, want 100", got)
	}
	// The busy client, used 1ms ago (2.999 tokens, less the one it took),
	// kept its bucket: 2 tokens now, 1 after this request. A new bucket
	// would have left 2.
	if d := f.Allow(busy); d.Remaining != 1 {
		t.Fatalf("busy client: %+v, want its own bucket with 1 token left", d)
	}
}

func TestIdleEvictionHappensOnUseToo(t *testing.T) {
	// MaxClients 64: one shard, so any request sweeps every bucket.
	f := newFixture(t, Config{MaxClients: 64, Tiers: map[string]Tier{Anonymous: oneASecond}})
	a := f.addrClient(netip.MustParseAddr("192.0.2.1"), true)
	b := f.addrClient(netip.MustParseAddr("192.0.2.2"), true)
	f.Allow(a)
	f.clock.Advance(3 * time.Second)
	f.Allow(b)
	if n := len(f.shards[0].buckets); n != 1 {
		t.Fatalf("%d buckets after b's request, want a's idle one dropped", n)
	}
}

func TestConcurrentAllowAdmitsExactlyTheBurst(t *testing.T) {
	const burst = 500
	f := newFixture(t, Config{
		Tiers:   map[string]Tier{Anonymous: {Name: Anonymous, PerMinute: 60, Burst: burst}},
		APIKeys: map[string]Tier{"key-1": {Name: Anonymous, PerMinute: 60, Burst: burst}},
	})
	shared := f.client(t, request("192.0.2.1:1", HeaderAPIKey, "key-1"))
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			// Each goroutine also churns its own clients, so shards and the
			// LRU list change under the shared bucket.
			own := f.addrClient(netip.AddrFrom4([4]byte{10, 0, 0, byte(g)}), true)
			for range 100 {
				if f.Allow(shared).Allowed {
					admitted.Add(1)
				}
				f.Allow(own)
			}
			f.SetShare(1)
			_ = f.Len()
		})
	}
	wg.Wait()
	if got := admitted.Load(); got != burst {
		t.Fatalf("%d admitted at a frozen clock, want exactly the burst %d", got, burst)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	pro := DefaultTiers()["pro"]
	for name, cfg := range map[string]Config{
		"no anonymous tier":  {Tiers: map[string]Tier{"pro": pro}},
		"misfiled tier":      {Tiers: map[string]Tier{Anonymous: pro}},
		"zero rate":          {Tiers: map[string]Tier{Anonymous: {Name: Anonymous, Burst: 1}}},
		"zero burst":         {Tiers: map[string]Tier{Anonymous: {Name: Anonymous, PerMinute: 1}}},
		"negative clients":   {MaxClients: -1},
		"key's tier unknown": {APIKeys: map[string]Tier{"k": {Name: "gold", PerMinute: 1, Burst: 1}}},
		"key's tier differs": {APIKeys: map[string]Tier{"k": {Name: "pro", PerMinute: 1, Burst: 1}}},
		"empty key":          {APIKeys: map[string]Tier{"": pro}},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("%s: New succeeded", name)
		}
	}
}

func TestShardCountKeepsTheBound(t *testing.T) {
	for _, maxClients := range []int{1, 63, 64, 100, 4095, 4096, 100_000, 1 << 30} {
		n := shardCount(maxClients)
		if n&(n-1) != 0 || n < 1 || n > 64 {
			t.Fatalf("shardCount(%d) = %d, want a power of two up to 64", maxClients, n)
		}
		if perShard := maxClients / n; perShard < 1 || perShard*n > maxClients {
			t.Fatalf("MaxClients %d: %d shards of %d", maxClients, n, perShard)
		}
	}
}

func ExampleLimiter_SetShare() {
	l, _ := New(Config{})
	l.SetShare(2) // two gateways live: each admits half
	c, _ := l.Identify(request("192.0.2.1:4711"))
	d := l.Allow(c)
	fmt.Println(d.Allowed, d.Limit, d.Remaining)
	// Output: true 20 18
}

func TestAPIKeyClientsAreNamedByAHashNotTheKey(t *testing.T) {
	const key = "very-secret-key"
	f := newFixture(t, Config{APIKeys: map[string]Tier{key: DefaultTiers()["pro"]}})
	c := f.client(t, request("192.0.2.1:1", HeaderAPIKey, key))
	name := c.String()
	if !strings.HasPrefix(name, "api-key:") || len(name) != len("api-key:")+12 || strings.Contains(name, "secret") {
		t.Fatalf("String() = %q, want api-key: and 12 hex digits", name)
	}
	if d := f.Allow(c); d.Tier != "pro" || d.Limit != 2000 {
		t.Fatalf("%+v, want the pro tier", d)
	}
}
