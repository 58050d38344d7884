-- A charge is recorded as PENDING before the processor is called, and its
-- outcome after: a crash in between leaves a PENDING payment that a retry
-- or the recovery job settles by asking the processor. Each attempt writes
-- an ATTEMPTED ledger entry.

ALTER TABLE payments DROP CONSTRAINT payments_status_check;
ALTER TABLE payments ADD CONSTRAINT payments_status_check
    CHECK (status IN ('PENDING', 'CAPTURED', 'DECLINED', 'FAILED', 'REFUNDED'));

ALTER TABLE payments DROP CONSTRAINT payments_refund_status;
ALTER TABLE payments ADD CONSTRAINT payments_refund_status CHECK (
    (status = 'REFUNDED' AND refunded_cents = amount_cents)
    OR (status = 'CAPTURED' AND refunded_cents < amount_cents)
    OR (status IN ('PENDING', 'DECLINED', 'FAILED') AND refunded_cents = 0));

-- kit/valid.MaxAmountCents. NOT VALID: rows written before the cap are
-- left alone; every new or updated row is checked.
ALTER TABLE payments ADD CONSTRAINT payments_amount_max CHECK (amount_cents <= 10000000000) NOT VALID;

ALTER TABLE payment_events DROP CONSTRAINT payment_events_type_check;
ALTER TABLE payment_events ADD CONSTRAINT payment_events_type_check
    CHECK (type IN ('ATTEMPTED', 'CHARGED', 'DECLINED', 'FAILED', 'REFUNDED'));

-- The recovery job's scan: PENDING rows are few, so a partial index keeps
-- it cheap however many payments there are.
CREATE INDEX payments_pending_idx ON payments (updated_at, id) WHERE status = 'PENDING';
