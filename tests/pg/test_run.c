/*
 * test_run.c - tests/pg_run: `qsched run` end to end against a real
 * PostgreSQL: the sql plugin, every plugin result, history rows, options,
 * dry runs, dependencies, timeouts, flags.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "th.h"

TestSuite(run, .init = th_setup, .fini = th_teardown, .timeout = 120);

/* The status of the newest run of JOB. */
static char *
last_status(PGconn *c, const char *job)
{
	return (th_value(c, "SELECT status FROM qsched.runs WHERE job = '%s' "
	    "ORDER BY id DESC LIMIT 1", job));
}

Test(run, sql_job_succeeds_and_is_recorded)
{
	const char	*conf = th_conf_shipped(
	    "job \"fill\" {\n"
	    "  plugin = \"sql\"\n"
	    "  schedule = \"@manual\"\n"
	    "  options { statement = \"insert into t select g, "
	    "current_setting('application_name') from generate_series(1, 7) g\" }\n"
	    "}\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	th_exec(c, "CREATE TABLE t (n int, app text)");
	cr_assert_eq(th_qsched(&o, conf, "run", "fill", NULL), 0, "%s", o.err);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM t"), 7);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs"), 1);
	s = th_value(c, "SELECT concat_ws('|', job, plugin, trigger, attempt, "
	    "status, rows_processed, scheduled_for IS NULL, finished_at >= "
	    "started_at, duration_ms >= 0, host <> '', pid > 0) "
	    "FROM qsched.runs");
	cr_assert_str_eq(s, "fill|sql|manual|1|succeeded|7|t|t|t|t|t");
	free(s);
	/* The worker's connection is named qsched/<job>/<run id>. */
	s = th_value(c, "SELECT min(app) = 'qsched/fill/' || (SELECT id FROM "
	    "qsched.runs) FROM t");
	cr_assert_str_eq(s, "t");
	free(s);
	/* The flags the run saw are in its metrics. */
	s = th_value(c, "SELECT metrics->'flags'->>'populate_separated_tables' "
	    "FROM qsched.runs");
	cr_assert_str_eq(s, "true");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, sql_error_fails_with_sqlstate_and_rolls_back)
{
	const char	*conf = th_conf_shipped(
	    "job \"bad\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"insert into t values (1); "
	    "select 1/0\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	th_exec(c, "CREATE TABLE t (n int)");
	cr_assert_eq(th_qsched(&o, conf, "run", "bad", NULL), 1);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM t"), 0,
	    "the script's transaction must roll back");
	s = th_value(c, "SELECT status || ' ' || sqlstate FROM qsched.runs");
	cr_assert_str_eq(s, "failed 22012");
	free(s);
	cr_assert(strstr(o.err, "22012") != NULL, "%s", o.err);
	free(s = th_value(c, "SELECT message FROM qsched.runs"));
	th_out_free(&o);
	PQfinish(c);
}

struct result_case {
	char	 result[16];
	int	 exit;
	char	 status[16];
};

static struct result_case result_cases[] = {
	{ "ok", 0, "succeeded" },
	{ "fail", 1, "failed" },
	{ "retry", 1, "failed" },
	{ "cancelled", 1, "cancelled" },
	{ "skip", 4, "skipped" },
};

ParameterizedTestParameters(run, every_plugin_result)
{
	return (cr_make_param_array(struct result_case, result_cases,
	    sizeof result_cases / sizeof result_cases[0]));
}

ParameterizedTest(struct result_case *rc, run, every_plugin_result)
{
	char		 jobs[512], *s;
	const char	*conf;
	PGconn		*c = th_connect();
	struct th_out	 o;

	snprintf(jobs, sizeof jobs, "job \"r\" { plugin = \"result\" "
	    "schedule = \"@manual\" options { result = \"%s\" "
	    "message = \"said %s\" rows = 3 } }\n", rc->result, rc->result);
	conf = th_conf(jobs);
	cr_assert_eq(th_qsched(&o, conf, "run", "r", NULL), rc->exit,
	    "result %s: %s", rc->result, o.err);
	s = last_status(c, "r");
	cr_assert_str_eq(s, rc->status);
	free(s);
	s = th_value(c, "SELECT message FROM qsched.runs");
	cr_assert(strstr(s, rc->result) != NULL, "message: %s", s);
	free(s);
	s = th_value(c, "SELECT metrics->>'answer' FROM qsched.runs");
	cr_assert_str_eq(s, "42", "plugin counters reach metrics");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, dry_run_reaches_the_plugin_and_changes_nothing)
{
	const char	*conf = th_conf_shipped(
	    "job \"fill\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"insert into t values (1), (2)\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	th_exec(c, "CREATE TABLE t (n int)");
	cr_assert_eq(th_qsched(&o, conf, "run", "fill", "--dry-run", NULL), 0,
	    "%s", o.err);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM t"), 0);
	s = th_value(c, "SELECT dry_run || ' ' || message FROM qsched.runs");
	cr_assert_str_eq(s, "true dry run: 2 rows would be affected (rolled "
	    "back)");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, set_overrides_an_option_for_one_run)
{
	const char	*conf = th_conf_shipped(
	    "job \"fill\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"insert into t values (1)\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;

	th_exec(c, "CREATE TABLE t (n int)");
	cr_assert_eq(th_qsched(&o, conf, "run", "fill", "--set",
	    "statement=insert into t values (5), (6)", NULL), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_int(c, "SELECT sum(n) FROM t"), 11);
	cr_assert_eq(th_qsched(&o, conf, "run", "fill", NULL), 0);
	th_out_free(&o);
	cr_assert_eq(th_int(c, "SELECT sum(n) FROM t"), 12,
	    "--set lasts one run");
	PQfinish(c);
}

struct bad_set {
	char	 arg[64];
	char	 expect[96];
};

static struct bad_set bad_sets[] = {
	{ "count=101", "--set count: 101 is above the maximum 100" },
	{ "count=x", "--set count" },
	{ "mode=medium", "--set mode" },
	{ "nosuch=1", "--set nosuch" },
	{ "every=5x", "--set every" },
	{ "enabled=maybe", "--set enabled" },
	{ "noequals", "--set noequals" },
};

ParameterizedTestParameters(run, bad_set_is_a_usage_error)
{
	return (cr_make_param_array(struct bad_set, bad_sets,
	    sizeof bad_sets / sizeof bad_sets[0]));
}

ParameterizedTest(struct bad_set *bs, run, bad_set_is_a_usage_error)
{
	const char	*conf = th_conf("job \"o\" { plugin = \"options\" "
	    "schedule = \"@manual\" options { name = \"x\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "o", "--set", bs->arg, NULL),
	    2, "%s", bs->arg);
	cr_assert(strstr(o.err, bs->expect) != NULL, "want \"%s\" in: %s",
	    bs->expect, o.err);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM pg_namespace "
	    "WHERE nspname = 'qsched'"), 0, "nothing ran, nothing recorded");
	th_out_free(&o);
	PQfinish(c);
}

Test(run, depends_on_blocks_until_the_dependency_succeeded)
{
	const char	*conf = th_conf(
	    "job \"first\" { plugin = \"result\" schedule = \"@manual\" }\n"
	    "job \"second\" { plugin = \"result\" schedule = \"@manual\"\n"
	    "  depends_on = {\"first\"} }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	cr_assert_eq(th_qsched(&o, conf, "run", "second", NULL), 4);
	cr_assert(strstr(o.err, "first") != NULL, "%s", o.err);
	th_out_free(&o);
	s = last_status(c, "second");
	cr_assert_str_eq(s, "blocked");
	free(s);
	/* A dry run of the dependency does not count. */
	cr_assert_eq(th_qsched(&o, conf, "run", "first", "--dry-run", NULL), 0);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "second", NULL), 4);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "first", NULL), 0);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "second", NULL), 0, "%s",
	    o.err);
	th_out_free(&o);
	s = last_status(c, "second");
	cr_assert_str_eq(s, "succeeded");
	free(s);
	PQfinish(c);
}

Test(run, statement_timeout_fails_the_run_with_57014)
{
	const char	*conf = th_conf_shipped(
	    "job \"slow\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  statement_timeout = \"300ms\"\n"
	    "  options { statement = \"select pg_sleep(5)\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	cr_assert_eq(th_qsched(&o, conf, "run", "slow", NULL), 1);
	s = th_value(c, "SELECT status || ' ' || sqlstate FROM qsched.runs");
	cr_assert_str_eq(s, "failed 57014");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, lock_timeout_is_transient_and_retried)
{
	const char	*conf = th_conf_shipped(
	    "job \"locker\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  lock_timeout = \"200ms\" retries = 1 retry_delay = \"100ms\"\n"
	    "  options { statement = \"lock table t in exclusive mode\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	th_exec(c, "CREATE TABLE t (n int)");
	th_exec(c, "BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
	cr_assert_eq(th_qsched(&o, conf, "run", "locker", NULL), 1);
	th_exec(c, "COMMIT");
	s = th_value(c, "SELECT string_agg(attempt || ':' || status || ':' || "
	    "sqlstate || ':' || trigger, ',' ORDER BY id) FROM qsched.runs");
	cr_assert_str_eq(s, "1:failed:55P03:manual,2:failed:55P03:retry");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, flaky_plugin_is_retried_until_it_succeeds)
{
	const char	*conf = th_conf(
	    "job \"flaky\" { plugin = \"flaky\" schedule = \"@manual\"\n"
	    "  retries = 3 retry_delay = \"50ms\"\n"
	    "  options { fail_times = 2 sqlstate = \"40001\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	cr_assert_eq(th_qsched(&o, conf, "run", "flaky", NULL), 0, "%s", o.err);
	s = th_value(c, "SELECT string_agg(attempt || ':' || status || ':' || "
	    "coalesce(sqlstate, '-') || ':' || trigger, ',' ORDER BY id) "
	    "FROM qsched.runs");
	cr_assert_str_eq(s, "1:failed:40001:manual,2:failed:40001:retry,"
	    "3:succeeded:-:retry");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, permanent_error_is_not_retried)
{
	const char	*conf = th_conf(
	    "job \"flaky\" { plugin = \"flaky\" schedule = \"@manual\"\n"
	    "  retries = 3 retry_delay = \"50ms\"\n"
	    "  options { fail_times = 5 sqlstate = \"23505\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "flaky", NULL), 1);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs"), 1);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, retries_are_bounded)
{
	const char	*conf = th_conf(
	    "job \"flaky\" { plugin = \"flaky\" schedule = \"@manual\"\n"
	    "  retries = 2 retry_delay = \"10ms\"\n"
	    "  options { fail_times = 9 sqlstate = \"40P01\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "flaky", NULL), 1);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs "
	    "WHERE status = 'failed'"), 3);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, progress_is_recorded)
{
	const char	*conf = th_conf(
	    "job \"p\" { plugin = \"progress\" schedule = \"@manual\"\n"
	    "  options { steps = 5 step_ms = \"20ms\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	cr_assert_eq(th_qsched(&o, conf, "run", "p", NULL), 0, "%s", o.err);
	s = th_value(c, "SELECT progress_done || '/' || progress_total || ' ' "
	    "|| rows_processed FROM qsched.runs");
	cr_assert_str_eq(s, "5/5 5");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, progress_line_on_a_terminal)
{
	char		 cmd[4096];
	const char	*conf = th_conf(
	    "job \"p\" { plugin = \"progress\" schedule = \"@manual\"\n"
	    "  options { steps = 6 step_ms = \"250ms\" } }\n");
	const char	*argv[] = { "script", "-qfec", cmd, "/dev/null", NULL };
	struct th_out	 o;

	/* script(1) gives qsched a pseudo-terminal. */
	snprintf(cmd, sizeof cmd, "%s -c %s run p", getenv("QSCHED_BIN"),
	    conf);
	cr_assert_eq(th_run(&o, argv), 0, "%s%s", o.out, o.err);
	cr_assert(strstr(o.out, "p: 3/6 (50.0%)") != NULL ||
	    strstr(o.out, "p: 4/6") != NULL, "no live progress line in: %s",
	    o.out);
	cr_assert(strstr(o.out, "ETA") != NULL, "%s", o.out);
	th_out_free(&o);
}

Test(run, bad_flags_file_is_an_error_naming_the_line)
{
	const char	*conf;
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	th_write("flags.ini", "[queue_migration]\nuse_new_queues = true\n"
	    "populate_everything = true\n");
	conf = th_conf("job \"r\" { plugin = \"result\" schedule = \"@manual\" }\n");
	cr_assert_eq(th_qsched(&o, conf, "run", "r", NULL), 2);
	cr_assert(strstr(o.err, "flags.ini:3:") != NULL, "%s", o.err);
	s = th_value(c, "SELECT status || ': ' || message FROM qsched.runs");
	cr_assert(strstr(s, "failed: ") == s && strstr(s, "flags.ini:3:"),
	    "the failed attempt is recorded: %s", s);
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(run, flags_are_reread_for_every_run)
{
	const char	*conf;
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	th_write("flags.ini", "[queue_migration]\npopulate_legacy_queue = no\n");
	conf = th_conf("job \"r\" { plugin = \"result\" schedule = \"@manual\" }\n");
	cr_assert_eq(th_qsched(&o, conf, "run", "r", NULL), 0);
	th_out_free(&o);
	th_write("flags.ini", "[queue_migration]\npopulate_legacy_queue = yes\n");
	cr_assert_eq(th_qsched(&o, conf, "run", "r", NULL), 0);
	th_out_free(&o);
	s = th_value(c, "SELECT string_agg(metrics->'flags'->>"
	    "'populate_legacy_queue', ',' ORDER BY id) FROM qsched.runs");
	cr_assert_str_eq(s, "false,true");
	free(s);
	PQfinish(c);
}

Test(run, unknown_job_is_a_usage_error)
{
	const char	*conf = th_conf("job \"r\" { plugin = \"result\" "
	    "schedule = \"@manual\" }\n");
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "nosuch", NULL), 2);
	cr_assert(strstr(o.err, "no job \"nosuch\"") != NULL, "%s", o.err);
	th_out_free(&o);
}

Test(run, unreachable_database_exits_3)
{
	struct th_out	 o;
	char		 conf[4096];

	th_writef("jobs.conf", "database = \"host=%s port=1 dbname=x "
	    "connect_timeout=2\"\nplugin_dir = \"%s\"\n"
	    "job \"r\" { plugin = \"result\" schedule = \"@manual\" }\n",
	    th_tmp, getenv("QSCHED_TEST_PLUGINDIR"));
	snprintf(conf, sizeof conf, "%s/jobs.conf", th_tmp);
	cr_assert_eq(th_qsched(&o, conf, "run", "r", NULL), 3, "%s",
	    o.err);
	cr_assert(strstr(o.err, "database unreachable") != NULL, "%s", o.err);
	th_out_free(&o);
}
