package pg

import (
	"container/list"
	"context"
	"database/sql/driver"
	"errors"

	"github.com/lib/pq"
)

// Why statements are cached: a statement with parameters is otherwise
// parsed, analysed and planned by the server on every execution (lib/pq
// sends it as an unnamed statement), and for the small statements services
// send, that costs more server CPU than running them (measured on the
// checkout: parse and plan were most of Postgres' time). Each connection
// therefore keeps its statements prepared, by text, and executes the
// prepared one: no parse, and after a few executions Postgres reuses a
// generic plan when it is as good as a custom one (plan_cache_mode auto).
//
// It needs the session to keep its prepared statements between
// transactions: a direct connection, a session-mode pooler, or PgBouncer
// 1.21 or later with max_prepared_statements set.

// stmtCacheSize bounds the statements one connection keeps prepared; the
// least recently used is closed beyond it. Services send a few dozen
// distinct statements, so this only bites on generated SQL.
const stmtCacheSize = 256

// stmtCache is one connection's prepared statements, most recently used
// first. A driver connection serves one call at a time, so it needs no
// lock.
type stmtCache struct {
	byQuery map[string]*list.Element
	order   list.List // of *cachedStmt
}

type cachedStmt struct {
	query string
	st    driver.Stmt
}

// preparedFor returns query's statement on c, preparing it on a miss.
func (c *conn) preparedFor(ctx context.Context, query string) (driver.Stmt, error) {
	sc := &c.stmts
	if e, ok := sc.byQuery[query]; ok {
		sc.order.MoveToFront(e)
		return e.Value.(*cachedStmt).st, nil
	}
	done := c.watch(ctx)
	st, err := c.pq.PrepareContext(ctx, query)
	done()
	if err != nil {
		return nil, outcome(ctx, err)
	}
	if sc.byQuery == nil {
		sc.byQuery = make(map[string]*list.Element)
	}
	sc.byQuery[query] = sc.order.PushFront(&cachedStmt{query: query, st: st})
	for sc.order.Len() > stmtCacheSize {
		oldest := sc.order.Back()
		c.closeCached(oldest.Value.(*cachedStmt))
	}
	if c.broken.Load() {
		// Closing the evicted statement gave the connection up. Nothing of
		// this call has run, so database/sql may safely retry it on
		// another connection, which it does for ErrBadConn.
		return nil, driver.ErrBadConn
	}
	return st, nil
}

// forget drops query's statement, closing it on the server.
func (c *conn) forget(query string) {
	if e, ok := c.stmts.byQuery[query]; ok {
		c.closeCached(e.Value.(*cachedStmt))
	}
}

func (c *conn) closeCached(cs *cachedStmt) {
	e := c.stmts.byQuery[cs.query]
	delete(c.stmts.byQuery, cs.query)
	c.stmts.order.Remove(e)
	if c.broken.Load() {
		return
	}
	// Closing is a round trip without a context: bounded as stmt.Close
	// bounds it, and a failure gives the connection up.
	(&stmt{pq: cs.st, c: c}).Close()
}

// stalePlan reports whether err says a cached statement no longer fits
// the schema: a migration changed a table it reads (0A000 "cached plan
// must not change result type"), or the server lost it (26000). The
// statement is then prepared again.
//
// 0A000 (feature_not_supported) has other uses, so the error must be
// recognised more narrowly. The message is translated when the server's
// lc_messages is not English, so the routine that raised it (never
// translated) is checked first; the message is the fallback for a server
// that does not report routines.
func stalePlan(err error) bool {
	var pe *pq.Error
	if !errors.As(err, &pe) {
		return false
	}
	if pe.Code == "26000" {
		return true
	}
	return pe.Code == "0A000" &&
		(pe.Routine == "RevalidateCachedQuery" || pe.Message == "cached plan must not change result type")
}

// execPrepared runs query with args through its cached statement. A stale
// statement is prepared again and, outside a transaction (where the
// failure has aborted nothing else), run once more.
func (c *conn) execPrepared(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	for attempt := 1; ; attempt++ {
		st, err := c.preparedFor(ctx, query)
		if err != nil {
			return nil, err
		}
		done := c.watch(ctx)
		res, err := st.(driver.StmtExecContext).ExecContext(ctx, args)
		done()
		if err != nil && stalePlan(err) {
			c.forget(query)
			if attempt == 1 && !c.inTx {
				continue
			}
		}
		return res, outcome(ctx, err)
	}
}

// queryPrepared is execPrepared for a query returning rows.
func (c *conn) queryPrepared(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	for attempt := 1; ; attempt++ {
		st, err := c.preparedFor(ctx, query)
		if err != nil {
			return nil, err
		}
		stop := context.AfterFunc(ctx, c.cut)
		r, err := st.(driver.StmtQueryContext).QueryContext(ctx, args)
		if err != nil {
			if !stop() {
				c.broken.Store(true)
			}
			if stalePlan(err) {
				c.forget(query)
				if attempt == 1 && !c.inTx {
					continue
				}
			}
			return nil, outcome(ctx, err)
		}
		// Rows are read from the socket until they are closed, so the
		// cut-off stays armed until then.
		return &rows{Rows: r, c: c, ctx: ctx, stop: stop}, nil
	}
}
