package pg

import (
	"cmp"
	"context"
	"database/sql/driver"
	"io"
	"reflect"

	"github.com/openzipkin/zipkin-go"
)

// rows keeps a query's cut-off armed while its rows are read from the
// socket (see conn.go), and disarms it on Close. It forwards the optional
// row interfaces pq implements, answering as database/sql would for those
// it does not.
type rows struct {
	driver.Rows
	c    *conn
	ctx  context.Context
	stop func() bool
	// span is the query's, ended on Close (trace.go); readErr is the
	// error reading stopped on, for it.
	span    zipkin.Span
	readErr error
}

func (r *rows) Next(dest []driver.Value) error {
	err := r.Rows.Next(dest)
	if err == io.EOF {
		return err
	}
	err = outcome(r.ctx, err)
	if err != nil {
		r.readErr = err
	}
	return err
}

func (r *rows) Close() error {
	err := r.Rows.Close()
	if !r.stop() {
		r.c.broken.Store(true)
	}
	err = outcome(r.ctx, err)
	if r.span != nil {
		endTrace(r.span, cmp.Or(r.readErr, err))
		r.span = nil
	}
	return err
}

func (r *rows) HasNextResultSet() bool {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		return n.HasNextResultSet()
	}
	return false
}

func (r *rows) NextResultSet() error {
	if n, ok := r.Rows.(driver.RowsNextResultSet); ok {
		err := n.NextResultSet()
		if err == io.EOF {
			return err
		}
		return outcome(r.ctx, err)
	}
	return io.EOF
}

func (r *rows) ColumnTypeScanType(i int) reflect.Type {
	if t, ok := r.Rows.(driver.RowsColumnTypeScanType); ok {
		return t.ColumnTypeScanType(i)
	}
	return reflect.TypeFor[any]()
}

func (r *rows) ColumnTypeDatabaseTypeName(i int) string {
	if t, ok := r.Rows.(driver.RowsColumnTypeDatabaseTypeName); ok {
		return t.ColumnTypeDatabaseTypeName(i)
	}
	return ""
}

func (r *rows) ColumnTypeLength(i int) (int64, bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeLength); ok {
		return t.ColumnTypeLength(i)
	}
	return 0, false
}

func (r *rows) ColumnTypeNullable(i int) (nullable, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypeNullable); ok {
		return t.ColumnTypeNullable(i)
	}
	return false, false
}

func (r *rows) ColumnTypePrecisionScale(i int) (precision, scale int64, ok bool) {
	if t, ok := r.Rows.(driver.RowsColumnTypePrecisionScale); ok {
		return t.ColumnTypePrecisionScale(i)
	}
	return 0, 0, false
}
