-- qsched core schema, version 5: qsched's advisory lock keys in SQL, and
-- the fold of the per-job totals (version 4) taking its lock by one of
-- them, like every other qsched lock (qsched-plugin(3), LOCKS).
--
-- qsched.lock_key(class, name) is lock.c's lock_key(): FNV-1a 64 of the
-- UTF-8 bytes of "class/name", as a signed bigint.  Version 4 keyed the
-- fold's lock with hashtext('qsched.job_totals_fold'), outside those
-- classes: a 32-bit key that another application's lock, or a release
-- of PostgreSQL that hashes differently, could share.  With the function
-- an operator can also find any qsched lock in pg_locks from psql.

-- IMMUTABLE: the key is the documented function of its arguments, the
-- same on every host, version and PostgreSQL release.  A loop over the
-- bytes in numeric, modulo 2^64: bigint arithmetic would overflow.
CREATE FUNCTION qsched.lock_key(lock_class text, name text)
RETURNS bigint
LANGUAGE plpgsql IMMUTABLE PARALLEL SAFE
AS $fn$
DECLARE
	b	bytea := convert_to(coalesce(lock_class, '') || '/' ||
	    coalesce(name, ''), 'UTF8');
	h	numeric := 14695981039346656037;
	low	integer;
BEGIN
	FOR i IN 0 .. length(b) - 1 LOOP
		low := mod(h, 256)::integer;
		h := mod((h - low + (low # get_byte(b, i))) * 1099511628211,
		    18446744073709551616);
	END LOOP;
	IF h >= 9223372036854775808 THEN
		h := h - 18446744073709551616;
	END IF;
	RETURN h::bigint;
END
$fn$;

COMMENT ON FUNCTION qsched.lock_key(text, text) IS
    'The advisory lock key of qsched lock NAME of class LOCK_CLASS (job, qsched, or a plugin''s name); see qsched-plugin(3), LOCKS.';

-- Version 4's fold, unchanged but for its lock: see 0004_job_totals.sql
-- for why it folds the way it does.
CREATE OR REPLACE FUNCTION qsched.job_totals_fold()
RETURNS bigint
LANGUAGE plpgsql
AS $fn$
DECLARE
	lo	bigint;
	hi	bigint;
	prev	text;
BEGIN
	IF NOT pg_try_advisory_xact_lock(qsched.lock_key('qsched',
	    'job_totals_fold'))
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
