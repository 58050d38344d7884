-- Payments and their ledger. Only a card's brand and last four digits are
-- ever stored: no full number, no CVC, no expiry.

CREATE TABLE payments (
    id              uuid        PRIMARY KEY,
    order_id        uuid        NOT NULL,
    user_id         uuid        NOT NULL,
    amount_cents    bigint      NOT NULL CHECK (amount_cents > 0),
    currency        text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    status          text        NOT NULL CHECK (status IN ('CAPTURED', 'DECLINED', 'FAILED', 'REFUNDED')),
    card_brand      text        NOT NULL,
    card_last4      text        NOT NULL CHECK (card_last4 ~ '^[0-9]{4}$'),
    decline_code    text        NOT NULL DEFAULT '',
    refunded_cents  bigint      NOT NULL DEFAULT 0,
    -- One payment per charge key, whatever races: a retried charge can
    -- never create a second payment.
    idempotency_key text        NOT NULL CONSTRAINT payments_idempotency_key_key UNIQUE,
    created_at      timestamptz NOT NULL,
    updated_at      timestamptz NOT NULL,
    -- Refunds never exceed what was captured, and only captured money is
    -- refunded; REFUNDED means refunded in full.
    CONSTRAINT payments_refund_range CHECK (refunded_cents >= 0 AND refunded_cents <= amount_cents),
    CONSTRAINT payments_refund_status CHECK (
        (status = 'REFUNDED' AND refunded_cents = amount_cents)
        OR (status = 'CAPTURED' AND refunded_cents < amount_cents)
        OR (status IN ('DECLINED', 'FAILED') AND refunded_cents = 0))
);

CREATE INDEX payments_order_id_idx ON payments (order_id);

-- The ledger: one row per state change of a payment, written in the same
-- transaction as the change. Append-only (see the triggers below).
CREATE TABLE payment_events (
    seq             bigserial   PRIMARY KEY,
    payment_id      uuid        NOT NULL REFERENCES payments (id),
    type            text        NOT NULL CHECK (type IN ('CHARGED', 'DECLINED', 'FAILED', 'REFUNDED')),
    amount_cents    bigint      NOT NULL CHECK (amount_cents >= 0),
    -- What a refund asked for (0 = the rest), to tell a repeat from a
    -- different refund under the same key.
    requested_cents bigint      NOT NULL DEFAULT 0 CHECK (requested_cents >= 0),
    idempotency_key text        NOT NULL,
    reason          text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL
);

CREATE INDEX payment_events_payment_idx ON payment_events (payment_id, seq);

-- A refund key refunds once, for one payment, however refunds race.
-- Charge events share their charge's key (an attempt that failed, then a
-- retry), so only refunds are unique.
CREATE UNIQUE INDEX payment_events_refund_key ON payment_events (idempotency_key) WHERE type = 'REFUNDED';

-- Records are evidence: the ledger never changes and payments are never
-- deleted. Triggers hold even for the table owner and superusers, which
-- REVOKE does not.
CREATE FUNCTION payments_reject_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% on %.% is not allowed: payment records are permanent', TG_OP, TG_TABLE_SCHEMA, TG_TABLE_NAME
        USING ERRCODE = 'integrity_constraint_violation';
END
$$;

CREATE TRIGGER payment_events_append_only
    BEFORE UPDATE OR DELETE ON payment_events
    FOR EACH ROW EXECUTE FUNCTION payments_reject_change();

CREATE TRIGGER payment_events_no_truncate
    BEFORE TRUNCATE ON payment_events
    FOR EACH STATEMENT EXECUTE FUNCTION payments_reject_change();

CREATE TRIGGER payments_no_delete
    BEFORE DELETE ON payments
    FOR EACH ROW EXECUTE FUNCTION payments_reject_change();

CREATE TRIGGER payments_no_truncate
    BEFORE TRUNCATE ON payments
    FOR EACH STATEMENT EXECUTE FUNCTION payments_reject_change();
