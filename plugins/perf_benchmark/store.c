/*
 * store.c - the results: table qsched_bench.results, one row per run per
 * operation and variant, written with the gate's verdict in one
 * transaction at the end of a run (a run that dies leaves no row), and
 * the view qsched_bench.comparison that qsched report prints.
 *
 * The gate.  A row is SLOWER when, against its reference (the last
 * earlier run of the same job, operation and variant with min_samples
 * samples that was not itself an unconfirmed slowdown), it has
 * min_samples too, its p99 grew by at least min_regression_us, and by a
 * factor above the limit: (1 + regression_threshold + the spread) times
 * how much slower the host was.  The spread is the median absolute
 * relative p99 change between the (up to six) confirmed runs before it,
 * how much the p99 moves when nothing changed.  How much slower the host
 * was is the control's p99 (bench.c: an empty transaction on the same
 * clients just before and after the operation) against the reference's,
 * never below 1:
 * a host slowed as a whole (another job, a noisy neighbour) slows the
 * control as much as the operation, a dropped index the operation only.
 *
 * A slower row REGRESSED, and fails the run, when its plan's scans differ
 * from the reference's (a cause, not noise) or when the run just before
 * it was slower too (the slowdown persisted).  Otherwise it is stored
 * unconfirmed: the run succeeds and says so, and the next run is judged
 * against the same reference.  Why: the samples of one run share its
 * host's load, so no significance test on one run's histogram tells a
 * loaded host from a slower operation (one run in five of an unchanged
 * database failed the plain p99 gate); what does is the control, a
 * changed plan, or the same slowdown again.  The first run with samples
 * is the baseline.  Each row keeps the threshold and minimums it was
 * measured with, so the view needs no parameters.
 *
 * The schema is created idempotently, under an advisory lock, and only
 * when its comment does not name this schema version.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define STORE_VERSION	"perf_benchmark schema 2"

static const char store_ddl[] =
/* Not a NOTICE per IF [NOT] EXISTS in every new database's first run. */
"SET LOCAL client_min_messages = warning;\n"
"CREATE SCHEMA IF NOT EXISTS qsched_bench;\n"
"CREATE TABLE IF NOT EXISTS qsched_bench.results (\n"
"	id		bigserial PRIMARY KEY,\n"
"	job		text NOT NULL,\n"
"	run_id		bigint NOT NULL,\n"
"	measured_at	timestamptz NOT NULL DEFAULT now(),\n"
"	op		text NOT NULL,\n"
"	variant		text NOT NULL\n"
"	    CHECK (variant IN ('legacy', 'separated', 'shared')),\n"
"	queue		text NOT NULL,\n"
"	clients		integer NOT NULL,\n"
"	samples		bigint NOT NULL,\n"
"	errors		bigint NOT NULL,\n"
"	elapsed_ms	double precision NOT NULL,\n"
"	mean_us		bigint,\n"
"	p50_us		bigint,\n"
"	p95_us		bigint,\n"
"	p99_us		bigint,\n"
"	max_us		bigint,\n"
"	plan		jsonb,\n"
"	scans		text,\n"
"	plan_rows	bigint,\n"
"	shared_hit	bigint,\n"
"	shared_read	bigint,\n"
"	threshold	double precision NOT NULL,\n"
"	min_samples	bigint NOT NULL,\n"
"	min_regression_us bigint NOT NULL,\n"
"	note		text,\n"
"	unconfirmed	boolean NOT NULL DEFAULT false,\n"
"	control_samples	bigint,\n"
"	control_p50_us	bigint,\n"
"	control_p99_us	bigint,\n"
"	UNIQUE (job, run_id, op, variant)\n"
");\n"
/* Schema 1 had no unconfirmed slowdowns and no control. */
"ALTER TABLE qsched_bench.results\n"
"    ADD COLUMN IF NOT EXISTS unconfirmed boolean NOT NULL DEFAULT false,\n"
"    ADD COLUMN IF NOT EXISTS control_samples bigint,\n"
"    ADD COLUMN IF NOT EXISTS control_p50_us bigint,\n"
"    ADD COLUMN IF NOT EXISTS control_p99_us bigint;\n"
"COMMENT ON COLUMN qsched_bench.results.unconfirmed IS\n"
"    'slower beyond the limit with the plan unchanged, once: not failed, "
"not a reference';\n"
"COMMENT ON TABLE qsched_bench.results IS\n"
"    'perf_benchmark: one row per run per operation and variant';\n"
/* The scans of a plan: "Index Scan using i on t; Seq Scan on u". */
"CREATE OR REPLACE FUNCTION qsched_bench.plan_scans(p jsonb)\n"
"RETURNS text LANGUAGE sql IMMUTABLE AS $$\n"
"	SELECT string_agg((n ->> 'Node Type') ||\n"
"	    coalesce(' using ' || (n ->> 'Index Name'), '') ||\n"
"	    ' on ' || (n ->> 'Relation Name'), '; ')\n"
"	FROM jsonb_path_query(p, 'strict $[*][*].Plan.**') AS n\n"
"	WHERE jsonb_typeof(n) = 'object' AND n ? 'Relation Name'\n"
"$$;\n"
/* Totals of the top nodes: rows returned, shared buffers hit, read. */
"CREATE OR REPLACE FUNCTION qsched_bench.plan_total(p jsonb, k text)\n"
"RETURNS bigint LANGUAGE sql IMMUTABLE AS $$\n"
"	SELECT sum((t -> 'Plan' ->> k)::numeric)::bigint\n"
"	FROM jsonb_path_query(p, 'strict $[*][*]') AS t\n"
"$$;\n"
/* Columns changed with schema 2: drop, then create. */
"DROP VIEW IF EXISTS qsched_bench.latest, qsched_bench.comparison;\n"
"CREATE VIEW qsched_bench.comparison AS\n"
"SELECT r.job, r.run_id, r.measured_at, r.op, r.variant, r.queue,\n"
"    r.clients, r.samples, r.errors,\n"
"    round((r.samples / nullif(r.elapsed_ms, 0) * 1000)::numeric, 1)\n"
"	AS ops_per_s,\n"
"    round(r.p50_us / 1000.0, 3) AS p50_ms,\n"
"    round(r.p95_us / 1000.0, 3) AS p95_ms,\n"
"    round(r.p99_us / 1000.0, 3) AS p99_ms,\n"
"    round(r.max_us / 1000.0, 3) AS max_ms,\n"
"    round(100.0 * (r.p99_us::numeric / nullif(l.p99_us, 0) - 1), 1)\n"
"	AS vs_legacy_pct,\n"
"    b.run_id AS baseline_run,\n"
"    round(100.0 * (r.p99_us::numeric / nullif(b.p99_us, 0) - 1), 1)\n"
"	AS vs_baseline_pct,\n"
"    p.run_id AS previous_run,\n"
"    round(p.p99_us / 1000.0, 3) AS previous_p99_ms,\n"
"    round(100.0 * (r.p99_us::numeric / nullif(p.p99_us, 0) - 1), 1)\n"
"	AS vs_previous_pct,\n"
"    round(100.0 * s.spread::numeric, 1) AS spread_pct,\n"
"    round(100.0 * r.threshold::numeric, 1) AS threshold_pct,\n"
"    coalesce(g.slower AND (g.plan_changed OR q.unconfirmed), false)\n"
"	AS regressed,\n"
"    coalesce(g.plan_changed, false) AS plan_changed,\n"
"    r.scans AS plan, p.scans AS previous_plan, r.plan_rows,\n"
"    r.shared_hit, r.shared_read,\n"
"    CASE WHEN r.samples = 0 THEN 'skipped'\n"
"	WHEN b.run_id IS NULL THEN 'baseline'\n"
"	WHEN r.samples < r.min_samples OR p.run_id IS NULL\n"
"	    THEN 'too few samples'\n"
"	WHEN g.slower AND (g.plan_changed OR q.unconfirmed)\n"
"	    THEN 'REGRESSED'\n"
"	WHEN g.slower THEN 'slower, unconfirmed' ELSE 'ok' END AS verdict,\n"
"    r.note,\n"
"    coalesce(g.slower AND NOT g.plan_changed AND NOT q.unconfirmed,\n"
"	false) AS unconfirmed,\n"
"    q.run_id AS last_run, coalesce(q.unconfirmed, false)\n"
"	AS last_unconfirmed,\n"
"    round(r.control_p99_us / 1000.0, 3) AS control_p99_ms,\n"
"    round(100.0 * (h.f::numeric - 1), 1) AS host_slower_pct,\n"
"    round(100.0 * (m.lim::numeric - 1), 1) AS limit_pct\n"
"FROM qsched_bench.results AS r\n"
"LEFT JOIN qsched_bench.results AS l ON r.variant = 'separated'\n"
"    AND l.job = r.job AND l.run_id = r.run_id AND l.op = r.op\n"
"    AND l.variant = 'legacy' AND l.samples > 0\n"
"LEFT JOIN LATERAL (SELECT * FROM qsched_bench.results AS x\n"
"    WHERE x.job = r.job AND x.op = r.op AND x.variant = r.variant\n"
"	AND x.samples > 0 AND x.run_id < r.run_id\n"
"    ORDER BY x.run_id LIMIT 1) AS b ON true\n"
/* The reference: the last confirmed run with enough samples. */
"LEFT JOIN LATERAL (SELECT * FROM qsched_bench.results AS x\n"
"    WHERE x.job = r.job AND x.op = r.op AND x.variant = r.variant\n"
"	AND x.samples >= r.min_samples AND x.run_id < r.run_id\n"
"	AND NOT x.unconfirmed\n"
"    ORDER BY x.run_id DESC LIMIT 1) AS p ON true\n"
/* The run just before, confirmed or not: did the slowdown persist? */
"LEFT JOIN LATERAL (SELECT * FROM qsched_bench.results AS x\n"
"    WHERE x.job = r.job AND x.op = r.op AND x.variant = r.variant\n"
"	AND x.samples >= r.min_samples AND x.run_id < r.run_id\n"
"    ORDER BY x.run_id DESC LIMIT 1) AS q ON true\n"
/* The spread: changes between confirmed runs, the host's taken out. */
"LEFT JOIN LATERAL (SELECT percentile_cont(0.5) WITHIN GROUP\n"
"	(ORDER BY abs(c.chg)) AS spread\n"
"    FROM (SELECT x.run_id, x.p99_us::float8 /\n"
"	    nullif(lag(x.p99_us) OVER w, 0) / greatest(1, coalesce(\n"
"	    x.control_p99_us::float8 / nullif(lag(x.control_p99_us)\n"
"	    OVER w, 0), 1)) - 1 AS chg\n"
"	FROM qsched_bench.results AS x\n"
"	WHERE x.job = r.job AND x.op = r.op AND x.variant = r.variant\n"
"	    AND x.samples >= r.min_samples AND x.run_id < r.run_id\n"
"	    AND NOT x.unconfirmed\n"
"	WINDOW w AS (ORDER BY x.run_id)\n"
"	ORDER BY x.run_id DESC LIMIT 5) AS c) AS s ON true\n"
/* How much slower the host was: the control's p99 against the
 * reference's, never below 1 (a faster host excuses nothing). */
"LEFT JOIN LATERAL (SELECT greatest(1, coalesce(r.control_p99_us::float8\n"
"	/ nullif(p.control_p99_us, 0), 1)) AS f) AS h ON true\n"
"LEFT JOIN LATERAL (SELECT (1 + r.threshold + coalesce(s.spread, 0))\n"
"	* h.f AS lim) AS m ON true\n"
"LEFT JOIN LATERAL (SELECT r.samples >= r.min_samples\n"
"	AND r.p99_us - p.p99_us >= r.min_regression_us\n"
"	AND r.p99_us > p.p99_us * m.lim\n"
"	AS slower, p.scans IS DISTINCT FROM r.scans AS plan_changed)\n"
"    AS g ON p.run_id IS NOT NULL;\n"
"COMMENT ON VIEW qsched_bench.comparison IS\n"
"    'perf_benchmark runs against the baseline, the previous run and legacy';\n"
"CREATE VIEW qsched_bench.latest AS\n"
"SELECT c.job, c.run_id, c.op, c.variant, c.samples, c.errors,\n"
"    c.ops_per_s, c.p50_ms, c.p99_ms, c.vs_legacy_pct, c.vs_baseline_pct,\n"
"    c.vs_previous_pct, c.verdict, c.plan\n"
"FROM qsched_bench.comparison AS c\n"
"WHERE c.run_id = (SELECT max(x.run_id) FROM qsched_bench.results AS x\n"
"    WHERE x.job = c.job)\n"
"ORDER BY c.job, c.op, c.variant;\n"
"COMMENT ON VIEW qsched_bench.latest IS\n"
"    'perf_benchmark: the latest run of each job, as qsched report shows it';\n";

int
store_schema(const struct qsched_host *host, struct qsched_run *run)
{
	PGresult	*res;
	char		 key[24];
	const char	*params[1] = { key };
	bool		 current;

	if ((res = host->exec(run, "reading the qsched_bench schema version",
	    "SELECT coalesce(obj_description(to_regnamespace('qsched_bench'), "
	    "'pg_namespace') = '" STORE_VERSION "', false)", 0, NULL)) == NULL)
		return (-1);
	current = *PQgetvalue(res, 0, 0) == 't';
	PQclear(res);
	if (current)
		return (0);
	snprintf(key, sizeof key, "%" PRId64,
	    host->lock_key(BENCH_LOCK_CLASS, "schema"));
	if ((res = host->exec(run, "creating schema qsched_bench: BEGIN",
	    "BEGIN", 0, NULL)) == NULL)
		return (-1);
	PQclear(res);
	if ((res = host->exec(run, "creating schema qsched_bench: lock",
	    "SELECT pg_advisory_xact_lock($1::bigint)", 1, params)) == NULL ||
	    (PQclear(res), res = host->exec(run, "creating schema "
	    "qsched_bench", store_ddl, 0, NULL)) == NULL ||
	    (PQclear(res), res = host->exec(run, "creating "
	    "qsched_bench.report_html", html_ddl, 0, NULL)) == NULL ||
	    (PQclear(res), res = host->exec(run, "creating schema "
	    "qsched_bench", "COMMENT ON SCHEMA qsched_bench IS '"
	    STORE_VERSION "'", 0, NULL)) == NULL ||
	    (PQclear(res), res = host->exec(run, "creating schema "
	    "qsched_bench: COMMIT", "COMMIT", 0, NULL)) == NULL) {
		PQclear(PQexec(host->conn(run), "ROLLBACK"));
		return (-1);
	}
	PQclear(res);
	return (0);
}

#define STORE_INSERT							\
	"INSERT INTO qsched_bench.results (job, run_id, op, variant, "	\
	"queue, clients, samples, errors, elapsed_ms, mean_us, p50_us, "	\
	"p95_us, p99_us, max_us, plan, scans, plan_rows, shared_hit, "	\
	"shared_read, threshold, min_samples, min_regression_us, note, "	\
	"control_samples, control_p50_us, control_p99_us) "		\
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, " \
	"$14, $15::jsonb, qsched_bench.plan_scans($15::jsonb), "	\
	"qsched_bench.plan_total($15::jsonb, 'Actual Rows'), "		\
	"qsched_bench.plan_total($15::jsonb, 'Shared Hit Blocks'), "	\
	"qsched_bench.plan_total($15::jsonb, 'Shared Read Blocks'), "	\
	"$16, $17, $18, nullif($19, ''), $20, $21, $22)"

static int
store_row(const struct qsched_host *host, struct qsched_run *run,
    const struct bench_cfg *cfg, const struct bench_gate *gate,
    const struct bench_result *r)
{
	char		 v[17][32], note[600];
	const char	*p[22];
	const struct hist *h = &r->hist;
	PGresult	*res;

	snprintf(v[0], 32, "%" PRId64, host->run_id(run));
	snprintf(v[1], 32, "%d", cfg->clients);
	snprintf(v[2], 32, "%" PRIu64, h->count);
	snprintf(v[3], 32, "%" PRIu64, r->errors);
	snprintf(v[4], 32, "%.3f", (double)r->elapsed_us / 1000.0);
	snprintf(v[5], 32, "%" PRIu64, h->count ? h->sum / h->count : 0);
	snprintf(v[6], 32, "%" PRIu64, hist_percentile(h, 0.50));
	snprintf(v[7], 32, "%" PRIu64, hist_percentile(h, 0.95));
	snprintf(v[8], 32, "%" PRIu64, hist_percentile(h, 0.99));
	snprintf(v[9], 32, "%" PRIu64, h->max);
	snprintf(v[10], 32, "%.4f", gate->threshold);
	snprintf(v[11], 32, "%" PRId64, gate->min_samples);
	snprintf(v[12], 32, "%" PRId64, gate->min_regression_us);
	snprintf(v[13], 32, "%" PRIu64, r->control.count);
	snprintf(v[14], 32, "%" PRIu64, hist_percentile(&r->control, 0.50));
	snprintf(v[15], 32, "%" PRIu64, hist_percentile(&r->control, 0.99));
	snprintf(note, sizeof note, "%s%s%s%s", r->note,
	    r->note[0] != '\0' && r->first_error[0] != '\0' ? "; " : "",
	    r->first_error[0] != '\0' ? "first error: " : "", r->first_error);
	p[0] = host->job(run);
	p[1] = v[0];
	p[2] = r->op->name;
	p[3] = ops_variant_name(r->op->variant);
	p[4] = cfg->queue;
	p[5] = v[1];
	p[6] = v[2];
	p[7] = v[3];
	p[8] = v[4];
	for (int i = 0; i < 5; i++)
		p[9 + i] = h->count > 0 ? v[5 + i] : NULL;
	p[14] = r->plans;
	p[15] = v[10];
	p[16] = v[11];
	p[17] = v[12];
	p[18] = note;
	p[19] = v[13];
	p[20] = r->control.count > 0 ? v[14] : NULL;
	p[21] = r->control.count > 0 ? v[15] : NULL;
	if ((res = host->exec(run, "storing a result", STORE_INSERT, 22,
	    p)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

/* Append to MSG (of SIZE, LEN used) the line of row I of RES. */
static size_t
store_line(char *msg, size_t size, size_t len, const PGresult *res, int i,
    const char *head, int *count)
{
	if (len >= size)
		return (len);
	if ((*count)++ == 0)
		len += (size_t)snprintf(msg + len, size - len, "%s%s:",
		    len > 0 ? " " : "", head);
	if (len < size)
		len += (size_t)snprintf(msg + len, size - len,
		    " %s %s ms (previous %s ms, %s; limit +%s);%s;",
		    PQgetvalue(res, i, 0), PQgetvalue(res, i, 1),
		    PQgetvalue(res, i, 6), PQgetvalue(res, i, 3),
		    PQgetvalue(res, i, 7), PQgetvalue(res, i, 8));
	return (len);
}

/*
 * Log each row against the baseline and the previous run; name the
 * regressions, then the unconfirmed slowdowns, in the run's message, and
 * mark the latter so that the next run is judged against the same
 * reference.  Returns 1 when a row regressed, 0, or -1.
 */
static int
store_compare(const struct qsched_host *host, struct qsched_run *run)
{
	char		 runid[32], msg[1024] = "";
	const char	*p[2] = { host->job(run), runid };
	PGresult	*res;
	int		 regressed = 0, unconfirmed = 0;
	size_t		 len = 0;

	snprintf(runid, sizeof runid, "%" PRId64, host->run_id(run));
	if ((res = host->exec(run, "comparing with earlier runs",
	    "SELECT op || '/' || variant, coalesce(p99_ms::text, '-'), "
	    "coalesce(vs_baseline_pct || '%', '-'), "
	    "coalesce(vs_previous_pct || '%', '-'), verdict, regressed, "
	    "coalesce(previous_p99_ms::text, '-'), "
	    "limit_pct || '%' || CASE WHEN host_slower_pct > 0 THEN ', the "
	    "host ' || host_slower_pct || '% slower' ELSE '' END, "
	    "CASE WHEN plan_changed THEN ' plan ' || "
	    "coalesce(previous_plan, '(none)') || ' -> ' || "
	    "coalesce(plan, '(none)') WHEN regressed THEN ' plan unchanged, "
	    "slower in run ' || last_run || ' too' "
	    "ELSE ' plan unchanged' END, unconfirmed "
	    "FROM qsched_bench.comparison WHERE job = $1 AND run_id = $2 "
	    "ORDER BY op, variant", 2, p)) == NULL)
		return (-1);
	for (int i = 0; i < PQntuples(res); i++) {
		host->log(run, *PQgetvalue(res, i, 9) == 't' ?
		    QSCHED_LOG_WARNING : QSCHED_LOG_INFO, "%s: p99 %s ms, vs "
		    "baseline %s, vs previous %s: %s", PQgetvalue(res, i, 0),
		    PQgetvalue(res, i, 1), PQgetvalue(res, i, 2),
		    PQgetvalue(res, i, 3), PQgetvalue(res, i, 4));
		if (*PQgetvalue(res, i, 5) == 't')
			len = store_line(msg, sizeof msg, len, res, i,
			    "p99 regressed", &regressed);
	}
	for (int i = 0; i < PQntuples(res); i++)
		if (*PQgetvalue(res, i, 9) == 't')
			len = store_line(msg, sizeof msg, len, res, i,
			    "p99 slower, unconfirmed (fails if the next run is "
			    "slower too)", &unconfirmed);
	PQclear(res);
	if (unconfirmed > 0 && (res = host->exec(run, "marking unconfirmed "
	    "slowdowns", "UPDATE qsched_bench.results AS r SET unconfirmed = "
	    "true FROM qsched_bench.comparison AS c WHERE r.job = $1 AND "
	    "r.run_id = $2 AND c.job = r.job AND c.run_id = r.run_id AND "
	    "c.op = r.op AND c.variant = r.variant AND c.unconfirmed", 2,
	    p)) == NULL)
		return (-1);
	if (unconfirmed > 0)
		PQclear(res);
	if (regressed + unconfirmed > 0)
		host->message(run, "%s", msg);
	return (regressed > 0 ? 1 : 0);
}

int
store_save(const struct qsched_host *host, struct qsched_run *run,
    const struct bench_cfg *cfg, const struct bench_gate *gate,
    struct bench_result *r, int n)
{
	PGresult	*res;
	int		 rc;

	if ((res = host->exec(run, "storing the results: BEGIN", "BEGIN", 0,
	    NULL)) == NULL)
		return (-1);
	PQclear(res);
	for (int i = 0; i < n; i++)
		if (store_row(host, run, cfg, gate, &r[i]) == -1)
			goto fail;
	if ((rc = store_compare(host, run)) == -1)
		goto fail;
	if ((res = host->exec(run, "storing the results: COMMIT", "COMMIT",
	    0, NULL)) == NULL)
		return (-1);
	PQclear(res);
	return (rc);
fail:
	PQclear(PQexec(host->conn(run), "ROLLBACK"));
	return (-1);
}
