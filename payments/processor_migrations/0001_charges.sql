-- The simulated card processor's own record: one row per final decision,
-- keyed by the idempotency key payments sent. It stands for an external
-- system's database and lives in its own schema; payments never reads it.
-- Only the card's last four digits are kept.

CREATE TABLE charges (
    seq             bigserial   NOT NULL UNIQUE,
    idempotency_key text        PRIMARY KEY,
    outcome         text        NOT NULL CHECK (outcome IN ('APPROVED', 'DECLINED')),
    code            text        NOT NULL DEFAULT '',
    amount_cents    bigint      NOT NULL CHECK (amount_cents > 0),
    currency        text        NOT NULL,
    card_last4      text        NOT NULL,
    created_at      timestamptz NOT NULL
);
