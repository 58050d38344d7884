package main

import (
	"context"
	"database/sql"
	"hash/fnv"
	"strconv"

	"github.com/lib/pq"

	"github.com/kitshop/kitshop/kit/pg"
)

// eventsChannel is the NOTIFY channel a relay signals on.
const eventsChannel = "orders_events"

// relayLockKey is the advisory lock that makes one relay run at a time
// across instances. The namespace prefix keeps it away from other users
// of advisory locks (kit/pg.Migrate, other services' keys).
var relayLockKey = func() int64 {
	h := fnv.New64a()
	h.Write([]byte("kitshop/orders.relay"))
	return int64(h.Sum64())
}()

func (s *postgresStore) RelayEvents(ctx context.Context, limit int) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	var moved int
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		moved = 0
		// Try, not wait: a relay that finds another one running has
		// nothing to do that the other is not doing.
		var got bool
		if err := tx.QueryRowContext(ctx, `SELECT pg_try_advisory_xact_lock($1)`, relayLockKey).Scan(&got); err != nil || !got {
			return err
		}
		// Read under the lock, in a statement after taking it: the previous
		// relay's commit is visible, so offsets continue densely.
		var head int64
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(max(event_offset), 0) FROM order_events`).Scan(&head); err != nil {
			return err
		}
		var last int64
		if err := tx.QueryRowContext(ctx, `WITH batch AS (
				DELETE FROM outbox WHERE id IN (SELECT id FROM outbox ORDER BY id LIMIT $2)
				RETURNING id, order_id, user_id, status, reason, created_at
			), appended AS (
				INSERT INTO order_events (event_offset, order_id, user_id, status, reason, created_at)
				SELECT $1 + row_number() OVER (ORDER BY id), order_id, user_id, status, reason, created_at
				FROM batch
				RETURNING event_offset
			)
			SELECT count(*), COALESCE(max(event_offset), 0) FROM appended`, head, limit).Scan(&moved, &last); err != nil {
			return err
		}
		if moved == 0 {
			return nil
		}
		// Delivered when this transaction commits, never before: a
		// listener woken by it finds the events in place.
		_, err := tx.ExecContext(ctx, `SELECT pg_notify($1, $2)`, eventsChannel, strconv.FormatInt(last, 10))
		return err
	})
	if err != nil {
		return 0, classify(err)
	}
	if moved > 0 {
		// This instance's waiters need not wait for the round trip.
		s.notify.broadcast()
	}
	return moved, nil
}

const eventColumns = `event_offset, order_id, user_id, status, reason, created_at`

func scanEvent(r pg.Scanner) (Event, error) {
	var ev Event
	err := r.Scan(&ev.Offset, &ev.OrderID, &ev.UserID, &ev.Status, &ev.Reason, &ev.CreatedAt)
	ev.CreatedAt = ev.CreatedAt.UTC()
	return ev, err
}

func readEvents(ctx context.Context, q queryer, after int64, orderID string, limit int) ([]Event, error) {
	if orderID == "" {
		return collect(ctx, q, scanEvent, `SELECT `+eventColumns+` FROM order_events
			WHERE event_offset > $1 ORDER BY event_offset LIMIT $2`, after, limit)
	}
	return collect(ctx, q, scanEvent, `SELECT `+eventColumns+` FROM order_events
		WHERE order_id = $3 AND event_offset > $1 ORDER BY event_offset LIMIT $2`, after, limit, orderID)
}

func (s *postgresStore) Events(ctx context.Context, after int64, orderID string, limit int) ([]Event, error) {
	if orderID != "" {
		id, ok := canonID(orderID)
		if !ok {
			return nil, nil
		}
		orderID = id
	}
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	evs, err := readEvents(ctx, s.db, after, orderID, limit)
	return evs, classify(err)
}

func (s *postgresStore) ConsumeEvents(ctx context.Context, consumer string, limit int, handle func(batch []Event) ([]Notification, error)) (int, error) {
	if limit <= 0 {
		return 0, nil
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	var handed int
	// handle runs inside the transaction; pg.InTx runs it again if the
	// transaction loses a serialization race, so it must only compute.
	err := pg.InTx(ctx, s.db, func(tx *sql.Tx) error {
		handed = 0
		if _, err := tx.ExecContext(ctx, `INSERT INTO event_consumers (name, event_offset, updated_at)
			VALUES ($1, 0, now()) ON CONFLICT (name) DO NOTHING`, consumer); err != nil {
			return err
		}
		// The row lock makes a second worker under the same name wait, and
		// then start from the offset this one stores: no batch twice.
		var offset int64
		if err := tx.QueryRowContext(ctx, `SELECT event_offset FROM event_consumers WHERE name = $1 FOR UPDATE`,
			consumer).Scan(&offset); err != nil {
			return err
		}
		batch, err := readEvents(ctx, tx, offset, "", limit)
		if err != nil || len(batch) == 0 {
			return err
		}
		notes, err := handle(batch)
		if err != nil {
			return err
		}
		if err := insertNotifications(ctx, tx, notes); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE event_consumers SET event_offset = $2, updated_at = now()
			WHERE name = $1`, consumer, batch[len(batch)-1].Offset); err != nil {
			return err
		}
		handed = len(batch)
		return nil
	})
	if err != nil {
		return 0, classify(err)
	}
	return handed, nil
}

func insertNotifications(ctx context.Context, tx *sql.Tx, notes []Notification) error {
	if len(notes) == 0 {
		return nil
	}
	n := len(notes)
	offsets := make([]int64, n)
	orders, users, kinds, messages := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	created := make([]string, n)
	for i, nt := range notes {
		offsets[i], orders[i], users[i], kinds[i], messages[i] = nt.Offset, nt.OrderID, nt.UserID, nt.Kind, nt.Message
		created[i] = nt.CreatedAt.UTC().Format("2006-01-02T15:04:05.999999999Z07:00")
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO notifications (event_offset, order_id, user_id, kind, message, created_at)
		SELECT * FROM unnest($1::bigint[], $2::uuid[], $3::uuid[], $4::text[], $5::text[], $6::timestamptz[])`,
		pq.Array(offsets), pq.Array(orders), pq.Array(users), pq.Array(kinds), pq.Array(messages), pq.Array(created))
	return err
}

func (s *postgresStore) Notifications(ctx context.Context, after int64, limit int) ([]Notification, error) {
	if limit <= 0 {
		return nil, nil
	}
	ctx, cancel := bound(ctx)
	defer cancel()
	notes, err := collect(ctx, s.db, func(r pg.Scanner) (Notification, error) {
		var n Notification
		err := r.Scan(&n.Offset, &n.OrderID, &n.UserID, &n.Kind, &n.Message, &n.CreatedAt)
		n.CreatedAt = n.CreatedAt.UTC()
		return n, err
	}, `SELECT event_offset, order_id, user_id, kind, message, created_at FROM notifications
		WHERE event_offset > $1 ORDER BY event_offset LIMIT $2`, after, limit)
	return notes, classify(err)
}

func (s *postgresStore) ConsumerOffset(ctx context.Context, consumer string) (int64, error) {
	ctx, cancel := bound(ctx)
	defer cancel()
	var offset int64
	err := s.db.QueryRowContext(ctx, `SELECT event_offset FROM event_consumers WHERE name = $1`, consumer).Scan(&offset)
	if err == sql.ErrNoRows {
		return 0, nil
	}
	return offset, classify(err)
}
