/*
 * test_fault_matrix.c - tests/pg_fault_matrix: the fault matrix of
 * tests/FAULTS.md, one test per cell, matrix::<plugin>__<fault>.
 *
 * Every cell runs a shipped plugin on real SQL and makes its work slow
 * the way production does: the sql job sleeps in pg_sleep (for as long
 * as the table fm_gate says), and the other plugins wait for a table
 * lock the test holds (ACCESS EXCLUSIVE on a table their next statement
 * needs, taken in an open transaction: the "gate").  Then the fault is
 * done for real (a timeout, SIGSTOP, SIGKILL, a server restart, SIGTERM)
 * and the cell asserts the history rows, that no advisory lock of the
 * job is left (qsched.job_locks), and, after the gate is opened and the
 * job run again, that its tables hold what an uninterrupted run leaves
 * (row counts and an order-independent digest).
 */
#include <config.h>

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "daemon_util.h"
#include "backfill_fixture.h"
#include "population_fixture.h"
#include "deprecation_fixture.h"

TestSuite(matrix, .fini = th_teardown, .timeout = 150);

/* How a cell holds the job's work up. */
enum fm_gate {
	FM_GATE_SLEEP,		/* fm_gate's row: the statement sleeps */
	FM_GATE_LOCK,		/* the test holds a lock on gate_table */
	FM_GATE_NONE,		/* nothing: the work is long by itself */
};

/* How a plugin's cell is set up, slowed, and checked. */
struct fm_plugin {
	const char	*name;		/* the plugin */
	const char	*job;		/* the job a cell faults */
	/* jobs.conf text of the job: %s is its settings (schedule ...) */
	const char	*(*conf)(const char *settings);
	void		 (*load)(PGconn *, const char *conf);
	enum fm_gate	 gate;
	const char	*gate_table;	/* FM_GATE_LOCK: the table locked */
	/* FM_GATE_LOCK: lock only once this query is true (NULL: before
	 * the job starts) */
	const char	*gate_when;
	/* true while the job works (NULL: its backend waits at the gate) */
	const char	*busy_sql;
	/* what a cancelled run records after its status: ":57014" when
	 * the cancelled statement is the run's own, "" when the plugin
	 * stops between statements on its own */
	const char	*cancel_sqlstate;
	char		*(*digest)(PGconn *);	/* what the job wrote */
	/* asserts what an interrupted run left, before any rerun */
	void		 (*interrupted)(PGconn *);
	/* asserts what the rerun says of itself */
	void		 (*rerun)(PGconn *);
	/* the digest an uninterrupted run leaves, computed after the cell */
	char		*(*reference)(PGconn *, const char *conf);
	const char	*rerun_set;	/* --set for reruns, or NULL */
};

/* One cell's state. */
struct fm_cell {
	const struct fm_plugin *p;
	const char	*conf;
	PGconn		*c;		/* the test's connection */
	PGconn		*gate;		/* holds the gate's lock, or NULL */
	long long	 after;		/* the last run of the set-up */
};

/* The sql job: writes 3000 rows, then sleeps as long as fm_gate says,
 * all in one transaction. */
#define FM_SQL_STATEMENT						\
	"insert into fm_out select g, md5(g::text) from "		\
	"generate_series(1, 3000) as g; select pg_sleep(coalesce("	\
	"(select secs from fm_gate), 0))"

#define FM_BATCHES_SQL							\
	"SELECT coalesce((SELECT substring(value FROM 'batches=([0-9]+)')"	\
	"::int FROM qsched.checkpoints WHERE job = 'legacy-backfill'), 0)"

/* Rows of unsigned_users the deprecation's archive has committed. */
#define FM_ARCHIVED_SQL							\
	"SELECT coalesce((SELECT substring(value FROM 'done=([0-9]+)')"	\
	"::bigint FROM qsched.checkpoints WHERE job = 'legacy-deprecation' "	\
	"AND key = 'archive_unsigned_users'), 0)"

/* The call_queue rows the deprecation retires (the two queue types). */
#define FM_RETIRED	"queue_type IN ('unsigned_users', " \
			"'outstanding_requests')"

static const char *
fm_conf_sql(const char *settings)
{
	char		 jobs[1024];

	snprintf(jobs, sizeof jobs, "job \"fm-sql\" { plugin = \"sql\"\n"
	    "  %s\n  options { statement = \"" FM_SQL_STATEMENT "\" } }\n",
	    settings);
	return (th_conf_shipped(jobs));
}

static const char *
fm_conf_migrate(const char *settings)
{
	char		 jobs[2048];

	snprintf(jobs, sizeof jobs, "job \"schema-migrate\" {\n"
	    "  plugin = \"schema_migrate\"\n  %s\n"
	    "  options { dir = \"%s/sql/migrations\" lock_timeout = \"30s\" "
	    "} }\n", settings, getenv("QSCHED_SRCDIR"));
	return (th_conf_shipped(jobs));
}

/* schema-migrate by hand, and the job JOB of PLUGIN after it. */
static const char *
fm_conf_after_migrate(const char *job, const char *plugin,
    const char *settings, const char *options)
{
	char		 jobs[2048];

	snprintf(jobs, sizeof jobs, "job \"schema-migrate\" {\n"
	    "  plugin = \"schema_migrate\"\n  schedule = \"@manual\"\n"
	    "  options { dir = \"%s/sql/migrations\" } }\n"
	    "job \"%s\" {\n  plugin = \"%s\"\n"
	    "  depends_on = {\"schema-migrate\"}\n  %s\n"
	    "  options { %s } }\n", getenv("QSCHED_SRCDIR"), job, plugin,
	    settings, options);
	return (th_conf_shipped(jobs));
}

static const char *
fm_conf_backfill(const char *settings)
{
	/* Small batches with a pause between them, so a cell interrupts
	 * the run after some batches committed. */
	return (fm_conf_after_migrate("legacy-backfill", "legacy_backfill",
	    settings, "batch_size = 100 batch_time = \"10ms\" "
	    "pause = \"100ms\""));
}

static const char *
fm_conf_population(const char *settings)
{
	return (fm_conf_after_migrate(PF_UNSIGNED, "queue_population",
	    settings, "queue = \"unsigned_users\""));
}

/* The migration jobs by hand and legacy-deprecation: monitoring passes
 * at once, and the archive goes in small batches with a pause. */
static const char *
fm_conf_deprecation(const char *settings)
{
	return (dep_conf(settings, "monitoring_period = \"0s\" "
	    "batch_size = 20 pause = \"50ms\""));
}

/* Two operations on both tables for 2 s each: a run of about 8 s. */
static const char *
fm_conf_benchmark(const char *settings)
{
	return (fm_conf_after_migrate("perf-benchmark", "perf_benchmark",
	    settings, "clients = 2 duration = \"2s\" warmup = \"0s\" "
	    "operations = \"claim,next_pending\" "
	    "min_regression_us = 1000000"));
}

static void
fm_load_sql(PGconn *c, const char *conf)
{
	(void)conf;
	th_exec(c, "CREATE TABLE fm_out (id int PRIMARY KEY, v text "
	    "NOT NULL); CREATE TABLE fm_gate (secs float8)");
}

static void
fm_load_migrate(PGconn *c, const char *conf)
{
	(void)conf;
	bf_load(c, 200, 500, 7);
}

static void
fm_load_backfill(PGconn *c, const char *conf)
{
	bf_load(c, 1500, 3000, 11);
	bf_migrate(conf);
}

static void
fm_load_population(PGconn *c, const char *conf)
{
	pf_load(c, conf, 1500, 13, false);
}

/* The retirement in monitoring, ready to archive; what the archive must
 * never change (the source rows) is kept in fm_source. */
static void
fm_load_deprecation(PGconn *c, const char *conf)
{
	dep_load(c, conf, 1000, 2000, 29);
	dep_monitoring(c, conf);
	th_exec(c, "CREATE TABLE fm_source AS SELECT count(*) AS n, "
	    "md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) AS "
	    "digest FROM call_queue AS t WHERE " FM_RETIRED);
}

/* Both queues with entries, agents to claim for; the tables the
 * benchmark must not change are kept in fm_source. */
static void
fm_load_benchmark(PGconn *c, const char *conf)
{
	pf_load(c, conf, 1500, 31, false);
	pf_queue_every_unsigned(c);
	th_exec(c, "CREATE TABLE fm_source AS SELECT "
	    "(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) "
	    " FROM unsigned_users_queue AS t) AS queue, "
	    "(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) "
	    " FROM call_queue AS t) AS legacy");
	cr_assert_gt(th_int(c, "SELECT count(*) FROM unsigned_users_queue"),
	    0);
}

static char *
fm_digest_sql(PGconn *c)
{
	return (th_value(c, "SELECT count(*) || ' ' || md5(coalesce("
	    "string_agg(id || ':' || v, '|' ORDER BY id), '')) FROM fm_out"));
}

/* The schema the migrations leave (columns, constraints and whether
 * validated, indexes and whether valid, functions), the ledger without
 * its times, and the row counts of the tables they create. */
static char *
fm_digest_migrate(PGconn *c)
{
	return (th_value(c, "SELECT (SELECT count(*) FROM "
	    "qsched.schema_migrations) || ' ' || (SELECT count(*) FROM "
	    "unsigned_users_queue) || ' ' || (SELECT count(*) FROM "
	    "outstanding_requests_queue) || ' ' || md5(string_agg(x, '|' "
	    "ORDER BY x)) FROM ("
	    "SELECT 'a:' || c.relname || ':' || a.attname || ':' || "
	    " format_type(a.atttypid, a.atttypmod) || ':' || a.attnotnull || "
	    " ':' || coalesce(pg_get_expr(d.adbin, d.adrelid), '') "
	    " FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
	    " LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND "
	    " d.adnum = a.attnum WHERE c.relnamespace = 'public'::regnamespace "
	    " AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND "
	    " NOT a.attisdropped "
	    "UNION ALL SELECT 'c:' || conrelid::regclass || ':' || conname || "
	    " ':' || pg_get_constraintdef(oid) || ':' || convalidated "
	    " FROM pg_constraint WHERE connamespace = 'public'::regnamespace "
	    "UNION ALL SELECT 'i:' || pg_get_indexdef(i.indexrelid) || ':' || "
	    " i.indisvalid FROM pg_index i JOIN pg_class c ON c.oid = "
	    " i.indexrelid WHERE c.relnamespace = 'public'::regnamespace "
	    "UNION ALL SELECT 'f:' || p.oid::regprocedure || ':' || "
	    " md5(p.prosrc) FROM pg_proc p WHERE "
	    " p.pronamespace = 'public'::regnamespace "
	    "UNION ALL SELECT 'l:' || version || ':' || name || ':' || checksum "
	    " FROM qsched.schema_migrations) AS s(x)"));
}

static char *
fm_digest_backfill(PGconn *c)
{
	char	*md5, *s;

	md5 = bf_end_state(c);
	s = th_value(c, "SELECT (SELECT count(*) FROM unsigned_users_queue) "
	    "|| ' ' || (SELECT count(*) FROM outstanding_requests_queue) || "
	    "' ' || (SELECT count(*) FROM qsched.backfill_conflicts) || ' %s'",
	    md5);
	free(md5);
	return (s);
}

/* The queue's entries without their ids and times. */
static char *
fm_digest_population(PGconn *c)
{
	return (th_value(c, "SELECT count(*) || ' ' || md5(coalesce("
	    "string_agg(ROW(user_id, queue_position, priority_score, status, "
	    "queue_reason, signature_missing_since, signature_type)::text, '|' "
	    "ORDER BY user_id, status), '')) FROM unsigned_users_queue"));
}

/* The states of the two queue types, the archive's rows and the source
 * rows (which the archive never changes). */
static char *
fm_digest_deprecation(PGconn *c)
{
	return (th_value(c, "SELECT (SELECT string_agg(object || '=' || "
	    "state, ',' ORDER BY object) FROM qsched_legacy.retirement WHERE "
	    "object <> 'call_queue') || ' ' || count(*) || ' ' || "
	    "md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) || ' ' "
	    "|| (SELECT md5(coalesce(string_agg(s::text, '|' ORDER BY s.id), "
	    "'')) FROM call_queue AS s WHERE " FM_RETIRED ") FROM "
	    "qsched_legacy.call_queue_archive AS t WHERE " FM_RETIRED));
}

/* The result rows (how many, of how many runs) and both queue tables,
 * which no run may change. */
static char *
fm_digest_benchmark(PGconn *c)
{
	return (th_value(c, "SELECT (SELECT count(*) || ' ' || "
	    "count(DISTINCT run_id) FROM qsched_bench.results) || ' ' || "
	    "(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) "
	    " FROM unsigned_users_queue AS t) || ' ' || "
	    "(SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) "
	    " FROM call_queue AS t)"));
}

/* The sql job's transaction went with it. */
static void
fm_interrupted_sql(PGconn *c)
{
	cr_assert_eq(th_int(c, "SELECT count(*) FROM fm_out"), 0,
	    "rows of the interrupted transaction are left");
}

/* 0001 committed with its ledger row; 0002 waited, and went. */
static void
fm_interrupted_migrate(PGconn *c)
{
	char	*s = th_value(c, "SELECT string_agg(version::text, ',' ORDER "
	    "BY version) FROM qsched.schema_migrations");

	cr_assert_str_eq(s, "1", "applied before the fault: %s", s);
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_constraint WHERE "
	    "contype = 'f' AND conrelid = 'unsigned_users_queue'::regclass"),
	    0, "0002 is half applied");
}

/* The committed batches stay, and are all there is: every copy lies
 * before the checkpoint. */
static void
fm_interrupted_backfill(PGconn *c)
{
	long long	 done, copied;

	done = th_int(c, "SELECT substring(value FROM 'done=([0-9]+)')"
	    "::bigint FROM qsched.checkpoints WHERE job = 'legacy-backfill'");
	copied = th_int(c, "SELECT (SELECT count(*) FROM unsigned_users_queue)"
	    " + (SELECT count(*) FROM outstanding_requests_queue)");
	cr_assert_gt(copied, 0, "no batch committed before the fault");
	cr_assert_leq(copied, done, "%lld copies, %lld rows done", copied,
	    done);
	bf_assert_live_rule(c);
}

/* The refresh is one transaction: nothing of it is left. */
static void
fm_interrupted_population(PGconn *c)
{
	cr_assert_eq(th_int(c, "SELECT count(*) FROM unsigned_users_queue"), 0,
	    "entries of the interrupted refresh are left");
}

/* The archive holds exactly what its checkpoint says, the state has not
 * moved, and no source row changed. */
static void
fm_interrupted_deprecation(PGconn *c)
{
	long long	 done;

	done = th_int(c, FM_ARCHIVED_SQL);
	cr_assert_gt(done, 0, "no archive batch committed before the fault");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.call_queue_archive WHERE queue_type = "
	    "'unsigned_users'"), done, "the archive is not what its "
	    "checkpoint says");
	dep_assert_state(c, "unsigned_users", "monitoring");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM fm_source WHERE "
	    "(n, digest) = (SELECT count(*), md5(coalesce(string_agg(t::text, "
	    "'|' ORDER BY t.id), '')) FROM call_queue AS t WHERE " FM_RETIRED
	    ")"), 1, "call_queue rows changed");
}

/* No result row, no session left, nothing changed. */
static void
fm_interrupted_benchmark(PGconn *c)
{
	cr_assert_eq(th_int(c, "SELECT CASE WHEN to_regclass("
	    "'qsched_bench.results') IS NULL THEN 0 ELSE (SELECT count(*) "
	    "FROM qsched_bench.results) END"), 0, "a partial result is "
	    "stored");
	cr_assert(th_wait_until(c, "SELECT count(*) = 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND (application_name LIKE "
	    "'qsched/perf-benchmark/%' OR state LIKE 'idle in transaction%') "
	    "AND pid <> pg_backend_pid()", 10000), "a session of the "
	    "benchmark is left");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM fm_source WHERE "
	    "queue = (SELECT md5(coalesce(string_agg(t::text, '|' ORDER BY "
	    "t.id), '')) FROM unsigned_users_queue AS t) AND legacy = (SELECT "
	    "md5(coalesce(string_agg(t::text, '|' ORDER BY t.id), '')) FROM "
	    "call_queue AS t)"), 1, "the benchmark changed a row");
}

/* The rerun resumed after the committed batches, and its proof held. */
static void
fm_rerun_backfill(PGconn *c)
{
	char	*s;

	cr_assert_gt(bf_metric(c, "resumed_after"), 0, "the rerun started "
	    "over");
	s = bf_message(c);
	cr_assert(strstr(s, "proof holds") != NULL, "%s", s);
	free(s);
	bf_assert_accounted(c);
	bf_assert_live_rule(c);
}

/* The rerun resumed the archive: each queue type was archived once,
 * and no checkpoint is left. */
static void
fm_rerun_deprecation(PGconn *c)
{
	cr_assert_eq(th_int(c, "SELECT count(*) FROM "
	    "qsched_legacy.transitions WHERE to_state = 'archived'"), 2,
	    "each queue type archived once");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.checkpoints WHERE "
	    "job = 'legacy-deprecation'"), 0, "a checkpoint is left");
}

/* The rerun's results are one run's, and it was the baseline. */
static void
fm_rerun_benchmark(PGconn *c)
{
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched_bench.results "
	    "WHERE run_id <> (SELECT max(id) FROM qsched.runs WHERE job = "
	    "'perf-benchmark' AND status = 'succeeded')"), 0, "results of "
	    "another run are stored");
}

static void
fm_run_ok(const char *conf, const char *job, const char *set)
{
	struct th_out	 o;
	int		 st;

	if (set != NULL)
		st = th_qsched(&o, conf, "run", job, "--set", set, NULL);
	else
		st = th_qsched(&o, conf, "run", job, NULL);
	cr_assert_eq(st, 0, "qsched run %s: %s", job, o.err);
	th_out_free(&o);
}

static char *
fm_reference_sql(PGconn *c, const char *conf)
{
	th_exec(c, "TRUNCATE fm_out");
	fm_run_ok(conf, "fm-sql", NULL);
	return (fm_digest_sql(c));
}

/* A sibling database loaded the same way, migrated in one go. */
static char *
fm_reference_migrate(PGconn *c, const char *conf)
{
	char		 ref[128], *info, *text, *at, *out, path[4200];
	PGconn		*r;
	char		*digest;

	snprintf(ref, sizeof ref, "%s_ref", th_dbname);
	th_exec(c, "CREATE DATABASE \"%s\" TEMPLATE template0", ref);
	cr_assert_gt(asprintf(&info, "dbname='%s'", th_dbname), 0);
	text = th_read(conf);
	at = strstr(text, info);
	cr_assert_not_null(at, "%s has no %s", conf, info);
	cr_assert_gt(asprintf(&out, "%.*sdbname='%s'%s", (int)(at - text),
	    text, ref, at + strlen(info)), 0);
	snprintf(path, sizeof path, "%s/ref.conf", th_tmp);
	th_write(path, out);
	free(out);
	free(text);
	free(info);
	cr_assert_gt(asprintf(&info, "host='%s' port='%s' dbname='%s' "
	    "user='postgres'", getenv("PGHOST"), getenv("PGPORT"), ref), 0);
	r = PQconnectdb(info);
	free(info);
	cr_assert_eq(PQstatus(r), CONNECTION_OK, "%s", PQerrorMessage(r));
	bf_load(r, 200, 500, 7);
	fm_run_ok(path, "schema-migrate", NULL);
	digest = fm_digest_migrate(r);
	PQfinish(r);
	th_exec(c, "DROP DATABASE \"%s\" WITH (FORCE)", ref);
	return (digest);
}

static char *
fm_reference_backfill(PGconn *c, const char *conf)
{
	bf_reset(c);
	fm_run_ok(conf, "legacy-backfill", "pause=0");
	return (fm_digest_backfill(c));
}

static char *
fm_reference_population(PGconn *c, const char *conf)
{
	th_exec(c, "DELETE FROM unsigned_users_queue");
	fm_run_ok(conf, PF_UNSIGNED, NULL);
	return (fm_digest_population(c));
}

/*
 * An archive is a copy: what an uninterrupted run leaves is both queue
 * types archived and the archive equal to the source rows, which the
 * cell's run never changes.  (The deprecation suite checks an
 * uninterrupted archive against the source the same way.)
 */
static char *
fm_reference_deprecation(PGconn *c, const char *conf)
{
	(void)conf;
	return (th_value(c, "SELECT 'outstanding_requests=archived,"
	    "unsigned_users=archived ' || n || ' ' || digest || ' ' || digest "
	    "FROM fm_source"));
}

/* One uninterrupted run after the results are deleted. */
static char *
fm_reference_benchmark(PGconn *c, const char *conf)
{
	th_exec(c, "DELETE FROM qsched_bench.results");
	fm_run_ok(conf, "perf-benchmark", "duration=300ms");
	return (fm_digest_benchmark(c));
}

static const struct fm_plugin fm_sql = {
	.name = "sql", .job = "fm-sql", .conf = fm_conf_sql,
	.load = fm_load_sql, .gate = FM_GATE_SLEEP,
	.cancel_sqlstate = ":57014", .digest = fm_digest_sql,
	.interrupted = fm_interrupted_sql, .reference = fm_reference_sql,
};
/* 0002 adds the foreign keys to user_call_scores: it waits for the
 * lock, with the plugin's lock_timeout and lock_retries. */
static const struct fm_plugin fm_migrate = {
	.name = "schema_migrate", .job = "schema-migrate",
	.conf = fm_conf_migrate, .load = fm_load_migrate,
	.gate = FM_GATE_LOCK, .gate_table = "user_call_scores",
	.cancel_sqlstate = ":57014", .digest = fm_digest_migrate,
	.interrupted = fm_interrupted_migrate,
	.reference = fm_reference_migrate,
};
static const struct fm_plugin fm_backfill = {
	.name = "legacy_backfill", .job = "legacy-backfill",
	.conf = fm_conf_backfill, .load = fm_load_backfill,
	.gate = FM_GATE_LOCK, .gate_table = "unsigned_users_queue",
	.gate_when = "SELECT (" FM_BATCHES_SQL ") >= 2",
	.cancel_sqlstate = ":57014", .digest = fm_digest_backfill,
	.interrupted = fm_interrupted_backfill, .rerun = fm_rerun_backfill,
	.reference = fm_reference_backfill, .rerun_set = "pause=0",
};
static const struct fm_plugin fm_population = {
	.name = "queue_population", .job = PF_UNSIGNED,
	.conf = fm_conf_population, .load = fm_load_population,
	.gate = FM_GATE_LOCK, .gate_table = "unsigned_users_queue",
	.cancel_sqlstate = ":57014", .digest = fm_digest_population,
	.interrupted = fm_interrupted_population,
	.reference = fm_reference_population,
};
/* The archive's next batch waits for the archive table, locked after
 * two batches committed. */
static const struct fm_plugin fm_deprecation = {
	.name = "legacy_deprecation", .job = "legacy-deprecation",
	.conf = fm_conf_deprecation, .load = fm_load_deprecation,
	.gate = FM_GATE_LOCK, .gate_table = "qsched_legacy.call_queue_archive",
	.gate_when = "SELECT (" FM_ARCHIVED_SQL ") >= 40",
	.cancel_sqlstate = ":57014", .digest = fm_digest_deprecation,
	.interrupted = fm_interrupted_deprecation,
	.rerun = fm_rerun_deprecation, .reference = fm_reference_deprecation,
	.rerun_set = "pause=0",
};
/* No gate: measuring is long by itself; the fault lands while the
 * clients run their rolled-back transactions. */
static const struct fm_plugin fm_benchmark = {
	.name = "perf_benchmark", .job = "perf-benchmark",
	.conf = fm_conf_benchmark, .load = fm_load_benchmark,
	.gate = FM_GATE_NONE,
	.busy_sql = "SELECT coalesce(bool_or(state LIKE 'measuring %'), "
	    "false) FROM qsched.runs WHERE job = 'perf-benchmark' AND status "
	    "= 'running'",
	.cancel_sqlstate = "", .digest = fm_digest_benchmark,
	.interrupted = fm_interrupted_benchmark, .rerun = fm_rerun_benchmark,
	.reference = fm_reference_benchmark, .rerun_set = "duration=300ms",
};

/* Set the cell up: the job with SETTINGS, its data, the schema. */
static void
fm_begin(struct fm_cell *k, const struct fm_plugin *p, const char *settings)
{
	memset(k, 0, sizeof *k);
	k->p = p;
	k->conf = p->conf(settings);
	k->c = th_connect();
	du_schema(k->conf);
	p->load(k->c, k->conf);
	/* The set-up may run the job itself (the deprecation's freeze). */
	k->after = th_int(k->c, "SELECT coalesce(max(id), 0) FROM "
	    "qsched.runs");
}

/* Close the gate before the job starts (the sleep, or the lock before
 * the first statement needing it). */
static void
fm_gate_close(struct fm_cell *k)
{
	if (k->p->gate == FM_GATE_SLEEP) {
		th_exec(k->c, "INSERT INTO fm_gate VALUES (120)");
		return;
	}
	if (k->p->gate != FM_GATE_LOCK || k->p->gate_when != NULL)
		return;
	k->gate = th_connect();
	th_exec(k->gate, "BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE",
	    k->p->gate_table);
}

/* Once the job runs: the lock of a gate taken when the job got far
 * enough (some batches committed). */
static void
fm_gate_started(struct fm_cell *k)
{
	if (k->p->gate != FM_GATE_LOCK || k->p->gate_when == NULL)
		return;
	cr_assert(th_wait_until(k->c, k->p->gate_when, 60000), "the job "
	    "never got as far as the gate (%s)", k->p->gate_when);
	k->gate = th_connect();
	th_exec(k->gate, "BEGIN; LOCK TABLE %s IN ACCESS EXCLUSIVE MODE",
	    k->p->gate_table);
}

/* Open the gate; a lock lost with the server is open already. */
static void
fm_gate_open(struct fm_cell *k)
{
	if (k->p->gate == FM_GATE_SLEEP) {
		th_exec(k->c, "DELETE FROM fm_gate");
		return;
	}
	if (k->gate != NULL) {
		PQfinish(k->gate);
		k->gate = NULL;
	}
}

/* Whether the job's backend waits at the gate within MS. */
static bool
fm_waiting(struct fm_cell *k, int ms)
{
	char	 sql[512];

	if (k->p->busy_sql != NULL)
		return (th_wait_until(k->c, k->p->busy_sql, ms));
	snprintf(sql, sizeof sql, "SELECT count(*) > 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name LIKE "
	    "'qsched/%s/%%' AND (wait_event_type = 'Lock' OR wait_event = "
	    "'PgSleep')", k->p->job);
	return (th_wait_until(k->c, sql, ms));
}

/* The history of the job: attempt:status[:signal][:sqlstate], in order. */
static char *
fm_history(struct fm_cell *k)
{
	return (th_value(k->c, "SELECT coalesce(string_agg(attempt || ':' || "
	    "status || coalesce(':' || signal, '') || coalesce(':' || "
	    "nullif(sqlstate, ''), ''), ',' ORDER BY id), '') FROM qsched.runs "
	    "WHERE job = '%s' AND id > %lld", k->p->job, k->after));
}

static void
fm_assert_history(struct fm_cell *k, const char *want)
{
	char	*s = fm_history(k);

	cr_assert(strcmp(s, want) == 0, "history of %s: %s, want %s",
	    k->p->job, s, want);
	free(s);
}

/* No advisory lock of the job, held or waited for, within 10 s: none
 * on the keys its runs recorded, none held by a backend of its runs. */
static void
fm_assert_unlocked(struct fm_cell *k)
{
	char	 sql[512];

	snprintf(sql, sizeof sql, "SELECT count(*) = 0 FROM qsched.job_locks "
	    "WHERE job = '%s' OR lock_key IN (SELECT lock_key FROM "
	    "qsched.runs WHERE job = '%s')", k->p->job, k->p->job);
	cr_assert(th_wait_until(k->c, sql, 10000), "a lock of %s is left",
	    k->p->job);
}

/* The worker of the job's running row, once it is recorded. */
static pid_t
fm_worker(struct fm_cell *k)
{
	char	 sql[256];

	snprintf(sql, sizeof sql, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE job = '%s' AND status = 'running' AND worker_pid IS NOT "
	    "NULL", k->p->job);
	cr_assert(th_wait_until(k->c, sql, 20000), "no worker recorded");
	return ((pid_t)th_int(k->c, "SELECT worker_pid FROM qsched.runs "
	    "WHERE job = '%s' AND status = 'running'", k->p->job));
}

/*
 * The end of every cell: open the gate, run the job again, which must
 * succeed, and compare what it wrote with an uninterrupted run's.
 */
static void
fm_end(struct fm_cell *k, bool rerun)
{
	char	*got, *want;

	fm_gate_open(k);
	fm_assert_unlocked(k);
	if (rerun) {
		k->p->interrupted(k->c);
		fm_run_ok(k->conf, k->p->job, k->p->rerun_set);
	}
	if (k->p->rerun != NULL)
		k->p->rerun(k->c);
	got = k->p->digest(k->c);
	want = k->p->reference(k->c, k->conf);
	cr_assert_str_eq(got, want, "%s: after the fault and a rerun the "
	    "tables differ from an uninterrupted run's", k->p->name);
	free(got);
	free(want);
	fm_assert_unlocked(k);
	cr_assert_eq(th_int(k->c, "SELECT count(*) FROM qsched.daemons"), 0,
	    "a liveness row is left");
	PQfinish(k->c);
}

/* A once-a-minute schedule whose next fire is in about SECS seconds. */
static void
fm_schedule_soon(char *buf, size_t len, int secs)
{
	int	 s = (int)((time(NULL) + secs) % 60);

	/* Twice a minute, so a slow start misses at most half a minute. */
	snprintf(buf, len, "schedule = \"%d,%d * * * * *\"", s < 30 ? s :
	    s - 30, s < 30 ? s + 30 : s);
}

/* Timeout, the query cancelled: timed_out, no signal, the rerun ends
 * where an uninterrupted run does. */
static void
fm_timeout_cancelled(const struct fm_plugin *p)
{
	struct fm_cell	 k;
	struct th_out	 o;
	char		 want[64];
	int		 st;
	pid_t		 qs;

	fm_begin(&k, p, "schedule = \"@manual\" timeout = \"5s\"");
	fm_gate_close(&k);
	qs = th_qsched_spawn(k.conf, "run", p->job, NULL);
	fm_gate_started(&k);
	st = th_wait(qs, 30000);
	th_output(qs, &o);
	cr_assert_eq(st, 1, "qsched run exited %d: %s", st, o.err);
	cr_assert(strstr(o.err, "timed out after 5s: cancelling") != NULL,
	    "%s", o.err);
	cr_assert(strstr(o.err, "killing process group") == NULL, "the "
	    "cancelled worker did not return: %s", o.err);
	th_out_free(&o);
	snprintf(want, sizeof want, "1:timed_out%s", p->cancel_sqlstate);
	fm_assert_history(&k, want);
	fm_end(&k, true);
}

/* Timeout, the worker stopped (it cannot act on SIGTERM): killed with
 * its process group after the grace, timed_out with SIGKILL. */
static void
fm_timeout_sigterm_ignored(const struct fm_plugin *p)
{
	struct fm_cell	 k;
	struct th_out	 o;
	pid_t		 qs, w;
	int		 st;

	fm_begin(&k, p, "schedule = \"@manual\" timeout = \"5s\"");
	fm_gate_close(&k);
	qs = th_qsched_spawn(k.conf, "run", p->job, NULL);
	fm_gate_started(&k);
	cr_assert(fm_waiting(&k, 20000), "the job never waited at the gate");
	w = fm_worker(&k);
	cr_assert_eq(kill(w, SIGSTOP), 0);
	st = th_wait(qs, 30000);
	th_output(qs, &o);
	cr_assert_eq(st, 1, "qsched run exited %d: %s", st, o.err);
	cr_assert(strstr(o.err, "did not stop: killing process group") !=
	    NULL, "%s", o.err);
	th_out_free(&o);
	cr_assert_neq(kill(w, 0), 0, "the stopped worker is still there");
	fm_assert_history(&k, "1:timed_out:SIGKILL");
	fm_end(&k, true);
}

/* kill -9 of the worker: crashed SIGKILL; qsched itself survives. */
static void
fm_kill9_worker(const struct fm_plugin *p)
{
	struct fm_cell	 k;
	struct th_out	 o;
	pid_t		 qs;
	int		 st;

	fm_begin(&k, p, "schedule = \"@manual\"");
	fm_gate_close(&k);
	qs = th_qsched_spawn(k.conf, "run", p->job, NULL);
	fm_gate_started(&k);
	cr_assert(fm_waiting(&k, 20000), "the job never waited at the gate");
	cr_assert_eq(kill(fm_worker(&k), SIGKILL), 0);
	st = th_wait(qs, 30000);
	th_output(qs, &o);
	cr_assert_eq(st, 1, "qsched run exited %d: %s", st, o.err);
	th_out_free(&o);
	fm_assert_history(&k, "1:crashed:SIGKILL");
	fm_end(&k, true);
}

/* kill -9 of qsched run: the row stays running until the next qsched
 * run, which marks it abandoned and does the work. */
static void
fm_kill9_qsched_run(const struct fm_plugin *p)
{
	struct fm_cell	 k;
	pid_t		 qs;
	char		 sql[256];

	fm_begin(&k, p, "schedule = \"@manual\"");
	fm_gate_close(&k);
	qs = th_qsched_spawn(k.conf, "run", p->job, NULL);
	fm_gate_started(&k);
	cr_assert(fm_waiting(&k, 20000), "the job never waited at the gate");
	(void)fm_worker(&k);
	th_kill(qs, SIGKILL);
	cr_assert_eq(th_wait(qs, 10000), 128 + SIGKILL);
	fm_assert_history(&k, "1:running");
	/* The worker died with its parent; its backend ends with it. */
	fm_gate_open(&k);
	snprintf(sql, sizeof sql, "SELECT count(*) = 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name LIKE "
	    "'qsched/%s/%%'", p->job);
	cr_assert(th_wait_until(k.c, sql, 10000), "the dead worker's backend "
	    "lives on");
	fm_assert_unlocked(&k);
	p->interrupted(k.c);
	fm_run_ok(k.conf, p->job, p->rerun_set);
	fm_assert_history(&k, "1:abandoned,1:succeeded");
	fm_end(&k, false);
}

/*
 * kill -9 of the daemon with a retry pending: the first attempt fails
 * transiently (the test ends its backend: SQLSTATE 57P01), the retry is
 * a row; the daemon is killed before it is due, and the next daemon runs
 * it, once.
 */
static void
fm_kill9_daemon_retry_pending(const struct fm_plugin *p)
{
	struct fm_cell	 k;
	char		 settings[256], sql[512], *s;
	pid_t		 d;

	fm_begin(&k, p, "schedule = \"@manual\"");
	/* Fired by the daemon, soon after it started. */
	fm_schedule_soon(settings, sizeof settings - 64, 3);
	strcat(settings, " retries = 1 retry_delay = \"6s\"");
	k.conf = p->conf(settings);
	fm_gate_close(&k);
	d = du_start(k.conf);
	/* A start slower than 3 s misses the fire: the next is 30 s on. */
	fm_gate_started(&k);
	cr_assert(fm_waiting(&k, 45000), "the job never waited at the gate: "
	    "%s", du_log(d));
	th_exec(k.c, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name LIKE "
	    "'qsched/%s/%%'", p->job);
	snprintf(sql, sizeof sql, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE job = '%s' AND status = 'retry_scheduled'", p->job);
	cr_assert(th_wait_until(k.c, sql, 20000), "no retry: %s", du_log(d));
	th_kill(d, SIGKILL);
	cr_assert_eq(th_wait(d, 10000), 128 + SIGKILL);
	s = fm_history(&k);
	cr_assert(strncmp(s, "1:failed:", 9) == 0 && strstr(s,
	    ",2:retry_scheduled") != NULL, "%s", s);
	free(s);
	fm_gate_open(&k);
	p->interrupted(k.c);
	/* The next daemon fires nothing of its own: only the retry. */
	k.conf = p->conf("schedule = \"@manual\" retries = 1 "
	    "retry_delay = \"6s\"");
	d = du_start(k.conf);
	snprintf(sql, sizeof sql, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE job = '%s' AND attempt = 2 AND status NOT IN "
	    "('retry_scheduled', 'running')", p->job);
	cr_assert(th_wait_until(k.c, sql, 60000), "the retry did not run: %s",
	    du_log(d));
	du_stop(d, 30000);
	cr_assert_eq(th_int(k.c, "SELECT count(*) FROM qsched.daemons"), 0,
	    "a liveness row is left (the killed daemon's, or the second's)");
	s = th_value(k.c, "SELECT string_agg(attempt || ':' || status || ':' "
	    "|| trigger || ':' || coalesce(sqlstate, ''), ',' ORDER BY id) "
	    "FROM qsched.runs WHERE job = '%s' AND id > %lld", p->job,
	    k.after);
	cr_assert(strcmp(s, "1:failed:schedule:57P01,2:succeeded:retry:") ==
	    0 || strcmp(s, "1:failed:schedule:08006,2:succeeded:retry:") == 0,
	    "%s", s);
	free(s);
	fm_end(&k, false);
}

/* The server restarted under the run: a transient failure, retried in
 * the same qsched run once it has reconnected. */
static void
fm_pg_restart(const struct fm_plugin *p)
{
	struct fm_cell	 k;
	struct th_out	 o;
	pid_t		 qs;
	int		 st;
	char		*s;

	fm_begin(&k, p, "schedule = \"@manual\" retries = 2 "
	    "retry_delay = \"1s\"");
	fm_gate_close(&k);
	qs = th_qsched_spawn(k.conf, "run", p->job, NULL);
	fm_gate_started(&k);
	cr_assert(fm_waiting(&k, 20000), "the job never waited at the gate");
	/* The sql statement read its sleep already; a lock gate goes with
	 * the server. */
	if (p->gate == FM_GATE_SLEEP)
		fm_gate_open(&k);
	PQfinish(k.c);
	th_pg_restart();
	k.c = th_connect();
	fm_gate_open(&k);
	st = th_wait(qs, 60000);
	th_output(qs, &o);
	cr_assert_eq(st, 0, "qsched run exited %d: %s", st, o.err);
	th_out_free(&o);
	s = fm_history(&k);
	cr_log_info("%s: %s", p->name, s);
	/* Ended by the shutdown (57P01) or finding the socket closed. */
	cr_assert(strcmp(s, "1:failed:57P01,2:succeeded") == 0 ||
	    strcmp(s, "1:failed:08006,2:succeeded") == 0, "%s", s);
	free(s);
	fm_end(&k, false);
}

/* SIGTERM to the daemon: it waits --stop-wait for the run, then cancels
 * it (cancelled, the query cancelled) and exits 0. */
static void
fm_daemon_sigterm(const struct fm_plugin *p)
{
	struct fm_cell	 k;
	char		 settings[256], sql[256], want[64], *log;
	pid_t		 d;
	int		 st;

	fm_begin(&k, p, "schedule = \"@manual\"");
	fm_schedule_soon(settings, sizeof settings, 3);
	k.conf = p->conf(settings);
	fm_gate_close(&k);
	d = th_qsched_spawn(k.conf, "daemon", "--stop-wait", "1s", NULL);
	cr_assert(du_log_has(d, "daemon started", 30000), "%s", du_log(d));
	snprintf(sql, sizeof sql, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE job = '%s' AND status = 'running'", p->job);
	cr_assert(th_wait_until(k.c, sql, 45000), "%s", du_log(d));
	fm_gate_started(&k);
	cr_assert(fm_waiting(&k, 20000), "the job never waited at the gate");
	th_kill(d, SIGTERM);
	st = th_wait(d, 15000);
	cr_assert_eq(st, 0, "the daemon exited %d: %s", st, du_log(d));
	log = du_log(d);
	cr_assert(strstr(log, "stopping: cancelling the run") != NULL, "%s",
	    log);
	cr_assert(strstr(log, "killing process group") == NULL, "the worker "
	    "did not return: %s", log);
	free(log);
	snprintf(want, sizeof want, "1:cancelled%s", p->cancel_sqlstate);
	fm_assert_history(&k, want);
	cr_assert_eq(th_int(k.c, "SELECT count(*) FROM qsched.daemons"), 0,
	    "the stopped daemon left its liveness row");
	fm_end(&k, true);
}

#define FM_CELL(plugin, desc, fault, setup)				\
	Test(matrix, plugin##__##fault, .init = setup)			\
	{								\
		fm_##fault(&fm_##desc);					\
	}

#define FM_ROW(plugin, desc)						\
	FM_CELL(plugin, desc, timeout_cancelled, th_setup)		\
	FM_CELL(plugin, desc, timeout_sigterm_ignored, th_setup)	\
	FM_CELL(plugin, desc, kill9_worker, th_setup)			\
	FM_CELL(plugin, desc, kill9_qsched_run, th_setup)		\
	FM_CELL(plugin, desc, kill9_daemon_retry_pending, th_setup)	\
	FM_CELL(plugin, desc, pg_restart, th_setup_exclusive)		\
	FM_CELL(plugin, desc, daemon_sigterm, th_setup)

FM_ROW(sql, sql)
FM_ROW(schema_migrate, migrate)
FM_ROW(legacy_backfill, backfill)
FM_ROW(queue_population, population)
FM_ROW(legacy_deprecation, deprecation)
FM_ROW(perf_benchmark, benchmark)

/* Cells mostly wait: run several at once. */
int
main(int argc, char *argv[])
{
	struct criterion_test_set *tests = criterion_initialize();
	int	 rc = 0;

	criterion_options.jobs = 4;
	if (criterion_handle_args(argc, argv, true))
		rc = !criterion_run_all_tests(tests);
	criterion_finalize(tests);
	return (rc);
}
