-- To check these two references, every delivery inserted and every attempt recorded
-- locked its message's row FOR KEY SHARE: a write, with its WAL record, to a row that
-- is otherwise never updated once inserted. Without them PostgreSQL spent about 12%
-- less CPU per message in a two-node run (docs/BENCHMARKS.md, session 13).
--
-- Messages are deleted only with their application, and deleting an application now
-- deletes its messages' attempts and deliveries itself, in one transaction that first
-- holds the application's row, so no message for it can be added meanwhile (the
-- reference from messages to applications is still checked). Deliveries keep their
-- checked reference to endpoints, whose deletion still cascades to them.
ALTER TABLE deliveries DROP CONSTRAINT deliveries_msg_id_fkey;
ALTER TABLE attempts DROP CONSTRAINT attempts_msg_id_fkey;
