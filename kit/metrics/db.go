package metrics

import (
	"database/sql"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// RegisterDB exports db's connection pool statistics with reg, labelled
// db_name=name (the service: each has one pool):
//
//	go_sql_max_open_connections, go_sql_open_connections,
//	go_sql_in_use_connections, go_sql_idle_connections,
//	go_sql_wait_count_total, go_sql_wait_duration_seconds_total,
//	go_sql_max_idle_closed_total, go_sql_max_idle_time_closed_total,
//	go_sql_max_lifetime_closed_total
//
// client_golang's own collector, read from db.Stats at scrape time. A
// pool registered again under the same name keeps the first collector
// (see Register).
func RegisterDB(reg prometheus.Registerer, db *sql.DB, name string) error {
	_, err := Register[prometheus.Collector](reg, collectors.NewDBStatsCollector(db, name))
	return err
}
