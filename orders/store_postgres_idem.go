package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"

	"github.com/kitshop/kitshop/kit/errs"
	"github.com/kitshop/kitshop/kit/pg"
)

// errIdemNotFound: an idempotency record that CompleteIdempotent or
// LockIdempotent was asked about is gone (purged, or never claimed).
var errIdemNotFound = errs.New(errs.NotFound, errs.ReasonNotFound, "idempotency record not found")

const idemColumns = `user_id, key, fingerprint, order_id, complete, response, locked_until, expires_at, created_at`

func scanIdem(r pg.Scanner) (IdemRecord, error) {
	var (
		rec  IdemRecord
		resp []byte
	)
	if err := r.Scan(&rec.UserID, &rec.Key, &rec.Fingerprint, &rec.OrderID, &rec.Complete, &resp,
		&rec.LockedUntil, &rec.ExpiresAt, &rec.CreatedAt); err != nil {
		return IdemRecord{}, err
	}
	if resp != nil {
		rec.Response = json.RawMessage(resp)
	}
	rec.LockedUntil, rec.ExpiresAt, rec.CreatedAt = rec.LockedUntil.UTC(), rec.ExpiresAt.UTC(), rec.CreatedAt.UTC()
	return rec, nil
}

func loadIdem(ctx context.Context, q queryer, userID, key string) (IdemRecord, error) {
	rec, err := scanIdem(q.QueryRowContext(ctx,
		`SELECT `+idemColumns+` FROM idempotency_keys WHERE user_id = $1 AND key = $2`, userID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return IdemRecord{}, errIdemNotFound
	}
	return rec, err
}

func (s *postgresStore) CompleteIdempotent(ctx context.Context, userID, key string, response json.RawMessage, now time.Time) error {
	userID, ok := canonID(userID)
	if !ok {
		return errIdemNotFound
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	// A completed record keeps its first answer: replays must be identical.
	res, err := s.db.ExecContext(ctx, `UPDATE idempotency_keys SET complete = true, response = $3, locked_until = $4
		WHERE user_id = $1 AND key = $2 AND NOT complete`, userID, key, string(response), now)
	if err != nil {
		return classify(err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return classify(err)
	}
	_, err = loadIdem(ctx, s.db, userID, key)
	return classify(err)
}

func (s *postgresStore) LockIdempotent(ctx context.Context, userID, key string, now, until time.Time) (IdemRecord, bool, error) {
	userID, ok := canonID(userID)
	if !ok {
		return IdemRecord{}, false, errIdemNotFound
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	// One statement: of two repeats that find the lock expired, one takes it.
	rec, err := scanIdem(s.db.QueryRowContext(ctx, `UPDATE idempotency_keys SET locked_until = $4
		WHERE user_id = $1 AND key = $2 AND locked_until <= $3 AND NOT complete
		RETURNING `+idemColumns, userID, key, now, until))
	if err == nil {
		return rec, true, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return IdemRecord{}, false, classify(err)
	}
	rec, err = loadIdem(ctx, s.db, userID, key)
	if err != nil {
		return IdemRecord{}, false, classify(err)
	}
	return rec, false, nil
}

// purgeBatch bounds one DELETE of PurgeIdempotent, so a backlog is cleared
// in short statements that hold few locks, not one long one.
const purgeBatch = 1000

// PurgeIdempotent bounds each batch (bound), and the whole purge only by
// ctx: a backlog takes as many batches as the caller allows.
func (s *postgresStore) PurgeIdempotent(ctx context.Context, now time.Time) (int, error) {
	total := 0
	for {
		n, err := s.deleteExpiredBatch(ctx, now)
		if err != nil {
			return total, classify(err)
		}
		total += int(n)
		if n < purgeBatch {
			return total, nil
		}
	}
}

func (s *postgresStore) deleteExpiredBatch(ctx context.Context, now time.Time) (int64, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	res, err := s.db.ExecContext(ctx, `DELETE FROM idempotency_keys WHERE (user_id, key) IN (
		SELECT user_id, key FROM idempotency_keys WHERE expires_at <= $1 LIMIT $2)`, now, purgeBatch)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}
