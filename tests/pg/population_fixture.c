/*
 * population_fixture.c - helpers for the queue_population suite; see
 * population_fixture.h.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "th.h"
#include "population_fixture.h"

const struct pf_queue pf_unsigned = {
	"unsigned_users", "unsigned_users_queue", PF_UNSIGNED
};
const struct pf_queue pf_outstanding = {
	"outstanding_requests", "outstanding_requests_queue", PF_OUTSTANDING
};

void
pf_flags(bool separated, bool legacy)
{
	th_writef("flags.ini",
	    "[queue_migration]\n"
	    "use_new_queues            = true\n"
	    "populate_separated_tables = %s\n"
	    "fallback_to_legacy        = true\n"
	    "populate_legacy_queue     = %s\n",
	    separated ? "true" : "false", legacy ? "true" : "false");
}

const char *
pf_conf(const char *settings)
{
	const char	*src = getenv("QSCHED_SRCDIR");
	char		 jobs[2048];

	cr_assert(src != NULL, "QSCHED_SRCDIR is not set");
	if (settings == NULL)
		settings = "";
	snprintf(jobs, sizeof jobs,
	    "job \"schema-migrate\" {\n"
	    "  plugin = \"schema_migrate\"\n"
	    "  schedule = \"@manual\"\n"
	    "  options {\n"
	    "    dir = \"%s/sql/migrations\"\n"
	    "    resolve_duplicates = true\n"
	    "  }\n"
	    "}\n"
	    "job \"" PF_UNSIGNED "\" {\n"
	    "  plugin = \"queue_population\"\n"
	    "  schedule = \"*/5 * * * *\"\n"
	    "  depends_on = {\"schema-migrate\"}\n"
	    "  %s\n"
	    "  options { queue = \"unsigned_users\" }\n"
	    "}\n"
	    "job \"" PF_OUTSTANDING "\" {\n"
	    "  plugin = \"queue_population\"\n"
	    "  schedule = \"*/5 * * * *\"\n"
	    "  depends_on = {\"schema-migrate\"}\n"
	    "  %s\n"
	    "  options { queue = \"outstanding_requests\" }\n"
	    "}\n", src, settings, settings);
	return (th_conf_shipped(jobs));
}

void
pf_load(PGconn *c, const char *conf, int users, int seed, bool adopt)
{
	struct th_out	 o;

	th_exec_file(c, "sql/fixtures/legacy_schema.sql");
	th_exec_file(c, "sql/fixtures/generate.sql");
	if (adopt)
		th_exec_file(c, "sql/fixtures/app_separated_tables.sql");
	th_exec(c, "SELECT * FROM qsched_fixture.generate(%d, %d)", users,
	    seed);
	if (adopt)
		th_exec(c, "SELECT * FROM qsched_fixture.generate_separated(%d)",
		    seed);
	th_exec(c,
	    "UPDATE user_call_scores SET created_at = created_at - "
	    "interval '20 minutes' WHERE created_at BETWEEN "
	    "(now() AT TIME ZONE 'UTC') - interval '2 hours 10 minutes' AND "
	    "(now() AT TIME ZONE 'UTC') - interval '1 hour 50 minutes'; "
	    "UPDATE user_call_scores SET next_call_after = next_call_after + "
	    "interval '20 minutes' WHERE next_call_after BETWEEN "
	    "(now() AT TIME ZONE 'UTC') - interval '10 minutes' AND "
	    "(now() AT TIME ZONE 'UTC') + interval '10 minutes'");
	cr_assert_eq(th_qsched(&o, conf, "run", "schema-migrate", NULL), 0,
	    "schema-migrate: %s", o.err);
	th_out_free(&o);
}

void
pf_user(PGconn *c, long long user_id, const char *qtype, int score,
    bool active, long age_s, bool nca_null, long nca_s)
{
	th_exec(c, "INSERT INTO user_call_scores (id, user_id, "
	    "current_score, next_call_after, is_active, current_queue_type, "
	    "created_at, updated_at) VALUES (gen_random_uuid(), %lld, %d, "
	    "CASE WHEN %s THEN NULL ELSE (now() AT TIME ZONE 'UTC') + "
	    "%ld * interval '1 second' END, %s, %s, (now() AT TIME ZONE "
	    "'UTC') - %ld * interval '1 second', now() AT TIME ZONE 'UTC')",
	    user_id, score, nca_null ? "true" : "false", nca_s,
	    active ? "true" : "false", qtype, age_s);
}

void
pf_refresh(const char *conf, const char *job, long max, bool dry, int want)
{
	pf_refresh_set(conf, job, max, dry, NULL, want);
}

void
pf_refresh_set(const char *conf, const char *job, long max, bool dry,
    const char *set, int want)
{
	const char	*argv[12];
	char		 maxset[32];
	struct th_out	 o;
	int		 n = 0, status;

	argv[n++] = getenv("QSCHED_BIN");
	cr_assert(argv[0] != NULL, "QSCHED_BIN is not set");
	argv[n++] = "-c";
	argv[n++] = conf;
	argv[n++] = "run";
	argv[n++] = job;
	if (max >= 0) {
		snprintf(maxset, sizeof maxset, "max_size=%ld", max);
		argv[n++] = "--set";
		argv[n++] = maxset;
	}
	if (set != NULL) {
		argv[n++] = "--set";
		argv[n++] = set;
	}
	if (dry)
		argv[n++] = "--dry-run";
	argv[n] = NULL;
	status = th_run(&o, argv);
	cr_assert_eq(status, want, "qsched run %s: exit %d, want %d: %s", job,
	    status, want, o.err);
	th_out_free(&o);
}

long long
pf_metric(PGconn *c, const char *job, const char *name)
{
	return (th_int(c, "SELECT (metrics->>'%s')::bigint FROM qsched.runs "
	    "WHERE job = '%s' ORDER BY id DESC LIMIT 1", name, job));
}

/*
 * The rule as the application states it (origin-app.md), in one ranking:
 * stage A before stage B, each in its order, user_id last; stage B rows
 * only up to MAX positions.  Reasons come from a table of score bands.
 */
void
pf_expect(PGconn *c, const struct pf_queue *q, long max, long cooling_s)
{
	th_exec(c, "SET client_min_messages = warning; "
	    "DROP TABLE IF EXISTS pf_expect; RESET client_min_messages; "
	    "CREATE TABLE pf_expect AS "
	    "WITH t AS (SELECT started_at AT TIME ZONE 'UTC' AS now "
	    "  FROM qsched.runs WHERE job = '%s' ORDER BY id DESC LIMIT 1), "
	    "bands (queue, lo, hi, reason) AS (VALUES "
	    "  ('unsigned_users', 0, 0, 'New lead - Missing signature'), "
	    "  ('unsigned_users', 1, 5, 'High priority - Missing signature'), "
	    "  ('unsigned_users', 6, 10, "
	    "      'Medium priority - Missing signature'), "
	    "  ('unsigned_users', 11, 2147483647, "
	    "      'Aged lead - Missing signature'), "
	    "  ('outstanding_requests', 0, 0, "
	    "      'New lead - Pending document requirements'), "
	    "  ('outstanding_requests', 1, 5, "
	    "      'High priority - Outstanding requirements'), "
	    "  ('outstanding_requests', 6, 10, "
	    "      'Medium priority - Outstanding requirements'), "
	    "  ('outstanding_requests', 11, 2147483647, "
	    "      'Aged lead - Outstanding requirements')), "
	    "e AS (SELECT u.user_id, u.current_score AS score, u.created_at, "
	    "    u.next_call_after, "
	    "    CASE WHEN u.current_score = 0 THEN 'A' ELSE 'B' END AS stage "
	    "  FROM user_call_scores AS u CROSS JOIN t "
	    "  WHERE u.current_queue_type = '%s' AND u.is_active IS TRUE "
	    "    AND NOT coalesce(u.next_call_after > t.now, false) "
	    "    AND (u.current_score = 0 OR (u.current_score > 0 AND "
	    "      u.created_at <= t.now - make_interval(secs => %ld)))), "
	    "o AS (SELECT e.*, rank() OVER (ORDER BY e.stage, e.score, "
	    "    e.created_at DESC, e.user_id) AS pos FROM e) "
	    "SELECT o.user_id, o.pos, o.score, b.reason, o.created_at, "
	    "  o.next_call_after "
	    "FROM o JOIN bands AS b ON b.queue = '%s' "
	    "  AND o.score BETWEEN b.lo AND b.hi "
	    "WHERE o.stage = 'A' OR %ld = 0 OR o.pos <= %ld",
	    q->job, q->name, cooling_s, q->name, max, max);
}

long long
pf_mismatches(PGconn *c, const struct pf_queue *q)
{
	const char	*extra;

	if (strcmp(q->name, "unsigned_users") == 0)
		extra = "p.signature_missing_since = e.created_at AND "
		    "p.signature_type = 'initial'";
	else
		extra = "p.requirement_types = '[\"document\"]'::jsonb AND "
		    "p.total_requirements = 1 AND p.pending_requirements = 1 "
		    "AND p.completed_requirements = 0 AND "
		    "p.oldest_requirement_date = e.created_at";
	/*
	 * Positions are compared as ranks: the pending entries in claim
	 * order (queue_position, priority_score) must be the rule's users in
	 * the rule's order, each position held by one entry only.  Users
	 * holding an assigned entry are left out on both sides.
	 */
	return (th_int(c, "WITH a AS (SELECT user_id FROM %s "
	    "  WHERE status = 'assigned'), "
	    "e AS (SELECT e.*, row_number() OVER (ORDER BY e.pos) AS rk "
	    "  FROM pf_expect AS e WHERE e.user_id NOT IN (SELECT user_id "
	    "  FROM a)), "
	    "p AS (SELECT p.*, row_number() OVER (ORDER BY p.queue_position, "
	    "  p.priority_score) AS rk, count(*) OVER (PARTITION BY "
	    "  p.queue_position) AS holders FROM %s AS p "
	    "  WHERE p.status = 'pending') "
	    "SELECT count(*) FROM e FULL JOIN p ON p.user_id = e.user_id "
	    "WHERE NOT coalesce(p.rk = e.rk AND p.holders = 1 "
	    "    AND p.priority_score = e.score "
	    "    AND p.queue_reason = e.reason "
	    "    AND p.available_from <= (SELECT finished_at AT TIME ZONE "
	    "      'UTC' FROM qsched.runs WHERE job = '%s' "
	    "      ORDER BY id DESC LIMIT 1) "
	    "    AND %s, false)",
	    q->table, q->table, q->job, extra));
}

void
pf_snapshot(PGconn *c, const char *table, const char *snap)
{
	th_exec(c, "SET client_min_messages = warning; DROP TABLE IF EXISTS "
	    "%s; RESET client_min_messages; CREATE TABLE %s AS SELECT t.id, "
	    "t.xmin::text AS x, t.ctid::text AS tid, "
	    "to_jsonb(t) - 'updated_at' AS j FROM %s AS t", snap, snap, table);
}

long long
pf_written(PGconn *c, const char *table, const char *snap)
{
	return (th_int(c, "SELECT (SELECT count(*) FROM %s AS t "
	    "  LEFT JOIN %s AS s ON s.id = t.id "
	    "  WHERE s.id IS NULL OR s.x <> t.xmin::text "
	    "    OR s.tid <> t.ctid::text) "
	    "+ (SELECT count(*) FROM %s AS s WHERE NOT EXISTS ("
	    "  SELECT 1 FROM %s AS t WHERE t.id = s.id))",
	    table, snap, snap, table));
}

long long
pf_written_same(PGconn *c, const char *table, const char *snap)
{
	return (th_int(c, "SELECT count(*) FROM %s AS t JOIN %s AS s "
	    "ON s.id = t.id WHERE (s.x <> t.xmin::text "
	    "OR s.tid <> t.ctid::text) AND s.j = to_jsonb(t) - 'updated_at'",
	    table, snap));
}

void
pf_queue_every_unsigned(PGconn *c)
{
	th_exec(c, "INSERT INTO unsigned_users_queue (id, user_id, "
	    "priority_score, queue_position, status, available_from, "
	    "created_at, updated_at) SELECT gen_random_uuid(), user_id, "
	    "current_score, row_number() OVER (ORDER BY current_score, "
	    "user_id), 'pending', now() AT TIME ZONE 'UTC' - interval "
	    "'1 minute', now() AT TIME ZONE 'UTC', now() AT TIME ZONE 'UTC' "
	    "FROM user_call_scores WHERE current_queue_type = "
	    "'unsigned_users'; ANALYZE");
}
