-- 0001_separated_queue_tables.sql - create the separated queue tables, or
-- adopt the ones the app's `prisma db push` made already.
--
-- Columns, names and types are the app's (origin-app.md), so the app's
-- Prisma client keeps working on either; qsched adds callback_id and the
-- database defaults the Prisma client never needed (it sets id and
-- updated_at itself, raw SQL does not).
--
-- Times are timestamp(3) without time zone holding UTC, as Prisma writes
-- them.  Every default here says (now() AT TIME ZONE 'UTC') explicitly:
-- the app's DEFAULT CURRENT_TIMESTAMP follows the session TimeZone and
-- writes local time into a UTC column on any server not set to UTC.
--
-- Adopting changes no row: it adds one nullable column and sets defaults
-- and autovacuum thresholds.
-- A table that exists but lacks a column the app uses, or has it with
-- another type, is refused with the table and column named: guessing
-- there could lose data.
--
-- Idempotent: CREATE ... IF NOT EXISTS, ADD COLUMN IF NOT EXISTS, and
-- SET DEFAULT to the same expression leave a second run without effect.

CREATE TABLE IF NOT EXISTS unsigned_users_queue (
	id			uuid NOT NULL DEFAULT gen_random_uuid(),
	user_id			bigint NOT NULL,
	claim_id		bigint,
	priority_score		integer NOT NULL DEFAULT 0,
	queue_position		integer NOT NULL,
	status			text NOT NULL DEFAULT 'pending',
	queue_reason		text,
	signature_missing_since	timestamp(3) without time zone,
	signature_type		text,
	available_from		timestamp(3) without time zone NOT NULL
				    DEFAULT (now() AT TIME ZONE 'UTC'),
	assigned_to_agent	integer,
	assigned_at		timestamp(3) without time zone,
	created_at		timestamp(3) without time zone NOT NULL
				    DEFAULT (now() AT TIME ZONE 'UTC'),
	updated_at		timestamp(3) without time zone NOT NULL
				    DEFAULT (now() AT TIME ZONE 'UTC'),

	CONSTRAINT unsigned_users_queue_pkey PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS outstanding_requests_queue (
	id			uuid NOT NULL DEFAULT gen_random_uuid(),
	user_id			bigint NOT NULL,
	claim_id		bigint,
	priority_score		integer NOT NULL DEFAULT 0,
	queue_position		integer NOT NULL,
	status			text NOT NULL DEFAULT 'pending',
	queue_reason		text,
	requirement_types	jsonb NOT NULL DEFAULT '[]',
	total_requirements	integer NOT NULL DEFAULT 0,
	pending_requirements	integer NOT NULL DEFAULT 0,
	completed_requirements	integer NOT NULL DEFAULT 0,
	oldest_requirement_date	timestamp(3) without time zone,
	available_from		timestamp(3) without time zone NOT NULL
				    DEFAULT (now() AT TIME ZONE 'UTC'),
	assigned_to_agent	integer,
	assigned_at		timestamp(3) without time zone,
	created_at		timestamp(3) without time zone NOT NULL
				    DEFAULT (now() AT TIME ZONE 'UTC'),
	updated_at		timestamp(3) without time zone NOT NULL
				    DEFAULT (now() AT TIME ZONE 'UTC'),

	CONSTRAINT outstanding_requests_queue_pkey PRIMARY KEY (id)
);

-- The new column, on created and adopted tables alike (added here rather
-- than in CREATE TABLE, so a new database gets no "already exists"
-- notice), and the defaults, which on tables this file just created
-- restate what they already have.
ALTER TABLE unsigned_users_queue
	ADD COLUMN IF NOT EXISTS callback_id uuid,
	ALTER COLUMN id SET DEFAULT gen_random_uuid(),
	ALTER COLUMN available_from SET DEFAULT (now() AT TIME ZONE 'UTC'),
	ALTER COLUMN created_at SET DEFAULT (now() AT TIME ZONE 'UTC'),
	ALTER COLUMN updated_at SET DEFAULT (now() AT TIME ZONE 'UTC');

ALTER TABLE outstanding_requests_queue
	ADD COLUMN IF NOT EXISTS callback_id uuid,
	ALTER COLUMN id SET DEFAULT gen_random_uuid(),
	ALTER COLUMN available_from SET DEFAULT (now() AT TIME ZONE 'UTC'),
	ALTER COLUMN created_at SET DEFAULT (now() AT TIME ZONE 'UTC'),
	ALTER COLUMN updated_at SET DEFAULT (now() AT TIME ZONE 'UTC');

-- Every claim, completion and refresh leaves a dead row version, and
-- dead entries at the head of the claim index are what each claim walks
-- over until VACUUM removes them.  The default (vacuum once a fifth of
-- the table is dead) lets 200k of them pile up on a 1M-entry queue;
-- vacuum these tables after 2% instead.
ALTER TABLE unsigned_users_queue SET (autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.05);
ALTER TABLE outstanding_requests_queue SET (autovacuum_vacuum_scale_factor = 0.02,
    autovacuum_vacuum_threshold = 1000, autovacuum_analyze_scale_factor = 0.05);

-- Refuse an adopted table that is not the one the app describes.  Only
-- the base type is compared: timestamp(3) and timestamp hold the same
-- values, and columns the app added since are no concern of ours.
DO $$
DECLARE
	r	record;
BEGIN
	FOR r IN
		SELECT e.tbl, e.col, e.typ,
		    format_type(a.atttypid, a.atttypmod) AS found
		FROM (VALUES
		    ('unsigned_users_queue', 'signature_missing_since', 'timestamp'),
		    ('unsigned_users_queue', 'signature_type', 'text'),
		    ('outstanding_requests_queue', 'requirement_types', 'jsonb'),
		    ('outstanding_requests_queue', 'total_requirements', 'int4'),
		    ('outstanding_requests_queue', 'pending_requirements', 'int4'),
		    ('outstanding_requests_queue', 'completed_requirements', 'int4'),
		    ('outstanding_requests_queue', 'oldest_requirement_date', 'timestamp')
		    ) AS e(tbl, col, typ)
		LEFT JOIN pg_attribute AS a
		    ON a.attrelid = e.tbl::regclass AND a.attname = e.col
		    AND NOT a.attisdropped
		WHERE a.atttypid IS DISTINCT FROM e.typ::regtype
		UNION ALL
		SELECT t.tbl, e.col, e.typ, format_type(a.atttypid, a.atttypmod)
		FROM (VALUES ('unsigned_users_queue'),
		    ('outstanding_requests_queue')) AS t(tbl)
		CROSS JOIN (VALUES
		    ('id', 'uuid'), ('user_id', 'int8'), ('claim_id', 'int8'),
		    ('priority_score', 'int4'), ('queue_position', 'int4'),
		    ('status', 'text'), ('queue_reason', 'text'),
		    ('available_from', 'timestamp'),
		    ('assigned_to_agent', 'int4'), ('assigned_at', 'timestamp'),
		    ('created_at', 'timestamp'), ('updated_at', 'timestamp'),
		    ('callback_id', 'uuid')) AS e(col, typ)
		LEFT JOIN pg_attribute AS a
		    ON a.attrelid = t.tbl::regclass AND a.attname = e.col
		    AND NOT a.attisdropped
		WHERE a.atttypid IS DISTINCT FROM e.typ::regtype
	LOOP
		RAISE EXCEPTION 'cannot adopt table %: column % is %, expected %',
		    r.tbl, r.col, coalesce(r.found, 'missing'),
		    format_type(r.typ::regtype, NULL)
		    USING ERRCODE = 'datatype_mismatch',
		    HINT = 'qsched adopts the separated queue tables only as the app defines them (origin-app.md).';
	END LOOP;

	FOR r IN
		SELECT t.tbl
		FROM (VALUES ('unsigned_users_queue'),
		    ('outstanding_requests_queue')) AS t(tbl)
		WHERE NOT EXISTS (
			SELECT 1 FROM pg_constraint AS c
			JOIN pg_attribute AS a ON a.attrelid = c.conrelid
			    AND a.attnum = c.conkey[1]
			WHERE c.conrelid = t.tbl::regclass AND c.contype = 'p'
			    AND cardinality(c.conkey) = 1 AND a.attname = 'id')
	LOOP
		RAISE EXCEPTION 'cannot adopt table %: it has no primary key on (id)',
		    r.tbl USING ERRCODE = 'invalid_table_definition';
	END LOOP;
END
$$;

COMMENT ON TABLE unsigned_users_queue IS
    'Dialler queue of users missing a signature (qsched, sql/migrations).';
COMMENT ON TABLE outstanding_requests_queue IS
    'Dialler queue of users with outstanding document requirements (qsched, sql/migrations).';
COMMENT ON COLUMN unsigned_users_queue.status IS
    'pending | assigned (live: at most one per user) | skipped | completed | inactive | superseded';
COMMENT ON COLUMN outstanding_requests_queue.status IS
    'pending | assigned (live: at most one per user) | skipped | completed | inactive | superseded';
COMMENT ON COLUMN unsigned_users_queue.available_from IS
    'UTC; the entry cannot be claimed before this time';
COMMENT ON COLUMN outstanding_requests_queue.available_from IS
    'UTC; the entry cannot be claimed before this time';
