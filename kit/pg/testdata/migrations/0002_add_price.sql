-- Two statements in one file: Migrate must run them together.
ALTER TABLE items ADD COLUMN price_cents bigint NOT NULL DEFAULT 0;
ALTER TABLE items ADD CONSTRAINT items_price_nonnegative CHECK (price_cents >= 0);
