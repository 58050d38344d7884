package ratelimit

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParseTrustedProxies(t *testing.T) {
	got, err := ParseTrustedProxies(" 10.1.2.3/8, 192.0.2.7 ,fd00::/8, ::ffff:172.16.0.0/108, 2001:db8::1")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"10.0.0.0/8", "192.0.2.7/32", "fd00::/8", "172.16.0.0/12", "2001:db8::1/128"}
	if len(got) != len(want) {
		t.Fatalf("got %v, want %v", got, want)
	}
	for i := range want {
		if got[i].String() != want[i] {
			t.Errorf("entry %d: %v, want %s", i+1, got[i], want[i])
		}
	}
	if ps, err := ParseTrustedProxies("  "); err != nil || ps != nil {
		t.Errorf("blank spec: %v, %v; want none", ps, err)
	}
	for _, bad := range []string{"10.0.0.0/33", "10.0.0.1,", "proxy.internal", "10.0.0.0/8,,fd00::/8", "fe80::1%eth0", "::ffff:10.0.0.0/64"} {
		if _, err := ParseTrustedProxies(bad); err == nil {
			t.Errorf("%q parsed", bad)
		} else if !strings.Contains(err.Error(), "entry") {
			t.Errorf("%q: error %q does not name the entry", bad, err)
		}
	}
}

func TestSourceAddr(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8, 2001:db8:ffff::/48")
	if err != nil {
		t.Fatal(err)
	}
	ps := proxies(trusted)
	for _, c := range []struct {
		name, remote string
		xff          []string
		want         string
	}{
		{"no proxy", "192.0.2.1:1", nil, "192.0.2.1"},
		{"spoofed XFF from an untrusted peer is ignored", "192.0.2.1:1", []string{"198.51.100.9"}, "192.0.2.1"},
		{"trusted proxy, no XFF: the proxy itself", "10.0.0.5:1", nil, "10.0.0.5"},
		{"one trusted proxy", "10.0.0.5:1", []string{"198.51.100.9"}, "198.51.100.9"},
		{"client-written entries left of the real one are ignored", "10.0.0.5:1", []string{"203.0.113.66, 198.51.100.9"}, "198.51.100.9"},
		{"chain through two proxies", "10.0.0.5:1", []string{"203.0.113.66, 198.51.100.9, 10.9.9.9"}, "198.51.100.9"},
		{"chain over two header lines", "10.0.0.5:1", []string{"203.0.113.66, 198.51.100.9", "10.9.9.9"}, "198.51.100.9"},
		{"IPv6 proxy and client", "[2001:db8:ffff::1]:1", []string{"2001:db8:1::5"}, "2001:db8:1::5"},
		{"entries with ports", "10.0.0.5:1", []string{"[2001:db8:1::5]:443, 10.1.1.1:80"}, "2001:db8:1::5"},
		{"IPv4-mapped entry", "10.0.0.5:1", []string{"::ffff:198.51.100.9"}, "198.51.100.9"},
		{"garbage entry falls back to the peer", "10.0.0.5:1", []string{"198.51.100.9, not-an-ip"}, "10.0.0.5"},
		{"empty entry falls back to the peer", "10.0.0.5:1", []string{"198.51.100.9,,10.1.1.1"}, "10.0.0.5"},
		{"every hop trusted: the leftmost", "10.0.0.5:1", []string{"10.7.7.7, 10.8.8.8"}, "10.7.7.7"},
		{"peer without a port", "10.0.0.5", []string{"198.51.100.9"}, "198.51.100.9"},
		{"IPv4-mapped trusted peer", "[::ffff:10.0.0.5]:1", []string{"198.51.100.9"}, "198.51.100.9"},
	} {
		r := request(c.remote)
		for _, v := range c.xff {
			r.Header.Add("X-Forwarded-For", v)
		}
		got, ok := ps.sourceAddr(r)
		if !ok || got != netip.MustParseAddr(c.want) {
			t.Errorf("%s: %v (ok %v), want %s", c.name, got, ok, c.want)
		}
	}
	if _, ok := ps.sourceAddr(request("@")); ok {
		t.Error("a peer without an address was read")
	}
	// Without trusted proxies XFF is never read.
	if got, _ := proxies(nil).sourceAddr(request("10.0.0.5:1", "X-Forwarded-For", "198.51.100.9")); got != netip.MustParseAddr("10.0.0.5") {
		t.Errorf("no trusted proxies: %v, want the peer", got)
	}
}

func TestClientsBehindATrustedProxyHaveTheirOwnBuckets(t *testing.T) {
	trusted, err := ParseTrustedProxies("10.0.0.0/8")
	if err != nil {
		t.Fatal(err)
	}
	f := newFixture(t, Config{TrustedProxies: trusted, Tiers: map[string]Tier{Anonymous: oneASecond}})
	a := f.client(t, request("10.0.0.5:1", "X-Forwarded-For", "198.51.100.1"))
	b := f.client(t, request("10.0.0.5:1", "X-Forwarded-For", "198.51.100.2"))
	if f.allowN(a, 5) != 3 || f.allowN(b, 5) != 3 {
		t.Fatal("two clients behind one proxy share a bucket")
	}
	// A client of an untrusted peer cannot escape its bucket by inventing
	// X-Forwarded-For entries.
	spoofer := func(fake string) Client {
		return f.client(t, request("192.0.2.66:1", "X-Forwarded-For", fake))
	}
	admitted := 0
	for i := range 5 {
		if f.Allow(spoofer("198.51.100." + string(rune('3'+i)))).Allowed {
			admitted++
		}
	}
	if admitted != 3 {
		t.Fatalf("spoofing XFF from an untrusted peer got %d admitted, want 3", admitted)
	}
}

func TestUnreadableSourceIsItsOwnClient(t *testing.T) {
	f := newFixture(t, Config{Tiers: map[string]Tier{Anonymous: oneASecond}})
	unknown := f.client(t, request("@"))
	if got := unknown.String(); got != "ip:unknown" {
		t.Fatalf("String() = %q", got)
	}
	if f.allowN(unknown, 5) != 3 {
		t.Fatal("requests without a source address were not limited together")
	}
	// ::1 masks to ::/64, all zero bytes, like a missing address: it is
	// another client all the same.
	if !f.Allow(f.client(t, request("[::1]:1"))).Allowed {
		t.Fatal("::1 shares the bucket of unreadable sources")
	}
}
