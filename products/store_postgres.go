package main

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-kit/log"
	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/pg"
)

//go:embed migrations/*.sql
var migrations embed.FS

// postgresStore keeps the catalog and inventory in the "products" schema of
// DATABASE_URL. Multi-row changes run in one transaction each and take
// product row locks in id order, so concurrent reservations serialize per
// product and can never deadlock.
type postgresStore struct {
	db     *sql.DB
	dsn    string // for the LISTEN connection, which is not pooled
	logger log.Logger
}

// openPostgresStore opens the products schema of dsn, migrated.
func openPostgresStore(ctx context.Context, dsn string, logger log.Logger) (*postgresStore, error) {
	db, err := pg.OpenMigrated(ctx, dsn, "products", migrations)
	if err != nil {
		return nil, err
	}
	return newPostgresStore(db, dsn, logger), nil
}

func newPostgresStore(db *sql.DB, dsn string, logger log.Logger) *postgresStore {
	if logger == nil {
		logger = log.NewNopLogger()
	}
	return &postgresStore{db: db, dsn: dsn, logger: logger}
}

const productColumns = `id, sku, name, description, category, price_cents, currency, stock, reserved, active, version, created_at, updated_at`

// qualifiedProductColumns is productColumns for an UPDATE ... FROM, where a
// bare "id" could be the other relation's.
const qualifiedProductColumns = `products.id, sku, name, description, category, price_cents, currency, stock, reserved, active, version, created_at, updated_at`

type rowScanner interface{ Scan(dest ...any) error }

func scanProduct(row rowScanner, extra ...any) (Product, error) {
	var p Product
	dest := append([]any{&p.ID, &p.SKU, &p.Name, &p.Description, &p.Category, &p.PriceCents, &p.Currency,
		&p.Stock, &p.Reserved, &p.Active, &p.Version, &p.CreatedAt, &p.UpdatedAt}, extra...)
	if err := row.Scan(dest...); err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return Product{}, ErrProductNotFound
		}
		return Product{}, pg.Classify(err)
	}
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
	return p, nil
}

func (s *postgresStore) CreateProduct(ctx context.Context, p Product) (Product, error) {
	out, err := scanProduct(s.db.QueryRowContext(ctx, `INSERT INTO products (`+productColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13) RETURNING `+productColumns,
		p.ID, p.SKU, p.Name, p.Description, p.Category, p.PriceCents, p.Currency,
		p.Stock, p.Reserved, p.Active, p.Version, p.CreatedAt, p.UpdatedAt))
	if c, dup := pg.IsUniqueViolation(err); dup && c == "products_sku_key" {
		return Product{}, ErrSKUTaken
	}
	return out, err
}

func (s *postgresStore) UpdateProduct(ctx context.Context, u ProductUpdate, now time.Time) (Product, error) {
	return scanProduct(s.db.QueryRowContext(ctx, `UPDATE products SET
			name = COALESCE($2, name), description = COALESCE($3, description),
			category = COALESCE($4, category), price_cents = COALESCE($5, price_cents),
			active = COALESCE($6, active), version = version + 1, updated_at = $7
		WHERE id = $1 RETURNING `+productColumns,
		u.ID, u.Name, u.Description, u.Category, u.PriceCents, u.Active, now))
}

func (s *postgresStore) GetProduct(ctx context.Context, id string) (Product, error) {
	return scanProduct(s.db.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, id))
}

func (s *postgresStore) GetProducts(ctx context.Context, ids []string) ([]Product, error) {
	return s.queryProducts(ctx, `SELECT `+productColumns+` FROM products WHERE id = ANY($1::uuid[])`, pq.Array(ids))
}

func (s *postgresStore) ListProducts(ctx context.Context, afterID string, limit int) ([]Product, error) {
	if afterID == "" {
		return s.queryProducts(ctx, `SELECT `+productColumns+` FROM products ORDER BY id LIMIT $1`, limit)
	}
	return s.queryProducts(ctx, `SELECT `+productColumns+` FROM products WHERE id > $1 ORDER BY id LIMIT $2`, afterID, limit)
}

// queryer is what *sql.DB and *sql.Tx share for reading rows.
type queryer interface {
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

func (s *postgresStore) queryProducts(ctx context.Context, query string, args ...any) ([]Product, error) {
	return queryProducts(ctx, s.db, query, args...)
}

func queryProducts(ctx context.Context, q queryer, query string, args ...any) ([]Product, error) {
	rows, err := q.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, pg.Classify(err)
	}
	defer rows.Close()
	out := []Product{}
	for rows.Next() {
		p, err := scanProduct(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, pg.Classify(rows.Err())
}

// SearchProducts ranks with ts_rank over the weighted search vector.
// ts_rank depends only on the row and the query, never on other rows, so a
// row's rank (its sort key) does not move when rows are added, and keyset
// pages stay consistent.
func (s *postgresStore) SearchProducts(ctx context.Context, q SearchQuery) (SearchResult, error) {
	var args []any
	arg := func(v any) string {
		args = append(args, v)
		return "$" + strconv.Itoa(len(args))
	}
	from := "products"
	rank := "0::real"
	conds := []string{"active"}
	if q.Text != "" {
		from = "products, websearch_to_tsquery('english', " + arg(q.Text) + ") AS query"
		rank = "ts_rank(search, query)"
		conds = append(conds, "search @@ query")
	}
	if q.Category != "" {
		conds = append(conds, "category = "+arg(q.Category))
	}
	if q.MinPriceCents != nil {
		conds = append(conds, "price_cents >= "+arg(*q.MinPriceCents))
	}
	if q.MaxPriceCents != nil {
		conds = append(conds, "price_cents <= "+arg(*q.MaxPriceCents))
	}
	where := strings.Join(conds, " AND ")

	var res SearchResult
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM `+from+` WHERE `+where, args...).Scan(&res.Total); err != nil {
		return SearchResult{}, pg.Classify(err)
	}

	order := `name COLLATE "C", id`
	if q.Text != "" {
		order = rank + " DESC, id"
	}
	if c := q.After; c != nil {
		if q.Text != "" {
			r, id := arg(c.Rank), arg(c.ID)
			where += " AND (" + rank + " < " + r + "::real OR (" + rank + " = " + r + "::real AND id > " + id + "::uuid))"
		} else {
			where += ` AND (name COLLATE "C", id) > (` + arg(c.Name) + `::text COLLATE "C", ` + arg(c.ID) + `::uuid)`
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT `+productColumns+`, `+rank+` FROM `+from+
		` WHERE `+where+` ORDER BY `+order+` LIMIT `+arg(q.Limit+1), args...)
	if err != nil {
		return SearchResult{}, pg.Classify(err)
	}
	defer rows.Close()
	res.Products = []Product{}
	var last SearchCursor
	for rows.Next() {
		var r float32
		p, err := scanProduct(rows, &r)
		if err != nil {
			return SearchResult{}, err
		}
		if len(res.Products) == q.Limit {
			// The extra row only says another page exists.
			res.Next = &last
			break
		}
		res.Products = append(res.Products, p)
		last = SearchCursor{Rank: r, Name: p.Name, ID: p.ID}
	}
	return res, pg.Classify(rows.Err())
}

// UpsertProduct is one statement (its own transaction), so a failing row
// cannot abort the rest of an import. xmax = 0 holds only for a freshly
// inserted row version: an ON CONFLICT update leaves the old version's
// xmax set, which is how inserted and updated rows are told apart.
func (s *postgresStore) UpsertProduct(ctx context.Context, p Product) (Product, bool, error) {
	var inserted bool
	out, err := scanProduct(s.db.QueryRowContext(ctx, `INSERT INTO products AS cur (`+productColumns+`)
		VALUES ($1,$2,$3,$4,$5,$6,$7,$8,0,$9,$10,$11,$12)
		ON CONFLICT (sku) DO UPDATE SET
			name = EXCLUDED.name, description = EXCLUDED.description, category = EXCLUDED.category,
			price_cents = EXCLUDED.price_cents, currency = EXCLUDED.currency, stock = EXCLUDED.stock,
			active = EXCLUDED.active, version = cur.version + 1, updated_at = EXCLUDED.updated_at
		WHERE cur.reserved <= EXCLUDED.stock
		RETURNING `+productColumns+`, (xmax = 0)`,
		p.ID, p.SKU, p.Name, p.Description, p.Category, p.PriceCents, p.Currency,
		p.Stock, p.Active, p.Version, p.CreatedAt, p.UpdatedAt), &inserted)
	if errors.Is(err, ErrProductNotFound) {
		// No row back: the SKU exists and the WHERE refused the update
		// because more is reserved than the new stock.
		cur, gerr := scanProduct(s.db.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE sku = $1`, p.SKU))
		if gerr != nil {
			return Product{}, false, gerr
		}
		return Product{}, false, stockBelowReserved(cur.ID, cur.Reserved, p.Stock)
	}
	if err != nil {
		return Product{}, false, err
	}
	return out, inserted, nil
}

func (s *postgresStore) AdjustStock(ctx context.Context, a StockAdjustment, now time.Time) (Product, *StockAdjustment, error) {
	var (
		out   Product
		prior *StockAdjustment
	)
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		prior = nil
		if a.IdempotencyKey != "" {
			// Claiming the key first makes a concurrent repeat wait for us
			// and then see our row instead of adjusting twice.
			res, err := tx.ExecContext(ctx, `INSERT INTO stock_adjustments (idempotency_key, product_id, delta, created_at)
				SELECT $1, id, $3, $4 FROM products WHERE id = $2
				ON CONFLICT (idempotency_key) DO NOTHING`, a.IdempotencyKey, a.ProductID, a.Delta, now)
			if err != nil {
				return pg.Classify(err)
			}
			if n, err := res.RowsAffected(); err != nil {
				return pg.Classify(err)
			} else if n == 0 {
				var got StockAdjustment
				err := tx.QueryRowContext(ctx, `SELECT product_id, delta FROM stock_adjustments WHERE idempotency_key = $1`,
					a.IdempotencyKey).Scan(&got.ProductID, &got.Delta)
				switch {
				case errors.Is(err, sql.ErrNoRows):
					// Not a conflict: the product does not exist.
					return ErrProductNotFound
				case err != nil:
					return pg.Classify(err)
				}
				got.IdempotencyKey = a.IdempotencyKey
				prior = &got
				out, err = scanProduct(tx.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, got.ProductID))
				return err
			}
		}
		var err error
		out, err = scanProduct(tx.QueryRowContext(ctx, `UPDATE products
			SET stock = stock + $2, version = version + 1, updated_at = $3
			WHERE id = $1 AND stock + $2 >= reserved RETURNING `+productColumns, a.ProductID, a.Delta, now))
		if !errors.Is(err, ErrProductNotFound) {
			return err
		}
		// Either no such product or the guard refused: look to tell which.
		cur, err := scanProduct(tx.QueryRowContext(ctx, `SELECT `+productColumns+` FROM products WHERE id = $1`, a.ProductID))
		if err != nil {
			return err
		}
		return insufficientStock(cur.ID, cur.Available(), -a.Delta)
	})
	if err != nil {
		return Product{}, nil, err
	}
	return out, prior, nil
}

const reservationColumns = `id, idempotency_key, status, expires_at, created_at, updated_at`

// reservationRead is what loadReservation's queries select from
// reservations: the row and its items, in product order, in one round
// trip.
const reservationRead = reservationColumns + `,
	ARRAY(SELECT i.product_id::text FROM reservation_items i WHERE i.reservation_id = reservations.id ORDER BY i.product_id),
	ARRAY(SELECT i.quantity FROM reservation_items i WHERE i.reservation_id = reservations.id ORDER BY i.product_id),
	ARRAY(SELECT i.unit_price_cents FROM reservation_items i WHERE i.reservation_id = reservations.id ORDER BY i.product_id),
	ARRAY(SELECT i.currency FROM reservation_items i WHERE i.reservation_id = reservations.id ORDER BY i.product_id)`

// reserveSQL creates a reservation and holds its units in one statement
// (so one transaction, without BEGIN and COMMIT round trips, and the
// product rows locked for one round trip instead of three):
//   - locked takes the products' row locks in id order (see lockProducts);
//   - verdict says whether every item exists, is for sale and is
//     available under those locks;
//   - only then does the reservation row go in; a concurrent repeat of the
//     request (same id or key) waits on its unique index and then inserts
//     nothing, and the caller finds the first one's row;
//   - only if it went in are the items (priced under the locks) recorded
//     and the units held.
//
// It returns one row per locked product (or one row of NULLs when none
// is): the verdict, whether the reservation was created, and the product
// as locked, for the caller's error or prices.
const reserveSQL = `WITH want AS (
		SELECT * FROM unnest($7::uuid[], $8::bigint[]) AS w(id, q)
	), locked AS (
		SELECT id, stock, reserved, active, price_cents, currency FROM products
		WHERE id = ANY($7::uuid[]) ORDER BY id FOR UPDATE
	), verdict AS (
		SELECT COALESCE(bool_and(l.id IS NOT NULL AND l.active AND GREATEST(l.stock - l.reserved, 0) >= w.q), true) AS ok
		FROM want w LEFT JOIN locked l ON l.id = w.id
	), claim AS (
		INSERT INTO reservations (` + reservationColumns + `)
		SELECT $1, $2, $3, $4, $5, $6 FROM verdict WHERE ok
		ON CONFLICT DO NOTHING
		RETURNING id
	), items AS (
		INSERT INTO reservation_items (reservation_id, product_id, quantity, unit_price_cents, currency)
		SELECT c.id, w.id, w.q, l.price_cents, l.currency FROM claim c, want w JOIN locked l ON l.id = w.id
	), held AS (
		UPDATE products p SET reserved = p.reserved + w.q, version = p.version + 1, updated_at = $5
		FROM want w, claim c WHERE p.id = w.id
	)
	SELECT v.ok, EXISTS (SELECT 1 FROM claim), l.id, l.stock, l.reserved, l.active, l.price_cents, l.currency
	FROM verdict v LEFT JOIN locked l ON true`

func (s *postgresStore) Reserve(ctx context.Context, r Reservation) (Reservation, bool, error) {
	ids, qty := itemArrays(stockItems(r.Items))
	rows, err := s.db.QueryContext(ctx, reserveSQL,
		r.ID, r.IdempotencyKey, r.Status.String(), r.ExpiresAt, r.CreatedAt, r.UpdatedAt, pq.Array(ids), pq.Array(qty))
	if err != nil {
		return Reservation{}, false, pg.Classify(err)
	}
	var ok, created bool
	locked := make(map[string]lockedProduct, len(ids))
	err = func() error {
		defer rows.Close()
		for rows.Next() {
			var id sql.NullString
			var p struct {
				stock, reserved, price sql.NullInt64
				active                 sql.NullBool
				currency               sql.NullString
			}
			if err := rows.Scan(&ok, &created, &id, &p.stock, &p.reserved, &p.active, &p.price, &p.currency); err != nil {
				return err
			}
			if id.Valid {
				locked[id.String] = lockedProduct{Stock: p.stock.Int64, Reserved: p.reserved.Int64,
					Active: p.active.Bool, PriceCents: p.price.Int64, Currency: p.currency.String}
			}
		}
		return rows.Err()
	}()
	if err != nil {
		return Reservation{}, false, pg.Classify(err)
	}
	if created {
		held := cloneReservation(r)
		for i, it := range held.Items {
			p := locked[it.ProductID]
			held.Items[i].UnitPriceCents, held.Items[i].Currency = p.PriceCents, p.Currency
		}
		return held, true, nil
	}
	// Not created: a reservation with this id or key exists (a repeat),
	// which answers before any stock check, as it would have had it been
	// inserted first; otherwise an item failed the verdict.
	existing, err := loadReservation(ctx, s.db, `SELECT `+reservationRead+` FROM reservations
		WHERE id = $1 OR idempotency_key = $2 ORDER BY (id = $1) DESC LIMIT 1`, r.ID, r.IdempotencyKey)
	switch {
	case err == nil:
		return existing, false, nil
	case !errors.Is(err, ErrReservationNotFound):
		return Reservation{}, false, err
	case ok:
		// The verdict passed and the row conflicted, yet none is there now:
		// it was deleted in between. Retrying is the caller's call.
		return Reservation{}, false, errs.New(errs.Unavailable, errs.ReasonUnavailable,
			"products: reservation changed concurrently, retry")
	}
	return Reservation{}, false, reserveRefusal(r, locked)
}

// reserveRefusal is why r could not be held: its first item, in request
// order, that is unknown, not for sale or short of stock under locked.
func reserveRefusal(r Reservation, locked map[string]lockedProduct) error {
	for _, it := range r.Items {
		p, ok := locked[it.ProductID]
		switch {
		case !ok:
			return productError(ErrProductNotFound, it.ProductID)
		case !p.Active:
			return productError(ErrProductInactive, it.ProductID)
		case p.Available() < it.Quantity:
			return insufficientStock(it.ProductID, p.Available(), it.Quantity)
		}
	}
	return errs.Internalf(nil, "products: reservation %s refused with every item available", r.ID)
}

type lockedProduct struct {
	Stock, Reserved int64
	Active          bool
	PriceCents      int64
	Currency        string
}

func (p lockedProduct) Available() int64 { return max(p.Stock-p.Reserved, 0) }

// lockProducts takes the row locks of ids in id order. Every transaction
// that locks several products goes through here, so lock order is the same
// everywhere and two of them can wait on each other only one way.
func lockProducts(ctx context.Context, tx *sql.Tx, ids []string) (map[string]lockedProduct, error) {
	rows, err := tx.QueryContext(ctx, `SELECT id, stock, reserved, active, price_cents, currency FROM products
		WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE`, pq.Array(ids))
	if err != nil {
		return nil, pg.Classify(err)
	}
	defer rows.Close()
	out := make(map[string]lockedProduct, len(ids))
	for rows.Next() {
		var id string
		var p lockedProduct
		if err := rows.Scan(&id, &p.Stock, &p.Reserved, &p.Active, &p.PriceCents, &p.Currency); err != nil {
			return nil, pg.Classify(err)
		}
		out[id] = p
	}
	return out, pg.Classify(rows.Err())
}

func (s *postgresStore) TransitionReservation(ctx context.Context, ref ReservationLookup, now time.Time,
	decide func(Reservation) (ReservationStatus, error)) (Reservation, error) {
	query, arg := `SELECT `+reservationRead+` FROM reservations WHERE id = $1 FOR UPDATE`, ref.ID
	if ref.ID == "" {
		query, arg = `SELECT `+reservationRead+` FROM reservations WHERE idempotency_key = $1 FOR UPDATE`, ref.Key
	}
	var out Reservation
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		cur, err := loadReservation(ctx, tx, query, arg)
		if err != nil {
			return err
		}
		to, err := decide(cloneReservation(cur))
		if err != nil {
			return err
		}
		switch {
		case to == cur.Status:
			out = cur
			return nil
		case cur.Status == ReservationExpired && to == ReservationCommitted:
			err = retake(ctx, tx, cur, now)
		case cur.Status != ReservationReserved || to == ReservationReserved:
			return errs.Internalf(errors.New(cur.Status.String()+" -> "+to.String()), "reservation %s: illegal transition", cur.ID)
		default:
			err = settle(ctx, tx, []string{cur.ID}, stockItems(cur.Items), to, now)
		}
		if err != nil {
			return err
		}
		cur.Status, cur.UpdatedAt = to, now
		out = cur
		return nil
	})
	return out, err
}

// settle ends the RESERVED reservations ids, whose items (summed per
// product) are items: committed units leave stock too, any other ending
// only gives the reservation back.
func settle(ctx context.Context, tx *sql.Tx, ids []string, items []StockItem, to ReservationStatus, now time.Time) error {
	pids, qty := itemArrays(items)
	// One statement: the products' row locks in id order (as lockProducts
	// takes them; the update only touches rows the join hands it from
	// locked), the units given back (and, committed, taken out of stock),
	// and the reservations' new status.
	if _, err := tx.ExecContext(ctx, `WITH locked AS (
			SELECT id FROM products WHERE id = ANY($1::uuid[]) ORDER BY id FOR UPDATE
		), units AS (
			UPDATE products SET reserved = reserved - v.q,
				stock = stock - CASE WHEN $3 THEN v.q ELSE 0 END, version = version + 1, updated_at = $4
			FROM locked l JOIN unnest($1::uuid[], $2::bigint[]) AS v(id, q) ON v.id = l.id
			WHERE products.id = l.id
		)
		UPDATE reservations SET status = $6, updated_at = $4 WHERE id = ANY($5::uuid[])`,
		pq.Array(pids), pq.Array(qty), to == ReservationCommitted, now, pq.Array(ids), to.String()); err != nil {
		// A CHECK violation here means the books are out of step: give
		// back more than is held. Refusing keeps them from getting worse.
		return pg.Classify(err)
	}
	return nil
}

// retake commits the EXPIRED reservation r by selling its units again,
// only if every one of them is still available. The row locks make the
// check and the update one step; the reserved <= stock CHECK would refuse
// an oversell even if the check were wrong.
func retake(ctx context.Context, tx *sql.Tx, r Reservation, now time.Time) error {
	items := stockItems(r.Items)
	pids, qty := itemArrays(items)
	locked, err := lockProducts(ctx, tx, pids)
	if err != nil {
		return err
	}
	for _, it := range items {
		p := locked[it.ProductID] // products are never deleted, so it is there
		if p.Available() < it.Quantity {
			return reservationExpired(it.ProductID, p.Available(), it.Quantity)
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE products SET stock = stock - v.q, version = version + 1, updated_at = $3
		FROM unnest($1::uuid[], $2::bigint[]) AS v(id, q) WHERE products.id = v.id`,
		pq.Array(pids), pq.Array(qty), now); err != nil {
		return pg.Classify(err)
	}
	return setStatus(ctx, tx, []string{r.ID}, ReservationCommitted, now)
}

func setStatus(ctx context.Context, tx *sql.Tx, ids []string, to ReservationStatus, now time.Time) error {
	if _, err := tx.ExecContext(ctx, `UPDATE reservations SET status = $2, updated_at = $3 WHERE id = ANY($1::uuid[])`,
		pq.Array(ids), to.String(), now); err != nil {
		return pg.Classify(err)
	}
	return nil
}

func (s *postgresStore) Restock(ctx context.Context, r Restock, now time.Time) ([]Product, *Restock, error) {
	var (
		out   []Product
		prior *Restock
	)
	ids, qty := itemArrays(r.Items)
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		prior = nil
		// Claiming the key first makes a concurrent repeat wait for us
		// and then see our items instead of restocking twice.
		res, err := tx.ExecContext(ctx, `INSERT INTO restocks (idempotency_key, created_at) VALUES ($1, $2)
			ON CONFLICT (idempotency_key) DO NOTHING`, r.IdempotencyKey, now)
		if err != nil {
			return pg.Classify(err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return pg.Classify(err)
		} else if n == 0 {
			rows, err := tx.QueryContext(ctx, `SELECT product_id, quantity FROM restock_items
				WHERE idempotency_key = $1 ORDER BY product_id`, r.IdempotencyKey)
			if err != nil {
				return pg.Classify(err)
			}
			items, err := scanStockItems(rows)
			if err != nil {
				return err
			}
			prior = &Restock{IdempotencyKey: r.IdempotencyKey, Items: items}
			pids, _ := itemArrays(items)
			out, err = queryProducts(ctx, tx, `SELECT `+productColumns+` FROM products WHERE id = ANY($1::uuid[]) ORDER BY id`, pq.Array(pids))
			return err
		}
		locked, err := lockProducts(ctx, tx, ids)
		if err != nil {
			return err
		}
		for _, it := range r.Items {
			if _, ok := locked[it.ProductID]; !ok {
				return productError(ErrProductNotFound, it.ProductID)
			}
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO restock_items (idempotency_key, product_id, quantity)
			SELECT $1, v.id, v.q FROM unnest($2::uuid[], $3::bigint[]) AS v(id, q)`,
			r.IdempotencyKey, pq.Array(ids), pq.Array(qty)); err != nil {
			return pg.Classify(err)
		}
		out, err = queryProducts(ctx, tx, `UPDATE products SET stock = stock + v.q, version = version + 1, updated_at = $3
			FROM unnest($1::uuid[], $2::bigint[]) AS v(id, q) WHERE products.id = v.id
			RETURNING `+qualifiedProductColumns, pq.Array(ids), pq.Array(qty), now)
		if err != nil {
			return err
		}
		slices.SortFunc(out, func(a, b Product) int { return strings.Compare(a.ID, b.ID) })
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	return out, prior, nil
}

// ExpireReservations claims due reservations with SKIP LOCKED: rows another
// reaper (or a commit or release in flight) holds are left to it, so
// reapers on several instances share the work without waiting or
// releasing anything twice.
func (s *postgresStore) ExpireReservations(ctx context.Context, now time.Time, limit int) (int, error) {
	n := 0
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		rows, err := tx.QueryContext(ctx, `SELECT id FROM reservations
			WHERE status = 'RESERVED' AND expires_at <= $1
			ORDER BY expires_at LIMIT $2 FOR UPDATE SKIP LOCKED`, now, limit)
		if err != nil {
			return pg.Classify(err)
		}
		ids, err := scanStrings(rows)
		if err != nil || len(ids) == 0 {
			n = 0
			return err
		}
		rows, err = tx.QueryContext(ctx, `SELECT product_id, sum(quantity)::bigint FROM reservation_items
			WHERE reservation_id = ANY($1::uuid[]) GROUP BY product_id ORDER BY product_id`, pq.Array(ids))
		if err != nil {
			return pg.Classify(err)
		}
		items, err := scanStockItems(rows)
		if err != nil {
			return err
		}
		if err := settle(ctx, tx, ids, items, ReservationExpired, now); err != nil {
			return err
		}
		n = len(ids)
		return nil
	})
	return n, err
}

// HeldReservations counts over reservations_due_idx, the reaper's
// partial index on the RESERVED rows' expiry.
func (s *postgresStore) HeldReservations(ctx context.Context, now time.Time) (int, error) {
	var n int
	err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM reservations
		WHERE status = 'RESERVED' AND expires_at > $1`, now).Scan(&n)
	return n, pg.Classify(err)
}

// GetReservation reads the reservation row and then its items without a
// transaction: items are written with the row, in the transaction that
// creates it, and never change, so a row that is visible has its items.
func (s *postgresStore) GetReservation(ctx context.Context, ref ReservationLookup) (Reservation, error) {
	query, arg := `SELECT `+reservationRead+` FROM reservations WHERE id = $1`, ref.ID
	if ref.ID == "" {
		query, arg = `SELECT `+reservationRead+` FROM reservations WHERE idempotency_key = $1`, ref.Key
	}
	return loadReservation(ctx, s.db, query, arg)
}

// querier is what loadReservation reads with: a transaction that holds the
// row locked, or the pool for a plain read.
type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
	QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error)
}

// loadReservation reads one reservation with a query selecting
// reservationRead.
func loadReservation(ctx context.Context, tx querier, query string, args ...any) (Reservation, error) {
	var r Reservation
	var status string
	var products, currencies []string
	var quantities, prices []int64
	err := tx.QueryRowContext(ctx, query, args...).Scan(&r.ID, &r.IdempotencyKey, &status, &r.ExpiresAt, &r.CreatedAt, &r.UpdatedAt,
		pq.Array(&products), pq.Array(&quantities), pq.Array(&prices), pq.Array(&currencies))
	if errors.Is(err, sql.ErrNoRows) {
		return Reservation{}, ErrReservationNotFound
	}
	if err != nil {
		return Reservation{}, pg.Classify(err)
	}
	var ok bool
	if r.Status, ok = parseReservationStatus(status); !ok {
		return Reservation{}, errs.Internalf(errors.New(status), "reservation %s: unknown status", r.ID)
	}
	r.ExpiresAt, r.CreatedAt, r.UpdatedAt = r.ExpiresAt.UTC(), r.CreatedAt.UTC(), r.UpdatedAt.UTC()
	if len(quantities) != len(products) || len(prices) != len(products) || len(currencies) != len(products) {
		return Reservation{}, errs.Internalf(nil, "reservation %s: item columns of different lengths", r.ID)
	}
	for i, id := range products {
		r.Items = append(r.Items, ReservationItem{ProductID: id, Quantity: quantities[i],
			UnitPriceCents: prices[i], Currency: currencies[i]})
	}
	return r, nil
}

func scanStockItems(rows *sql.Rows) ([]StockItem, error) {
	defer rows.Close()
	var out []StockItem
	for rows.Next() {
		var it StockItem
		if err := rows.Scan(&it.ProductID, &it.Quantity); err != nil {
			return nil, pg.Classify(err)
		}
		out = append(out, it)
	}
	return out, pg.Classify(rows.Err())
}

func scanStrings(rows *sql.Rows) ([]string, error) {
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, pg.Classify(err)
		}
		out = append(out, s)
	}
	return out, pg.Classify(rows.Err())
}

// stockItems is what a reservation holds, without its prices.
func stockItems(items []ReservationItem) []StockItem {
	out := make([]StockItem, len(items))
	for i, it := range items {
		out[i] = StockItem{ProductID: it.ProductID, Quantity: it.Quantity}
	}
	return out
}

func itemArrays(items []StockItem) ([]string, []int64) {
	ids := make([]string, len(items))
	qty := make([]int64, len(items))
	for i, it := range items {
		ids[i], qty[i] = it.ProductID, it.Quantity
	}
	return ids, qty
}

func (s *postgresStore) Check(ctx context.Context) error { return pg.Check(s.db)(ctx) }

func (s *postgresStore) Close() error { return s.db.Close() }
