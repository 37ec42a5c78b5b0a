-- Nothing looks deliveries up by lease (completions and deferrals go by id, then check
-- the lease), and every claim and completion paid to keep this index up to date.
DROP INDEX IF EXISTS deliveries_lease;
