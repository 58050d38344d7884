package pg_test

import (
	"context"
	"database/sql"
	"strings"
	"testing"

	"github.com/openzipkin/zipkin-go"
	"github.com/openzipkin/zipkin-go/model"

	"github.com/kitshop/kitshop/kit/kittest"
	"github.com/kitshop/kitshop/kit/pg"
	"github.com/kitshop/kitshop/kit/pg/pgtest"
)

// tracedDB is a pool on a fresh database whose statements are spans of
// the returned tracer's.
func tracedDB(t *testing.T) (*sql.DB, *zipkin.Tracer, *kittest.SpanRecorder) {
	t.Helper()
	tracer, rec := kittest.NewTracer(t, "users")
	db, err := pg.Open(testContext(t), pgtest.URL(t), "users", pg.WithTracer(tracer))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mustExec(t, db, `CREATE TABLE accounts (id int PRIMARY KEY, email text UNIQUE NOT NULL)`)
	return db, tracer, rec
}

// Under a sampled span, every statement is a client span named from its
// SQL, with its text and the server's address, and no parameter value
// anywhere; a query's span lasts until its rows are closed.
func TestStatementsAreSpansWithoutValues(t *testing.T) {
	db, tracer, rec := tracedDB(t)
	const secret = "ada-secret@example.com"
	parent, ctx := tracer.StartSpanFromContext(testContext(t), "users.createuser")

	if _, err := db.ExecContext(ctx, `INSERT INTO accounts (id, email) VALUES ($1, $2)`, 1, secret); err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(ctx, `SELECT id FROM accounts WHERE email = $1`, secret)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range rec.Spans() {
		if s.Name == "sql select accounts" {
			t.Error("the query's span ended before its rows were read")
		}
	}
	for rows.Next() {
	}
	rows.Close()
	err = pg.InTx(ctx, db, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `UPDATE accounts SET email = $2 WHERE id = $1`, 1, secret+".new")
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A unique violation: an answer the store acts on, not a fault.
	if _, err := db.ExecContext(ctx, `INSERT INTO accounts (id, email) VALUES ($1, $2)`, 2, secret+".new"); err == nil {
		t.Fatal("duplicate email accepted")
	}
	// A server error quoting the value: only its SQLSTATE is kept.
	if _, err := db.ExecContext(ctx, `SELECT $1::int`, secret); err == nil {
		t.Fatal("a non-number cast to int")
	}
	parent.Finish()

	var got []string
	for _, s := range rec.Spans() {
		if s.Name == "users.createuser" {
			continue
		}
		got = append(got, s.Name)
		if s.TraceID != parent.Context().TraceID || s.ParentID == nil || *s.ParentID != parent.Context().ID {
			t.Errorf("span %q is not a child of the caller's span", s.Name)
		}
		if s.Kind != model.Client || s.RemoteEndpoint == nil || s.RemoteEndpoint.ServiceName != "postgres" || s.RemoteEndpoint.Port == 0 {
			t.Errorf("span %q: kind %q, remote %+v; want a client span to postgres", s.Name, s.Kind, s.RemoteEndpoint)
		}
		if s.Tags[pg.TagQuery] == "" {
			t.Errorf("span %q has no %s tag", s.Name, pg.TagQuery)
		}
		for k, v := range s.Tags {
			if strings.Contains(v, "ada-secret") {
				t.Errorf("span %q tag %s = %q carries a parameter value", s.Name, k, v)
			}
		}
		switch s.Name {
		case "sql select":
			if s.Tags[pg.TagSQLState] != "22P02" || s.Tags["error"] != "SQLSTATE 22P02" {
				t.Errorf("failed cast tagged %v", s.Tags)
			}
		case "sql insert accounts":
			if s.Tags[pg.TagSQLState] == "23505" && s.Tags["error"] != "" {
				t.Errorf("a unique violation marked as an error: %v", s.Tags)
			}
		}
	}
	want := "sql insert accounts,sql select accounts,sql begin,sql update accounts,sql commit,sql insert accounts,sql select"
	if strings.Join(got, ",") != want {
		t.Errorf("spans\n%s\nwant\n%s", strings.Join(got, ","), want)
	}
}

// Without a span, or under one that is not sampled, statements make no
// spans.
func TestStatementsOutsideSampledTracesMakeNoSpans(t *testing.T) {
	db, tracer, rec := tracedDB(t)
	no := false
	unsampled := tracer.StartSpan("unsampled", zipkin.Parent(model.SpanContext{Sampled: &no}))
	for _, ctx := range []context.Context{testContext(t), zipkin.NewContext(testContext(t), unsampled)} {
		if _, err := db.ExecContext(ctx, `INSERT INTO accounts (id, email) VALUES ($1, $2)`, 7, "x@example.com"); err != nil {
			t.Fatal(err)
		}
		var id int
		if err := db.QueryRowContext(ctx, `SELECT id FROM accounts WHERE id = $1`, 7).Scan(&id); err != nil {
			t.Fatal(err)
		}
		mustExec(t, db, `DELETE FROM accounts`)
	}
	if spans := rec.Spans(); len(spans) != 0 {
		t.Errorf("%d spans recorded outside a sampled trace: %v", len(spans), spans)
	}
}
