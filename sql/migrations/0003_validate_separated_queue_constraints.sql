-- 0003_validate_separated_queue_constraints.sql - check the existing rows
-- against the constraints 0002 added NOT VALID.
--
-- VALIDATE CONSTRAINT takes SHARE UPDATE EXCLUSIVE on the queue table
-- (ROW SHARE on a referenced one): the app keeps reading and writing
-- while the rows are scanned.
--
-- Adopted tables can hold rows that break a relation: an entry whose user
-- has no user_call_scores row, or whose agent or callback was deleted
-- before there was a foreign key.  Those rows are not deleted or changed:
-- the constraint stays NOT VALID (still enforced for every new or updated
-- row) and a NOTICE gives the count and some ids.  Once the rows are
-- dealt with, `ALTER TABLE ... VALIDATE CONSTRAINT ...` finishes the job.
--
-- A status outside the allowed set is different: the app never writes
-- one, so such a row is a real conflict, and the migration fails naming
-- the values and counts instead of keeping an unchecked CHECK.
--
-- Idempotent: validated constraints are skipped.

DO $$
DECLARE
	r		record;
	v_orphans	bigint;
	v_sample	text;
BEGIN
	FOR r IN
		SELECT c.conrelid::regclass AS tbl, c.conname, c.contype,
		    a.attname AS col, c.confrelid::regclass AS ref,
		    fa.attname AS refcol
		FROM pg_constraint AS c
		LEFT JOIN pg_attribute AS a ON a.attrelid = c.conrelid
		    AND a.attnum = c.conkey[1]
		LEFT JOIN pg_attribute AS fa ON fa.attrelid = c.confrelid
		    AND fa.attnum = c.confkey[1]
		WHERE c.conrelid IN ('unsigned_users_queue'::regclass,
		    'outstanding_requests_queue'::regclass)
		    AND c.contype IN ('f', 'c') AND NOT c.convalidated
		ORDER BY c.conrelid::regclass::text, c.conname
	LOOP
		IF r.contype = 'c' THEN
			EXECUTE format('SELECT count(*), string_agg(format(''%%L: %%s'', '
			    's.status, s.n), '', '' ORDER BY s.n DESC) '
			    'FROM (SELECT status, count(*) AS n FROM %s '
			    'WHERE NOT (%s) GROUP BY status) AS s',
			    r.tbl, pg_get_expr((SELECT conbin FROM pg_constraint
				WHERE conrelid = r.tbl AND conname = r.conname),
				r.tbl))
			    INTO v_orphans, v_sample;
			IF v_orphans > 0 THEN
				RAISE EXCEPTION '%: rows violate % (status %)',
				    r.tbl, r.conname, v_sample
				    USING ERRCODE = 'check_violation',
				    HINT = 'Allowed: pending, assigned, skipped, completed, inactive, superseded.';
			END IF;
		ELSE
			EXECUTE format('SELECT count(*), string_agg(k::text, '', '') '
			    'FILTER (WHERE rn <= 10) FROM (SELECT q.%1$I AS k, '
			    'row_number() OVER (ORDER BY q.%1$I) AS rn FROM %2$s AS q '
			    'WHERE q.%1$I IS NOT NULL AND NOT EXISTS (SELECT 1 '
			    'FROM %3$s AS p WHERE p.%4$I = q.%1$I)) AS o',
			    r.col, r.tbl, r.ref, r.refcol)
			    INTO v_orphans, v_sample;
			IF v_orphans > 0 THEN
				RAISE NOTICE '%: % rows have a % not in %; % stays NOT VALID (% %)',
				    r.tbl, v_orphans, r.col, r.ref, r.conname,
				    r.col, v_sample || CASE WHEN v_orphans > 10
					THEN ', ...' ELSE '' END;
				CONTINUE;
			END IF;
		END IF;
		EXECUTE format('ALTER TABLE %s VALIDATE CONSTRAINT %I',
		    r.tbl, r.conname);
	END LOOP;
END
$$;
