-- Each reserved item records the product's unit price and currency at the
-- moment it was reserved: the order copies its prices from the
-- reservation, so a price change during checkout never alters what the
-- customer is charged.
ALTER TABLE reservation_items
    ADD COLUMN unit_price_cents bigint CHECK (unit_price_cents >= 0),
    ADD COLUMN currency         text   CHECK (currency ~ '^[A-Z]{3}$');

-- Reservations made before this migration never recorded a price; the
-- product's current one is the closest record there is.
UPDATE reservation_items AS ri
   SET unit_price_cents = p.price_cents, currency = p.currency
  FROM products AS p
 WHERE p.id = ri.product_id;

ALTER TABLE reservation_items
    ALTER COLUMN unit_price_cents SET NOT NULL,
    ALTER COLUMN currency SET NOT NULL;

-- Idempotent restocks (RestockItems): the units of a cancelled order coming
-- back. The key is claimed first, so a concurrent repeat waits for the
-- first and then finds its items instead of restocking twice.
CREATE TABLE restocks (
    idempotency_key text        PRIMARY KEY,
    created_at      timestamptz NOT NULL
);

CREATE TABLE restock_items (
    idempotency_key text   NOT NULL REFERENCES restocks (idempotency_key) ON DELETE CASCADE,
    product_id      uuid   NOT NULL REFERENCES products (id),
    quantity        bigint NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (idempotency_key, product_id)
);
