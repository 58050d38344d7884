-- Catalog and inventory. available = stock - reserved is never stored; the
-- CHECKs make "never below zero" a property of the data, not just the code.
CREATE TABLE products (
    id          uuid PRIMARY KEY,
    sku         text        NOT NULL,
    name        text        NOT NULL,
    description text        NOT NULL DEFAULT '',
    category    text        NOT NULL DEFAULT '',
    price_cents bigint      NOT NULL CHECK (price_cents >= 0),
    currency    text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    stock       bigint      NOT NULL CHECK (stock >= 0),
    reserved    bigint      NOT NULL DEFAULT 0 CHECK (reserved >= 0),
    active      boolean     NOT NULL DEFAULT true,
    -- Bumped by every UPDATE; stock watchers drop levels older than one
    -- they already sent.
    version     bigint      NOT NULL DEFAULT 1,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    -- Name matches rank above category, above description.
    search      tsvector GENERATED ALWAYS AS (
                    setweight(to_tsvector('english', name), 'A') ||
                    setweight(to_tsvector('english', category), 'B') ||
                    setweight(to_tsvector('english', description), 'C')) STORED,
    CONSTRAINT products_sku_key UNIQUE (sku),
    CONSTRAINT products_reserved_within_stock CHECK (reserved <= stock)
);

CREATE INDEX products_search_idx ON products USING gin (search);
-- Keyset pagination of searches without a query: ORDER BY name, id with a
-- byte-wise collation, which both stores share.
CREATE INDEX products_name_id_idx ON products ((name COLLATE "C"), id);
CREATE INDEX products_category_idx ON products (category);

-- One row per reservation; id is the caller's (the order id).
CREATE TABLE reservations (
    id              uuid PRIMARY KEY,
    idempotency_key text        NOT NULL,
    status          text        NOT NULL CHECK (status IN ('RESERVED', 'COMMITTED', 'RELEASED', 'EXPIRED')),
    expires_at      timestamptz NOT NULL,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    CONSTRAINT reservations_idempotency_key_key UNIQUE (idempotency_key)
);

-- What the reaper scans: only open reservations, oldest expiry first.
CREATE INDEX reservations_due_idx ON reservations (expires_at) WHERE status = 'RESERVED';

CREATE TABLE reservation_items (
    reservation_id uuid   NOT NULL REFERENCES reservations (id) ON DELETE CASCADE,
    product_id     uuid   NOT NULL REFERENCES products (id),
    quantity       bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (reservation_id, product_id)
);

-- Keys of idempotent admin stock adjustments.
CREATE TABLE stock_adjustments (
    idempotency_key text PRIMARY KEY,
    product_id      uuid        NOT NULL REFERENCES products (id),
    delta           bigint      NOT NULL,
    created_at      timestamptz NOT NULL
);

-- Every committed change of stock or reserved is announced to LISTENers of
-- kitshop_products_stock (NOTIFY is delivered on commit only, in commit
-- order), so stock watchers on every instance see every change.
CREATE FUNCTION notify_stock_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('kitshop_products_stock', json_build_object(
        'id', NEW.id, 'stock', NEW.stock, 'reserved', NEW.reserved,
        'version', NEW.version, 'at', NEW.updated_at)::text);
    RETURN NULL;
END
$$;

CREATE TRIGGER products_stock_notify
    AFTER UPDATE OF stock, reserved ON products
    FOR EACH ROW
    WHEN (OLD.stock IS DISTINCT FROM NEW.stock OR OLD.reserved IS DISTINCT FROM NEW.reserved)
    EXECUTE FUNCTION notify_stock_change();
