package metrics_test

import (
	"database/sql"
	"database/sql/driver"
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/kitshop/kitshop/kit/metrics"
)

// noDriver opens nothing: the pool's statistics exist without a
// connection, which is all RegisterDB reads.
type noDriver struct{}

func (noDriver) Open(string) (driver.Conn, error) { return nil, errors.New("no database") }

func init() { sql.Register("kitshop-metrics-nodb", noDriver{}) }

func TestRegisterDBExportsThePool(t *testing.T) {
	db, err := sql.Open("kitshop-metrics-nodb", "")
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(7)
	reg := prometheus.NewRegistry()
	if err := metrics.RegisterDB(reg, db, "orders"); err != nil {
		t.Fatal(err)
	}
	if err := metrics.RegisterDB(reg, db, "orders"); err != nil {
		t.Fatalf("registering the pool again: %v", err)
	}
	for _, name := range []string{
		"go_sql_in_use_connections", "go_sql_idle_connections", "go_sql_max_open_connections",
		"go_sql_wait_count_total", "go_sql_wait_duration_seconds_total",
	} {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%s: %d series (err %v), want 1", name, n, err)
		}
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "go_sql_max_open_connections" {
			continue
		}
		m := mf.GetMetric()[0]
		if m.GetGauge().GetValue() != 7 || m.GetLabel()[0].GetName() != "db_name" || m.GetLabel()[0].GetValue() != "orders" {
			t.Errorf("go_sql_max_open_connections = %v", m)
		}
	}
}
