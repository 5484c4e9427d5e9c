-- 0002_separated_queue_constraints.sql - foreign keys and the status
-- CHECK on both separated queue tables, added NOT VALID.
--
-- NOT VALID makes the ALTER a catalog change: no scan of existing rows
-- while holding the lock (SHARE ROW EXCLUSIVE on the queue table and the
-- referenced table), yet every new or updated row is checked from the
-- moment this commits.  0003 validates the existing rows separately,
-- under SHARE UPDATE EXCLUSIVE, which does not block the app.
--
-- The relations:
--   user_id           -> user_call_scores(user_id)  ON DELETE CASCADE
--	A queue entry means nothing without its user; RESTRICT would make
--	the app's deletion of a user fail the way call_sessions makes
--	call_queue deletions fail today.
--   assigned_to_agent -> agents(id)                 ON DELETE SET NULL
--   callback_id       -> callbacks(id)              ON DELETE SET NULL
--   all ON UPDATE CASCADE, as Prisma declares relations.
--
-- Idempotent: a constraint is added only when the table has none like it
-- (same name, or a foreign key on the same column to the same table).

DO $$
DECLARE
	r	record;
BEGIN
	FOR r IN
		SELECT t.tbl, f.col, f.ref, f.refcol, f.action,
		    t.tbl || '_' || f.col || '_fkey' AS conname
		FROM (VALUES ('unsigned_users_queue'),
		    ('outstanding_requests_queue')) AS t(tbl)
		CROSS JOIN (VALUES
		    ('user_id', 'user_call_scores', 'user_id', 'CASCADE'),
		    ('assigned_to_agent', 'agents', 'id', 'SET NULL'),
		    ('callback_id', 'callbacks', 'id', 'SET NULL'))
		    AS f(col, ref, refcol, action)
		ORDER BY 1, 2
	LOOP
		IF EXISTS (
			SELECT 1 FROM pg_constraint AS c
			WHERE c.conrelid = r.tbl::regclass AND (
			    c.conname = r.conname OR (c.contype = 'f'
			    AND c.confrelid = r.ref::regclass
			    AND c.conkey = ARRAY[(SELECT a.attnum
				FROM pg_attribute AS a
				WHERE a.attrelid = r.tbl::regclass
				    AND a.attname = r.col)])))
		THEN
			CONTINUE;
		END IF;
		EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (%I) '
		    'REFERENCES %I (%I) ON DELETE %s ON UPDATE CASCADE NOT VALID',
		    r.tbl, r.conname, r.col, r.ref, r.refcol, r.action);
	END LOOP;

	FOR r IN
		SELECT t.tbl, t.tbl || '_status_check' AS conname
		FROM (VALUES ('unsigned_users_queue'),
		    ('outstanding_requests_queue')) AS t(tbl)
	LOOP
		IF NOT EXISTS (SELECT 1 FROM pg_constraint AS c
		    WHERE c.conrelid = r.tbl::regclass
			AND c.conname = r.conname) THEN
			EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I CHECK '
			    '(status IN (''pending'', ''assigned'', ''skipped'', '
			    '''completed'', ''inactive'', ''superseded'')) '
			    'NOT VALID', r.tbl, r.conname);
		END IF;
	END LOOP;
END
$$;
