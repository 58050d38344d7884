package config

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

// clearServiceEnv makes sure the developer's own environment cannot leak
// into these tests.
func clearServiceEnv(t *testing.T) {
	for _, k := range []string{
		"KITSHOP_SERVICE_VERSION", "KITSHOP_HTTP_ADDR", "KITSHOP_GRPC_ADDR", "KITSHOP_ETCD_ENDPOINTS",
		"KITSHOP_USERS_DATABASE_URL", "DATABASE_URL", "KITSHOP_ZIPKIN_URL", "KITSHOP_TRACE_SAMPLE_RATE",
		"KITSHOP_BREAKER_FAILURES", "KITSHOP_BREAKER_OPEN_TIMEOUT", "KITSHOP_RATE_LIMIT", "KITSHOP_RATE_BURST",
		"KITSHOP_REGISTER_TTL", "KITSHOP_DRAIN_TIMEOUT", "KITSHOP_LOG_LEVEL", "KITSHOP_ADMIN_EMAIL",
		"KITSHOP_ADVERTISE_HOST", "KITSHOP_STARTUP_TIMEOUT", "KITSHOP_DEREGISTER_GRACE",
		"KITSHOP_TLS_CA", "KITSHOP_TLS_CERT", "KITSHOP_TLS_KEY",
	} {
		t.Setenv(k, "")
	}
}

func TestParseServiceDefaults(t *testing.T) {
	clearServiceEnv(t)
	svc, err := ParseService("users", ":8081", ":9081", nil)
	if err != nil {
		t.Fatal(err)
	}
	want := Service{
		Name: "users", Version: BuildVersion(), HTTPAddr: ":8081", GRPCAddr: ":9081",
		EtcdEndpoints: []string{"127.0.0.1:2379"}, TraceSampleRate: 1, BreakerFailures: 5,
		BreakerOpenTimeout: 60 * time.Second, BreakerProbes: 3, RegisterTTL: 10 * time.Second, DrainTimeout: 15 * time.Second,
		LogLevel: "info", AdvertiseHost: DefaultAdvertiseHost,
		StartupTimeout: 30 * time.Second, DeregisterGrace: 1500 * time.Millisecond,
	}
	if !reflect.DeepEqual(svc, want) {
		t.Fatalf("got  %#v\nwant %#v", svc, want)
	}
	if !svc.UsesMemoryStore() {
		t.Fatal("no database URL should mean the memory store")
	}
}

func TestParseServiceEnvAndExtraFlags(t *testing.T) {
	clearServiceEnv(t)
	t.Setenv("KITSHOP_HTTP_ADDR", ":0")
	t.Setenv("KITSHOP_ETCD_ENDPOINTS", "10.0.0.1:2379, 10.0.0.2:2379")
	t.Setenv("DATABASE_URL", "postgres://generic@db/generic")
	t.Setenv("KITSHOP_USERS_DATABASE_URL", "postgres://users:pw@db/users")
	t.Setenv("KITSHOP_RATE_LIMIT", "2.5")
	t.Setenv("KITSHOP_BREAKER_OPEN_TIMEOUT", "5s")
	t.Setenv("KITSHOP_ADMIN_EMAIL", "root@example.com")
	t.Setenv("KITSHOP_LOG_LEVEL", "DEBUG")

	var admin *string
	svc, err := ParseService("users", ":8081", ":9081", []string{"-grpc-addr", "127.0.0.1:0"}, func(fs *flag.FlagSet) {
		admin = String(fs, "admin-email", "KITSHOP_ADMIN_EMAIL", "", "bootstrap admin")
	})
	if err != nil {
		t.Fatal(err)
	}
	if svc.HTTPAddr != ":0" || svc.GRPCAddr != "127.0.0.1:0" || *admin != "root@example.com" {
		t.Fatalf("svc %+v admin %q", svc, *admin)
	}
	if !reflect.DeepEqual(svc.EtcdEndpoints, []string{"10.0.0.1:2379", "10.0.0.2:2379"}) {
		t.Fatalf("etcd %q", svc.EtcdEndpoints)
	}
	if svc.DatabaseURL != "postgres://users:pw@db/users" {
		t.Fatalf("per-service database URL should win over DATABASE_URL: %q", svc.DatabaseURL)
	}
	if svc.RateLimit != 2.5 || svc.RateBurst != 3 || svc.BreakerOpenTimeout != 5*time.Second || svc.LogLevel != "debug" {
		t.Fatalf("rate %v burst %d open %v level %q", svc.RateLimit, svc.RateBurst, svc.BreakerOpenTimeout, svc.LogLevel)
	}

	// Another service falls back to the generic DATABASE_URL.
	orders, err := ParseService("orders", ":8083", ":9083", nil)
	if err != nil {
		t.Fatal(err)
	}
	if orders.DatabaseURL != "postgres://generic@db/generic" {
		t.Fatalf("orders database URL %q", orders.DatabaseURL)
	}
}

func TestParseServiceRejectsBadSettings(t *testing.T) {
	clearServiceEnv(t)
	t.Setenv("KITSHOP_BREAKER_FAILURES", "lots")
	_, err := ParseService("users", ":8081", ":9081", nil)
	if err == nil || !strings.Contains(err.Error(), "KITSHOP_BREAKER_FAILURES") {
		t.Fatalf("bad env accepted: %v", err)
	}

	t.Setenv("KITSHOP_BREAKER_FAILURES", "")
	_, err = ParseService("users", ":8081", ":9081", []string{
		"-trace-sample-rate", "1.5", "-breaker-failures", "0", "-rate-limit", "-1",
		"-register-ttl", "500ms", "-drain-timeout", "0s", "-log-level", "loud",
		"-zipkin-url", "localhost:9411", "-http-addr", "", "-advertise-host", "",
		"-startup-timeout", "0s", "-deregister-grace", "-1s",
	})
	if err == nil {
		t.Fatal("bad settings accepted")
	}
	for _, want := range []string{"trace-sample-rate", "breaker-failures", "rate-limit", "register-ttl", "drain-timeout", "log-level", "zipkin-url", "http-addr", "advertise-host", "startup-timeout", "deregister-grace"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %s:\n%v", want, err)
		}
	}

	if _, err := ParseService("users", ":8081", ":9081", []string{"-help"}); !errors.Is(err, flag.ErrHelp) {
		t.Fatalf("-help: %v", err)
	}
}

func TestServiceNeverPrintsThePassword(t *testing.T) {
	svc := Service{Name: "users", DatabaseURL: "postgres://kitshop:s3cr3t-pw@db:5432/users?sslmode=disable",
		ZipkinURL: "http://u:zipkin-pw@zipkin:9411/api/v2/spans", EtcdEndpoints: []string{"e:2379"}}
	raw, err := json.Marshal(svc)
	if err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{svc.String(), fmt.Sprintf("%v", svc), fmt.Sprintf("%+v", svc), fmt.Sprintf("%#v", svc),
		fmt.Sprint(svc.LogValues()...), string(raw), fmt.Sprintf("%v", &svc)} {
		if strings.Contains(out, "s3cr3t") || strings.Contains(out, "zipkin-pw") {
			t.Fatalf("password printed: %s", out)
		}
		if !strings.Contains(out, "kitshop:xxxxx@db:5432/users") {
			t.Fatalf("redacted URL missing: %s", out)
		}
	}
}

func TestRedactURL(t *testing.T) {
	tests := map[string]string{
		"":                                     "",
		"postgres://u:p@h/db":                  "postgres://u:xxxxx@h/db",
		"postgres://u@h/db":                    "postgres://u@h/db",
		"postgres://h/db?user=u&password=p":    "postgres://h/db?password=xxxxx&user=u",
		"host=h user=u password=p dbname=d":    "host=h user=u password=xxxxx dbname=d",
		"host=h password = 'a b\\'c' dbname=d": "host=h password = xxxxx dbname=d",
		"host=h sslpassword=k PASSWORD=p":      "host=h sslpassword=xxxxx PASSWORD=xxxxx",
		"postgres://u:p%zz@h/db":               "[unparseable URL withheld]",
		"http://127.0.0.1:9411/api/v2/spans":   "http://127.0.0.1:9411/api/v2/spans",
	}
	for in, want := range tests {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestEnvName(t *testing.T) {
	if got := envName("stock-watcher2"); got != "STOCK_WATCHER2" {
		t.Fatal(got)
	}
}
