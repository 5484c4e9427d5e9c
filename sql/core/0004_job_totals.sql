-- qsched core schema, version 4: per-job totals of the final runs, so
-- qsched metrics and GET /metrics read one row per job however long the
-- history (qsched(8), METRICS).
--
-- Nothing is added to the write path: settling a run costs what it cost
-- before (a trigger here made every qsched run about 5 ms slower on its
-- fresh connection).  The totals are folded lazily instead: the tables
-- hold the final runs with id at most qsched.job_totals_mark's
-- folded_through, qsched.job_totals_fold() moves the mark (the daemon's
-- heartbeat, and history retention before it deletes), and readers use
-- the views job_totals_live and job_metric_totals_live, which add the
-- final runs above the mark, counted live from a primary key range.
-- Dry runs are not counted.  Retention deletes only folded runs, so the
-- counters never go down.  A final row edited by hand once folded is not
-- counted again (qsched.job_totals_recount() shows the difference).

CREATE TABLE qsched.job_totals (
	job			text PRIMARY KEY,
	succeeded		bigint NOT NULL DEFAULT 0,
	failed			bigint NOT NULL DEFAULT 0,
	timed_out		bigint NOT NULL DEFAULT 0,
	crashed			bigint NOT NULL DEFAULT 0,
	skipped			bigint NOT NULL DEFAULT 0,
	blocked			bigint NOT NULL DEFAULT 0,
	cancelled		bigint NOT NULL DEFAULT 0,
	abandoned		bigint NOT NULL DEFAULT 0,
	-- The duration histogram: runs with a duration, their sum, and how
	-- many took at most each bucket's bound (cumulative, as Prometheus
	-- wants it; the bounds are in qsched(8), METRICS, and metrics.c).
	duration_count		bigint NOT NULL DEFAULT 0,
	duration_sum_ms		bigint NOT NULL DEFAULT 0,
	le_100ms		bigint NOT NULL DEFAULT 0,
	le_1s			bigint NOT NULL DEFAULT 0,
	le_5s			bigint NOT NULL DEFAULT 0,
	le_15s			bigint NOT NULL DEFAULT 0,
	le_1m			bigint NOT NULL DEFAULT 0,
	le_5m			bigint NOT NULL DEFAULT 0,
	le_15m			bigint NOT NULL DEFAULT 0,
	le_30m			bigint NOT NULL DEFAULT 0,
	le_1h			bigint NOT NULL DEFAULT 0,
	le_2h			bigint NOT NULL DEFAULT 0,
	le_6h			bigint NOT NULL DEFAULT 0,
	le_1d			bigint NOT NULL DEFAULT 0,
	rows_processed		bigint NOT NULL DEFAULT 0,
	last_success		timestamptz,	-- finished_at
	last_failure		timestamptz,
	-- Runs that failed, timed out, crashed or were abandoned and started
	-- after the last success started.
	consecutive_failures	bigint NOT NULL DEFAULT 0
);

COMMENT ON TABLE qsched.job_totals IS
    'Totals of each job''s final runs up to qsched.job_totals_mark; read qsched.job_totals_live; see qsched(8), METRICS.';

-- The sums of each numeric key of the final runs' metrics (the plugins'
-- counters, RUN_SUM metrics in qsched-plugin(3)).
CREATE TABLE qsched.job_metric_totals (
	job		text NOT NULL,
	key		text NOT NULL,
	total		numeric NOT NULL DEFAULT 0,
	PRIMARY KEY (job, key)
);

COMMENT ON TABLE qsched.job_metric_totals IS
    'Sums of the numeric keys of each job''s final runs'' metrics up to qsched.job_totals_mark; read qsched.job_metric_totals_live.';

-- The failures in a row of JOB, from its history: two short index scans
-- on (job, started_at), back to the last success, then the failures
-- after it.
CREATE FUNCTION qsched.job_failures_in_a_row(j text)
RETURNS bigint
LANGUAGE sql STABLE
AS $$
	SELECT count(*) FROM qsched.runs r
	WHERE r.job = j AND NOT r.dry_run
	    AND r.status IN ('failed', 'timed_out', 'crashed', 'abandoned')
	    AND r.started_at > coalesce((SELECT x.started_at
		FROM qsched.runs x
		WHERE x.job = j AND x.status = 'succeeded' AND NOT x.dry_run
		ORDER BY x.started_at DESC LIMIT 1), '-infinity')
$$;

-- The totals of the final runs (but dry ones) with id in (LO, HI]: one
-- range scan of the primary key.  Failures in a row are left 0: they
-- depend on the job's whole history (qsched.job_failures_in_a_row()).
-- A single SELECT, STABLE: the planner inlines it into the view below.
CREATE FUNCTION qsched.job_totals_delta(lo bigint, hi bigint)
RETURNS SETOF qsched.job_totals
LANGUAGE sql STABLE
AS $$
	SELECT d.job,
	    count(*) FILTER (WHERE d.status = 'succeeded'),
	    count(*) FILTER (WHERE d.status = 'failed'),
	    count(*) FILTER (WHERE d.status = 'timed_out'),
	    count(*) FILTER (WHERE d.status = 'crashed'),
	    count(*) FILTER (WHERE d.status = 'skipped'),
	    count(*) FILTER (WHERE d.status = 'blocked'),
	    count(*) FILTER (WHERE d.status = 'cancelled'),
	    count(*) FILTER (WHERE d.status = 'abandoned'),
	    count(d.duration_ms),
	    coalesce(sum(d.duration_ms), 0)::bigint,
	    count(*) FILTER (WHERE d.duration_ms <= 100),
	    count(*) FILTER (WHERE d.duration_ms <= 1000),
	    count(*) FILTER (WHERE d.duration_ms <= 5000),
	    count(*) FILTER (WHERE d.duration_ms <= 15000),
	    count(*) FILTER (WHERE d.duration_ms <= 60000),
	    count(*) FILTER (WHERE d.duration_ms <= 300000),
	    count(*) FILTER (WHERE d.duration_ms <= 900000),
	    count(*) FILTER (WHERE d.duration_ms <= 1800000),
	    count(*) FILTER (WHERE d.duration_ms <= 3600000),
	    count(*) FILTER (WHERE d.duration_ms <= 7200000),
	    count(*) FILTER (WHERE d.duration_ms <= 21600000),
	    count(*) FILTER (WHERE d.duration_ms <= 86400000),
	    coalesce(sum(d.rows_processed), 0)::bigint,
	    max(d.finished_at) FILTER (WHERE d.status = 'succeeded'),
	    max(d.finished_at) FILTER (WHERE
		d.status IN ('failed', 'timed_out', 'crashed', 'abandoned')),
	    0::bigint
	FROM qsched.runs d
	WHERE d.id > lo AND d.id <= hi AND NOT d.dry_run
	    AND d.status NOT IN ('running', 'retry_scheduled')
	GROUP BY d.job
$$;

-- The same for the plugins' counters.
CREATE FUNCTION qsched.job_metric_totals_delta(lo bigint, hi bigint)
RETURNS SETOF qsched.job_metric_totals
LANGUAGE sql STABLE
AS $$
	SELECT d.job, m.key, sum(m.value::text::numeric)
	FROM qsched.runs d, jsonb_each(d.metrics) AS m(key, value)
	WHERE d.id > lo AND d.id <= hi AND NOT d.dry_run
	    AND d.status NOT IN ('running', 'retry_scheduled')
	    AND jsonb_typeof(m.value) = 'number'
	GROUP BY d.job, m.key
$$;

-- The totals counted again from the whole history: the same as
-- qsched.job_totals_live as long as history_retention has deleted nothing
-- and no folded row was edited by hand; for checking (one full scan).
CREATE FUNCTION qsched.job_totals_recount()
RETURNS SETOF qsched.job_totals
LANGUAGE sql STABLE
AS $$
	SELECT (jsonb_populate_record(d, jsonb_build_object(
	    'consecutive_failures', qsched.job_failures_in_a_row(d.job)))).*
	FROM qsched.job_totals_delta(0,
	    (SELECT max(r.id) FROM qsched.runs r)) AS d
$$;

CREATE FUNCTION qsched.job_metric_totals_recount()
RETURNS SETOF qsched.job_metric_totals
LANGUAGE sql STABLE
AS $$
	SELECT * FROM qsched.job_metric_totals_delta(0,
	    (SELECT max(r.id) FROM qsched.runs r))
$$;

-- The runs folded into the tables above: every final run with id at
-- most folded_through, and none above it.  One row.
CREATE TABLE qsched.job_totals_mark (
	one		boolean PRIMARY KEY DEFAULT true CHECK (one),
	folded_through	bigint NOT NULL
);

COMMENT ON TABLE qsched.job_totals_mark IS
    'Final runs with id at most folded_through are counted in qsched.job_totals; see qsched(8), METRICS.';

-- Fold the final runs above the mark into the totals, move the mark, and
-- return it.  It stops below the oldest run still running or waiting for
-- a retry (the horizon), so every run at or below the mark was final when
-- folded and is counted once.  Called rarely (the daemon's heartbeat,
-- history retention), so its cost does not matter.
--
-- Two folders: a transaction-level advisory lock; one that does not get
-- it returns the mark without folding (the other one is folding), so a
-- heartbeat never waits on another daemon's.  A run inserted by a
-- transaction not yet committed can have an id below the horizon while
-- this snapshot cannot see it: the SHARE lock waits for every
-- transaction writing qsched.runs to end (and holds new writers for the
-- milliseconds of the fold), and the statements after it, each with a
-- snapshot of its own, see every id handed out before.  A writer open
-- longer than half a second: no fold this time.  Call it in a
-- transaction that has not written qsched.runs.
CREATE FUNCTION qsched.job_totals_fold()
RETURNS bigint
LANGUAGE plpgsql
AS $fn$
DECLARE
	lo	bigint;
	hi	bigint;
	prev	text;
BEGIN
	IF NOT pg_try_advisory_xact_lock(hashtext('qsched.job_totals_fold'))
	THEN
		RETURN (SELECT m.folded_through FROM qsched.job_totals_mark m);
	END IF;
	-- A transaction left open on qsched.runs (psql) must not stall the
	-- heartbeat, nor the writers queued behind this lock, for long: give
	-- up after half a second and fold at the next call.
	prev := current_setting('lock_timeout');
	PERFORM set_config('lock_timeout', '500ms', true);
	BEGIN
		LOCK TABLE qsched.runs IN SHARE MODE;
	EXCEPTION WHEN lock_not_available THEN
		PERFORM set_config('lock_timeout', prev, true);
		RETURN (SELECT m.folded_through FROM qsched.job_totals_mark m);
	END;
	PERFORM set_config('lock_timeout', prev, true);
	SELECT m.folded_through INTO lo FROM qsched.job_totals_mark m;
	SELECT coalesce(min(r.id) - 1, (SELECT max(x.id) FROM qsched.runs x))
	INTO hi
	FROM qsched.runs r
	WHERE r.id > lo AND r.status IN ('running', 'retry_scheduled');
	IF hi IS NULL OR hi <= lo THEN
		RETURN lo;
	END IF;

	-- In job order, as every writer of these rows.
	INSERT INTO qsched.job_totals AS t
	SELECT * FROM qsched.job_totals_delta(lo, hi) ORDER BY 1
	ON CONFLICT (job) DO UPDATE SET
	    succeeded = t.succeeded + excluded.succeeded,
	    failed = t.failed + excluded.failed,
	    timed_out = t.timed_out + excluded.timed_out,
	    crashed = t.crashed + excluded.crashed,
	    skipped = t.skipped + excluded.skipped,
	    blocked = t.blocked + excluded.blocked,
	    cancelled = t.cancelled + excluded.cancelled,
	    abandoned = t.abandoned + excluded.abandoned,
	    duration_count = t.duration_count + excluded.duration_count,
	    duration_sum_ms = t.duration_sum_ms + excluded.duration_sum_ms,
	    le_100ms = t.le_100ms + excluded.le_100ms,
	    le_1s = t.le_1s + excluded.le_1s,
	    le_5s = t.le_5s + excluded.le_5s,
	    le_15s = t.le_15s + excluded.le_15s,
	    le_1m = t.le_1m + excluded.le_1m,
	    le_5m = t.le_5m + excluded.le_5m,
	    le_15m = t.le_15m + excluded.le_15m,
	    le_30m = t.le_30m + excluded.le_30m,
	    le_1h = t.le_1h + excluded.le_1h,
	    le_2h = t.le_2h + excluded.le_2h,
	    le_6h = t.le_6h + excluded.le_6h,
	    le_1d = t.le_1d + excluded.le_1d,
	    rows_processed = t.rows_processed + excluded.rows_processed,
	    last_success = greatest(t.last_success, excluded.last_success),
	    last_failure = greatest(t.last_failure, excluded.last_failure);
	INSERT INTO qsched.job_metric_totals AS t
	SELECT * FROM qsched.job_metric_totals_delta(lo, hi) ORDER BY 1, 2
	ON CONFLICT (job, key) DO UPDATE SET total = t.total + excluded.total;
	UPDATE qsched.job_totals t
	SET consecutive_failures = qsched.job_failures_in_a_row(t.job)
	WHERE t.job IN (SELECT r.job FROM qsched.runs r
	    WHERE r.id > lo AND r.id <= hi);
	UPDATE qsched.job_totals_mark SET folded_through = hi;
	RETURN hi;
END
$fn$;

-- What readers read: the folded totals plus the final runs above the
-- mark, counted live (a primary key range since the oldest unfinished
-- run: normally minutes of history).  Failures in a row are counted
-- again for the jobs with final runs above the mark, so they are always
-- what qsched.job_failures_in_a_row() says.
CREATE VIEW qsched.job_totals_live AS
	SELECT coalesce(t.job, l.job) AS job,
	    coalesce(t.succeeded, 0) + coalesce(l.succeeded, 0) AS succeeded,
	    coalesce(t.failed, 0) + coalesce(l.failed, 0) AS failed,
	    coalesce(t.timed_out, 0) + coalesce(l.timed_out, 0) AS timed_out,
	    coalesce(t.crashed, 0) + coalesce(l.crashed, 0) AS crashed,
	    coalesce(t.skipped, 0) + coalesce(l.skipped, 0) AS skipped,
	    coalesce(t.blocked, 0) + coalesce(l.blocked, 0) AS blocked,
	    coalesce(t.cancelled, 0) + coalesce(l.cancelled, 0) AS cancelled,
	    coalesce(t.abandoned, 0) + coalesce(l.abandoned, 0) AS abandoned,
	    coalesce(t.duration_count, 0) + coalesce(l.duration_count, 0)
		AS duration_count,
	    coalesce(t.duration_sum_ms, 0) + coalesce(l.duration_sum_ms, 0)
		AS duration_sum_ms,
	    coalesce(t.le_100ms, 0) + coalesce(l.le_100ms, 0) AS le_100ms,
	    coalesce(t.le_1s, 0) + coalesce(l.le_1s, 0) AS le_1s,
	    coalesce(t.le_5s, 0) + coalesce(l.le_5s, 0) AS le_5s,
	    coalesce(t.le_15s, 0) + coalesce(l.le_15s, 0) AS le_15s,
	    coalesce(t.le_1m, 0) + coalesce(l.le_1m, 0) AS le_1m,
	    coalesce(t.le_5m, 0) + coalesce(l.le_5m, 0) AS le_5m,
	    coalesce(t.le_15m, 0) + coalesce(l.le_15m, 0) AS le_15m,
	    coalesce(t.le_30m, 0) + coalesce(l.le_30m, 0) AS le_30m,
	    coalesce(t.le_1h, 0) + coalesce(l.le_1h, 0) AS le_1h,
	    coalesce(t.le_2h, 0) + coalesce(l.le_2h, 0) AS le_2h,
	    coalesce(t.le_6h, 0) + coalesce(l.le_6h, 0) AS le_6h,
	    coalesce(t.le_1d, 0) + coalesce(l.le_1d, 0) AS le_1d,
	    coalesce(t.rows_processed, 0) + coalesce(l.rows_processed, 0)
		AS rows_processed,
	    greatest(t.last_success, l.last_success) AS last_success,
	    greatest(t.last_failure, l.last_failure) AS last_failure,
	    CASE WHEN l.job IS NULL THEN t.consecutive_failures
		ELSE qsched.job_failures_in_a_row(l.job) END
		AS consecutive_failures
	FROM qsched.job_totals t
	FULL JOIN qsched.job_totals_delta((SELECT m.folded_through
	    FROM qsched.job_totals_mark m), 9223372036854775807) l
	    ON l.job = t.job;

CREATE VIEW qsched.job_metric_totals_live AS
	SELECT s.job, s.key, sum(s.total) AS total
	FROM (SELECT t.job, t.key, t.total FROM qsched.job_metric_totals t
	    UNION ALL SELECT * FROM qsched.job_metric_totals_delta((SELECT
		m.folded_through FROM qsched.job_totals_mark m),
		9223372036854775807)) s
	GROUP BY s.job, s.key;

-- The history so far, counted once: folded from the start.
INSERT INTO qsched.job_totals_mark (folded_through) VALUES (0);
SELECT qsched.job_totals_fold();
