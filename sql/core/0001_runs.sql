-- qsched core schema, version 1: run history and the checkpoint store.
-- Applied by qsched itself (schema.c) inside one transaction under an
-- advisory lock, so concurrent first starts cannot race.

CREATE TABLE qsched.runs (
	id		bigserial PRIMARY KEY,
	job		text NOT NULL,
	plugin		text NOT NULL,
	trigger		text NOT NULL
	    CHECK (trigger IN ('schedule', 'manual', 'catchup', 'retry')),
	scheduled_for	timestamptz,		-- NULL for manual runs
	attempt		integer NOT NULL DEFAULT 1 CHECK (attempt >= 1),
	status		text NOT NULL
	    CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out',
		'crashed', 'skipped', 'blocked', 'cancelled', 'abandoned')),
	started_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	finished_at	timestamptz,
	duration_ms	bigint,
	rows_processed	bigint NOT NULL DEFAULT 0,
	message		text,
	sqlstate	text,
	signal		text,			-- crashed: the signal's name
	metrics		jsonb NOT NULL DEFAULT '{}',
	progress_done	bigint,
	progress_total	bigint,
	dry_run		boolean NOT NULL DEFAULT false,
	lock_name	text,
	host		text NOT NULL,
	pid		integer NOT NULL,	-- the qsched process that owns the row
	worker_pid	integer,
	backend_pid	integer,		-- the worker's database backend
	qsched_version	text NOT NULL
);

-- One row per (job, fire, attempt): inserting it is how a daemon claims a
-- fire, so several daemons on several hosts run each fire once.
CREATE UNIQUE INDEX runs_fire_key ON qsched.runs (job, scheduled_for, attempt)
    WHERE scheduled_for IS NOT NULL;
CREATE INDEX runs_job_started ON qsched.runs (job, started_at);
CREATE INDEX runs_started ON qsched.runs (started_at);
CREATE INDEX runs_in_progress ON qsched.runs (host) WHERE status = 'running';

COMMENT ON TABLE qsched.runs IS 'Every run of every qsched job; see qsched(8).';

CREATE TABLE qsched.checkpoints (
	job		text NOT NULL,
	key		text NOT NULL,
	value		text NOT NULL,
	run_id		bigint,
	updated_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	PRIMARY KEY (job, key)
);

COMMENT ON TABLE qsched.checkpoints IS
    'Resume points written by plugins in the same transaction as their work.';
