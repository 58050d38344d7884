-- ListPayments walks every payment in (created_at, id) order, a page at a
-- time, for the orders consistency checker.
CREATE INDEX payments_created_idx ON payments (created_at, id);
