-- qsched core schema, version 3: durable retries, cluster liveness, live
-- run state and the job lock view (qsched(8), RELIABILITY).

-- A retry that is due later is a row of its own, status retry_scheduled,
-- with its due time: claimed like a fire (UPDATE ... WHERE status =
-- 'retry_scheduled'), so a qsched that dies while waiting loses nothing.
ALTER TABLE qsched.runs DROP CONSTRAINT runs_status_check;
ALTER TABLE qsched.runs ADD CONSTRAINT runs_status_check
    CHECK (status IN ('running', 'succeeded', 'failed', 'timed_out',
	'crashed', 'skipped', 'blocked', 'cancelled', 'abandoned',
	'retry_scheduled'));
ALTER TABLE qsched.runs ADD COLUMN due_at timestamptz;
-- What a running plugin says it is doing ("throttled: autovacuum on x").
ALTER TABLE qsched.runs ADD COLUMN state text;
-- The advisory lock key of lock_name (lock.c), so a run's lock is found in
-- pg_locks.
ALTER TABLE qsched.runs ADD COLUMN lock_key bigint;
CREATE INDEX runs_retry_due ON qsched.runs (due_at)
    WHERE status = 'retry_scheduled';
CREATE INDEX runs_open ON qsched.runs (host, pid)
    WHERE status IN ('running', 'retry_scheduled');

-- Every qsched process that owns runs (a daemon, or qsched run) keeps a
-- row here and refreshes heartbeat_at; a row older than its lease means
-- the process is gone, on whatever host, and its runs are abandoned.
CREATE TABLE qsched.daemons (
	host		text NOT NULL,
	pid		integer NOT NULL,
	kind		text NOT NULL CHECK (kind IN ('daemon', 'run')),
	started_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	heartbeat_at	timestamptz NOT NULL DEFAULT clock_timestamp(),
	lease_ms	bigint NOT NULL,
	qsched_version	text NOT NULL,
	PRIMARY KEY (host, pid)
);

COMMENT ON TABLE qsched.daemons IS
    'Live qsched processes and their heartbeats; see qsched(8), RELIABILITY.';

-- Who holds which qsched advisory lock.  Job locks are
-- pg_advisory_lock(bigint) keys (pg_locks: classid = high half, objid =
-- low half, objsubid = 1); a worker's connection is named
-- qsched/<job>/<run id>[/<n>], and this view is the one place that reads
-- those names.
CREATE VIEW qsched.job_locks AS
	SELECT (l.classid::bigint << 32) | l.objid::bigint AS lock_key,
	    l.granted, l.pid AS backend_pid, a.application_name,
	    r.id AS run_id, r.job, r.lock_name, r.host, r.pid AS qsched_pid
	FROM pg_locks l
	LEFT JOIN pg_stat_activity a ON a.pid = l.pid
	LEFT JOIN qsched.runs r ON r.id = substring(a.application_name
	    FROM '^qsched/[^/]*/([0-9]{1,18})(/[0-9]+)?$')::bigint
	WHERE l.locktype = 'advisory' AND l.objsubid = 1
	    AND l.database = (SELECT oid FROM pg_database
		WHERE datname = current_database());

COMMENT ON VIEW qsched.job_locks IS
    'Advisory locks taken through qsched and the runs holding them.';

-- The report leaves out retries not yet run.
CREATE OR REPLACE FUNCTION qsched.job_summary_since(since timestamptz)
RETURNS TABLE (
	job			text,
	runs			bigint,
	succeeded		bigint,
	failed			bigint,
	skipped			bigint,
	cancelled		bigint,
	running			bigint,
	success_rate		numeric,
	p50_ms			bigint,
	p95_ms			bigint,
	rows_processed		bigint,
	last_success		timestamptz,
	last_failure		timestamptz,
	last_failure_status	text,
	last_failure_message	text
)
LANGUAGE sql STABLE
AS $$
	SELECT s.job, s.runs, s.succeeded, s.failed, s.skipped, s.cancelled,
	    s.running,
	    round(100.0 * s.succeeded / nullif(s.succeeded + s.failed, 0), 1),
	    round(s.p50)::bigint, round(s.p95)::bigint, s.rows_processed,
	    s.last_success, f.finished_at, f.status,
	    nullif(concat_ws(' ', f.message,
		CASE WHEN f.sqlstate IS NOT NULL THEN
		    '[SQLSTATE ' || f.sqlstate || ']' END), '')
	FROM (
		SELECT r.job,
		    count(*) AS runs,
		    count(*) FILTER (WHERE r.status = 'succeeded') AS succeeded,
		    count(*) FILTER (WHERE r.status IN ('failed', 'timed_out',
			'crashed', 'abandoned')) AS failed,
		    count(*) FILTER (WHERE r.status IN ('skipped', 'blocked'))
			AS skipped,
		    count(*) FILTER (WHERE r.status = 'cancelled') AS cancelled,
		    count(*) FILTER (WHERE r.status = 'running') AS running,
		    percentile_cont(0.5) WITHIN GROUP (ORDER BY r.duration_ms)
			FILTER (WHERE r.status = 'succeeded') AS p50,
		    percentile_cont(0.95) WITHIN GROUP (ORDER BY r.duration_ms)
			FILTER (WHERE r.status = 'succeeded') AS p95,
		    coalesce(sum(r.rows_processed), 0)::bigint AS rows_processed,
		    max(r.finished_at) FILTER (WHERE r.status = 'succeeded')
			AS last_success
		FROM qsched.runs r
		WHERE NOT r.dry_run AND r.status <> 'retry_scheduled'
		    AND (since IS NULL OR r.started_at >= since)
		GROUP BY r.job
	) s
	LEFT JOIN LATERAL (
		SELECT x.finished_at, x.status, x.message, x.sqlstate
		FROM qsched.runs x
		WHERE x.job = s.job AND NOT x.dry_run
		    AND x.status IN ('failed', 'timed_out', 'crashed',
			'abandoned')
		    AND (since IS NULL OR x.started_at >= since)
		ORDER BY x.started_at DESC, x.id DESC
		LIMIT 1
	) f ON true
	ORDER BY s.job
$$;
