package pg

import "database/sql"

// Scanner is a row: *sql.Row and *sql.Rows both are. Scan functions take
// one so that a single function reads a row from QueryRow and from Query.
type Scanner interface {
	Scan(dest ...any) error
}

// Collect scans every row of a query with scan, then closes the rows. err
// is the query's own, so that a call reads:
//
//	rows, err := db.QueryContext(ctx, q, args...)
//	out, err := pg.Collect(rows, err, scanThing)
func Collect[T any](rows *sql.Rows, err error, scan func(Scanner) (T, error)) ([]T, error) {
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
