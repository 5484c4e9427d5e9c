-- qsched core schema, version 2: the per-job report.  qsched report reads
-- qsched.job_summary_since(); the view qsched.job_summary is the same over
-- the whole history, so psql users get the numbers qsched report prints.
--
-- Counted: every run but dry runs.  failed counts failed, timed_out,
-- crashed and abandoned runs; skipped counts skipped and blocked ones.
-- success_rate is succeeded / (succeeded + failed), in percent; runs that
-- did not try (skipped, blocked, cancelled, running) do not move it.
-- p50_ms and p95_ms are durations of the runs that succeeded.

CREATE FUNCTION qsched.job_summary_since(since timestamptz)
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
		WHERE NOT r.dry_run AND (since IS NULL OR r.started_at >= since)
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

COMMENT ON FUNCTION qsched.job_summary_since(timestamptz) IS
    'Per-job run totals since a time (NULL: all); see qsched(8), qsched report.';

CREATE VIEW qsched.job_summary AS
	SELECT * FROM qsched.job_summary_since(NULL);

COMMENT ON VIEW qsched.job_summary IS
    'Per-job run totals over the whole history; see qsched(8), qsched report.';
