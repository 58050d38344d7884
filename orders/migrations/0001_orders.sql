-- Orders, their sagas, the order event stream and idempotency keys: one
-- schema, so that a saga's state and the order it projects onto are
-- written in one transaction. Money is integer minor units; every
-- status is text with a CHECK, so a typo in code fails loudly.

CREATE TABLE orders (
    id               uuid        PRIMARY KEY,
    user_id          uuid        NOT NULL,
    status           text        NOT NULL CHECK (status IN
                         ('PENDING', 'CONFIRMED', 'SHIPPED', 'CANCELLED', 'REQUIRES_ATTENTION')),
    -- kit/valid.MaxAmountCents per line keeps a total far below overflow.
    total_cents      bigint      NOT NULL CHECK (total_cents >= 0),
    -- Empty only until prices are known.
    currency         text        NOT NULL CHECK (currency = '' OR currency ~ '^[A-Z]{3}$'),
    ship_line1       text        NOT NULL,
    ship_line2       text        NOT NULL DEFAULT '',
    ship_city        text        NOT NULL,
    ship_state       text        NOT NULL DEFAULT '',
    ship_postal_code text        NOT NULL,
    ship_country     text        NOT NULL,
    payment_id       text        NOT NULL DEFAULT '',
    failure_reason   text        NOT NULL DEFAULT '',
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);

-- A user's orders newest first, in keyset pages (ListOrders).
CREATE INDEX orders_user_created_idx ON orders (user_id, created_at DESC, id DESC);

CREATE TABLE order_items (
    order_id         uuid   NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    -- The line's position in the request, so an order reads back as placed.
    line             int    NOT NULL CHECK (line >= 0),
    product_id       uuid   NOT NULL,
    sku              text   NOT NULL,
    name             text   NOT NULL,
    quantity         bigint NOT NULL CHECK (quantity > 0),
    unit_price_cents bigint NOT NULL CHECK (unit_price_cents >= 0),
    line_total_cents bigint NOT NULL CHECK (line_total_cents >= 0),
    PRIMARY KEY (order_id, line),
    CONSTRAINT order_items_one_line_per_product UNIQUE (order_id, product_id)
);

-- Saga states for kit/saga. version, the lease and status are columns (the
-- store's conditions read them); state is the rest of saga.State.
CREATE TABLE sagas (
    -- Text, not uuid: kit/saga ids are opaque strings (the contract suite
    -- uses "s1"); orders' own ids are UUIDs.
    id           text        PRIMARY KEY,
    -- NULL only for sagas created without an order (the contract suite).
    order_id     uuid        REFERENCES orders (id) ON DELETE CASCADE,
    kind         text        NOT NULL CHECK (kind IN ('checkout', 'cancel')),
    definition   text        NOT NULL,
    status       text        NOT NULL CHECK (status IN
                     ('running', 'compensating', 'succeeded', 'compensated', 'requires_attention')),
    state        jsonb       NOT NULL,
    version      bigint      NOT NULL CHECK (version >= 0),
    lease_owner  text        NOT NULL DEFAULT '',
    -- NULL while nobody ever held the lease.
    lease_expiry timestamptz,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL
);

-- One checkout and at most one cancel saga per order, whatever races.
CREATE UNIQUE INDEX sagas_one_per_kind_idx ON sagas (order_id, kind) WHERE order_id IS NOT NULL;

-- The resume loop's scan (ListClaimableSagas): unfinished sagas are few
-- (those in flight), so a partial index in the scan's order stays small
-- however many orders there are; the lease columns ride along.
CREATE INDEX sagas_claimable_idx ON sagas (updated_at, id) INCLUDE (lease_owner, lease_expiry)
    WHERE status IN ('running', 'compensating');

-- The debug listing of failed and attention sagas, newest first.
CREATE INDEX sagas_status_updated_idx ON sagas (status, updated_at DESC, id DESC);

-- Status changes not yet relayed, written in the transaction that makes
-- the change; RelayEvents moves them to order_events in id order.
CREATE TABLE outbox (
    id         bigserial   PRIMARY KEY,
    order_id   uuid        NOT NULL,
    user_id    uuid        NOT NULL,
    status     text        NOT NULL CHECK (status IN
                   ('PENDING', 'CONFIRMED', 'SHIPPED', 'CANCELLED', 'REQUIRES_ATTENTION')),
    reason     text        NOT NULL DEFAULT '',
    created_at timestamptz NOT NULL
);

-- The durable event stream: offsets are dense (1, 2, ...) and assigned by
-- the one relay that holds the advisory lock, so a reader never sees n+1
-- before n. Append-only (triggers below).
CREATE TABLE order_events (
    event_offset bigint      PRIMARY KEY CHECK (event_offset > 0),
    order_id     uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    status       text        NOT NULL CHECK (status IN
                     ('PENDING', 'CONFIRMED', 'SHIPPED', 'CANCELLED', 'REQUIRES_ATTENTION')),
    reason       text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL
);

-- WatchOrder reads one order's events.
CREATE INDEX order_events_order_idx ON order_events (order_id, event_offset);

-- Each consumer's position in order_events.
CREATE TABLE event_consumers (
    name         text        PRIMARY KEY,
    event_offset bigint      NOT NULL DEFAULT 0 CHECK (event_offset >= 0),
    updated_at   timestamptz NOT NULL
);

-- What the notification worker made of each event, written in the
-- transaction that advances its offset: one row per event, never two.
CREATE TABLE notifications (
    event_offset bigint      PRIMARY KEY REFERENCES order_events (event_offset),
    order_id     uuid        NOT NULL,
    user_id      uuid        NOT NULL,
    kind         text        NOT NULL,
    message      text        NOT NULL,
    created_at   timestamptz NOT NULL
);

-- Idempotency-Key records of PlaceOrder, scoped to the user.
CREATE TABLE idempotency_keys (
    user_id      uuid        NOT NULL,
    -- kit/valid.MaxIdempotencyKey.
    key          text        NOT NULL CHECK (octet_length(key) BETWEEN 1 AND 200),
    fingerprint  text        NOT NULL,
    order_id     uuid        NOT NULL,
    complete     boolean     NOT NULL DEFAULT false,
    -- json, not jsonb: a replay must return the stored bytes exactly.
    response     json,
    locked_until timestamptz NOT NULL,
    expires_at   timestamptz NOT NULL,
    created_at   timestamptz NOT NULL,
    PRIMARY KEY (user_id, key),
    CONSTRAINT idempotency_keys_complete_has_response CHECK (NOT complete OR response IS NOT NULL)
);

-- PurgeIdempotent's scan.
CREATE INDEX idempotency_keys_expires_idx ON idempotency_keys (expires_at);

CREATE FUNCTION orders_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on %.% is not allowed: the order event log is append-only', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER order_events_append_only
    BEFORE UPDATE OR DELETE ON order_events
    FOR EACH ROW EXECUTE FUNCTION orders_reject_change();

CREATE TRIGGER order_events_no_truncate
    BEFORE TRUNCATE ON order_events
    FOR EACH STATEMENT EXECUTE FUNCTION orders_reject_change();
