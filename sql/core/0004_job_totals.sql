-- qsched core schema, version 4: per-job totals of the final runs, kept
-- as runs settle, so qsched metrics and GET /metrics read one row per job
-- however long the history (qsched(8), METRICS).
--
-- A statement trigger on qsched.runs keeps them: every way a run becomes
-- final (the worker's outcome, the parent's timeout or crash, a run
-- abandoned by any daemon on any host, a cancelled retry, a row inserted
-- final, an older qsched during an upgrade, psql) goes through it, in the
-- transaction that settles the run.  Dry runs are not counted.  Deleting
-- runs (history_retention) does not subtract: the counters never go down.
-- A final row changed again is taken back out and counted anew.

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
    'Totals of each job''s final runs, kept as runs settle; see qsched(8), METRICS.';

-- The sums of each numeric key of the final runs' metrics (the plugins'
-- counters, RUN_SUM metrics in qsched-plugin(3)).
CREATE TABLE qsched.job_metric_totals (
	job		text NOT NULL,
	key		text NOT NULL,
	total		numeric NOT NULL DEFAULT 0,
	PRIMARY KEY (job, key)
);

COMMENT ON TABLE qsched.job_metric_totals IS
    'Sums of the numeric keys of each job''s final runs'' metrics; see qsched(8), METRICS.';

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

-- The totals counted again from the whole history: the same as
-- qsched.job_totals as long as history_retention has deleted nothing.
-- It fills the tables below once, and checks them (one full scan).
CREATE FUNCTION qsched.job_totals_recount()
RETURNS SETOF qsched.job_totals
LANGUAGE sql STABLE
AS $$
	SELECT r.job,
	    count(*) FILTER (WHERE r.status = 'succeeded'),
	    count(*) FILTER (WHERE r.status = 'failed'),
	    count(*) FILTER (WHERE r.status = 'timed_out'),
	    count(*) FILTER (WHERE r.status = 'crashed'),
	    count(*) FILTER (WHERE r.status = 'skipped'),
	    count(*) FILTER (WHERE r.status = 'blocked'),
	    count(*) FILTER (WHERE r.status = 'cancelled'),
	    count(*) FILTER (WHERE r.status = 'abandoned'),
	    count(r.duration_ms),
	    coalesce(sum(r.duration_ms), 0)::bigint,
	    count(*) FILTER (WHERE r.duration_ms <= 100),
	    count(*) FILTER (WHERE r.duration_ms <= 1000),
	    count(*) FILTER (WHERE r.duration_ms <= 5000),
	    count(*) FILTER (WHERE r.duration_ms <= 15000),
	    count(*) FILTER (WHERE r.duration_ms <= 60000),
	    count(*) FILTER (WHERE r.duration_ms <= 300000),
	    count(*) FILTER (WHERE r.duration_ms <= 900000),
	    count(*) FILTER (WHERE r.duration_ms <= 1800000),
	    count(*) FILTER (WHERE r.duration_ms <= 3600000),
	    count(*) FILTER (WHERE r.duration_ms <= 7200000),
	    count(*) FILTER (WHERE r.duration_ms <= 21600000),
	    count(*) FILTER (WHERE r.duration_ms <= 86400000),
	    coalesce(sum(r.rows_processed), 0)::bigint,
	    max(r.finished_at) FILTER (WHERE r.status = 'succeeded'),
	    max(r.finished_at) FILTER (WHERE r.status IN ('failed',
		'timed_out', 'crashed', 'abandoned')),
	    qsched.job_failures_in_a_row(r.job)
	FROM qsched.runs r
	WHERE NOT r.dry_run AND r.status NOT IN ('running', 'retry_scheduled')
	GROUP BY r.job
$$;

CREATE FUNCTION qsched.job_metric_totals_recount()
RETURNS SETOF qsched.job_metric_totals
LANGUAGE sql STABLE
AS $$
	SELECT r.job, m.key, sum(m.value::text::numeric)
	FROM qsched.runs r, jsonb_each(r.metrics) AS m(key, value)
	WHERE NOT r.dry_run AND r.status NOT IN ('running', 'retry_scheduled')
	    AND jsonb_typeof(m.value) = 'number'
	GROUP BY r.job, m.key
$$;

-- The totals of RUNS (their final runs but dry ones), each counted W
-- times: 1 for runs that became final, -1 for runs taken back.  The
-- latest finish times only count when W is 1.
CREATE FUNCTION qsched.job_totals_delta(runs qsched.runs[], w integer)
RETURNS SETOF qsched.job_totals
LANGUAGE sql IMMUTABLE
AS $$
	SELECT d.job,
	    w * count(*) FILTER (WHERE d.status = 'succeeded'),
	    w * count(*) FILTER (WHERE d.status = 'failed'),
	    w * count(*) FILTER (WHERE d.status = 'timed_out'),
	    w * count(*) FILTER (WHERE d.status = 'crashed'),
	    w * count(*) FILTER (WHERE d.status = 'skipped'),
	    w * count(*) FILTER (WHERE d.status = 'blocked'),
	    w * count(*) FILTER (WHERE d.status = 'cancelled'),
	    w * count(*) FILTER (WHERE d.status = 'abandoned'),
	    w * count(d.duration_ms),
	    w * coalesce(sum(d.duration_ms), 0)::bigint,
	    w * count(*) FILTER (WHERE d.duration_ms <= 100),
	    w * count(*) FILTER (WHERE d.duration_ms <= 1000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 5000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 15000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 60000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 300000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 900000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 1800000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 3600000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 7200000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 21600000),
	    w * count(*) FILTER (WHERE d.duration_ms <= 86400000),
	    w * coalesce(sum(d.rows_processed), 0)::bigint,
	    CASE WHEN w > 0 THEN max(d.finished_at) FILTER (WHERE
		d.status = 'succeeded') END,
	    CASE WHEN w > 0 THEN max(d.finished_at) FILTER (WHERE
		d.status IN ('failed', 'timed_out', 'crashed', 'abandoned'))
		END,
	    0::bigint
	FROM unnest(runs) AS d
	WHERE NOT d.dry_run AND d.status NOT IN ('running', 'retry_scheduled')
	GROUP BY d.job
$$;

-- The trigger.  Runs a statement made final count +1; an UPDATE of a
-- final run (by hand: qsched never changes a final row) takes its old
-- version back (-1) first.  Totals are applied in job order, so two
-- statements settling runs of the same jobs lock the rows in the same
-- order and cannot deadlock.  The failures in a row are counted afresh
-- once the job's row is locked, in a statement of their own: its snapshot
-- then sees a concurrent settle of the same job that committed first.
-- Most statements settle nothing (a claim, a progress update, the
-- heartbeat): they cost one look at their own rows.  Static SQL only, so
-- the plans are cached on the bookkeeping connection.
CREATE FUNCTION qsched.job_totals_settle()
RETURNS trigger
LANGUAGE plpgsql
AS $fn$
DECLARE
	plus	qsched.runs[];
	minus	qsched.runs[];
	batch	qsched.runs[];
	w	integer;
	jobs	text[];
BEGIN
	IF TG_OP = 'INSERT' THEN
		plus := ARRAY(SELECT n FROM new_runs n WHERE NOT n.dry_run
		    AND n.status NOT IN ('running', 'retry_scheduled'));
	ELSE
		SELECT array_agg(n) FILTER (WHERE NOT n.dry_run
			AND n.status NOT IN ('running', 'retry_scheduled')),
		    array_agg(o) FILTER (WHERE NOT o.dry_run
			AND o.status NOT IN ('running', 'retry_scheduled'))
		INTO plus, minus
		FROM old_runs o JOIN new_runs n ON n.id = o.id
		WHERE (o.status, o.dry_run, o.job, o.duration_ms,
			o.rows_processed, o.finished_at, o.started_at, o.metrics)
		    IS DISTINCT FROM (n.status, n.dry_run, n.job,
			n.duration_ms, n.rows_processed, n.finished_at,
			n.started_at, n.metrics);
	END IF;
	IF coalesce(cardinality(plus), 0) = 0 AND
	    coalesce(cardinality(minus), 0) = 0 THEN
		RETURN NULL;
	END IF;

	FOR i IN 1..2 LOOP
		batch := CASE i WHEN 1 THEN minus ELSE plus END;
		w := CASE i WHEN 1 THEN -1 ELSE 1 END;
		CONTINUE WHEN coalesce(cardinality(batch), 0) = 0;
		INSERT INTO qsched.job_totals AS t
		SELECT * FROM qsched.job_totals_delta(batch, w) ORDER BY 1
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
		    last_success = greatest(t.last_success,
			excluded.last_success),
		    last_failure = greatest(t.last_failure,
			excluded.last_failure);
		INSERT INTO qsched.job_metric_totals AS t
		SELECT d.job, m.key, w * sum(m.value::text::numeric)
		FROM unnest(batch) AS d, jsonb_each(d.metrics) AS m(key, value)
		WHERE NOT d.dry_run
		    AND d.status NOT IN ('running', 'retry_scheduled')
		    AND jsonb_typeof(m.value) = 'number'
		GROUP BY d.job, m.key
		ORDER BY d.job, m.key
		ON CONFLICT (job, key) DO UPDATE SET
		    total = t.total + excluded.total;
	END LOOP;

	jobs := ARRAY(SELECT DISTINCT d.job FROM unnest(plus) AS d
	    UNION SELECT d.job FROM unnest(minus) AS d);
	UPDATE qsched.job_totals t
	SET consecutive_failures = qsched.job_failures_in_a_row(t.job)
	WHERE t.job = ANY (jobs);
	-- A maximum cannot be taken back: the jobs of runs taken back have
	-- their last success and failure read again from the history.
	IF coalesce(cardinality(minus), 0) > 0 THEN
		UPDATE qsched.job_totals t
		SET last_success = (SELECT max(r.finished_at)
			FROM qsched.runs r WHERE r.job = t.job
			AND r.status = 'succeeded' AND NOT r.dry_run),
		    last_failure = (SELECT max(r.finished_at)
			FROM qsched.runs r WHERE r.job = t.job
			AND r.status IN ('failed', 'timed_out', 'crashed',
			    'abandoned') AND NOT r.dry_run)
		WHERE t.job IN (SELECT d.job FROM unnest(minus) AS d);
	END IF;
	RETURN NULL;
END
$fn$;

CREATE TRIGGER job_totals_insert AFTER INSERT ON qsched.runs
    REFERENCING NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION qsched.job_totals_settle();
CREATE TRIGGER job_totals_update AFTER UPDATE ON qsched.runs
    REFERENCING OLD TABLE AS old_runs NEW TABLE AS new_runs
    FOR EACH STATEMENT EXECUTE FUNCTION qsched.job_totals_settle();

-- The history so far.  CREATE TRIGGER took a lock that keeps writers of
-- qsched.runs out until this transaction commits, and this statement's
-- snapshot is taken after it: every run is counted once, here or by the
-- trigger.
INSERT INTO qsched.job_totals SELECT * FROM qsched.job_totals_recount();
INSERT INTO qsched.job_metric_totals
    SELECT * FROM qsched.job_metric_totals_recount();
