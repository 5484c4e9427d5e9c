/*
 * test_faults.c - tests/pg_faults: what happens when things go wrong, by
 * doing them: two runs racing for one lock, kill -9 of a worker and of the
 * whole qsched, hanging and crashing plugins, two first starts creating
 * the schema at once.
 */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "th.h"

TestSuite(faults, .init = th_setup, .fini = th_teardown, .timeout = 120);

#define SLOW_SQL_JOB(name, secs)					\
	"job \"" name "\" { plugin = \"sql\" schedule = \"@manual\"\n"	\
	"  options { statement = \"select pg_sleep(" secs ")\" } }\n"

/* Create the qsched schema before a test polls qsched.runs. */
static void
schema_ready(const char *conf)
{
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "init", NULL), 0, "%s", o.err);
	th_out_free(&o);
}

/*
 * Whether no backend holds the job lock NAME within MS: no granted
 * advisory lock on the key a run of that lock recorded
 * (qsched.runs.lock_key).  A backend that is ending leaves
 * pg_stat_activity a moment before it releases its locks.
 */
static bool
lock_free_within(PGconn *c, const char *name, int ms)
{
	char	 sql[512];

	snprintf(sql, sizeof sql, "SELECT count(*) = 0 FROM pg_locks l "
	    "WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 "
	    "AND ((l.classid::bigint << 32) | l.objid::bigint) IN (SELECT "
	    "lock_key FROM qsched.runs WHERE lock_name = '%s')", name);
	return (th_wait_until(c, sql, ms));
}
#define lock_free(c, name)	lock_free_within((c), (name), 0)

Test(faults, concurrent_runs_one_runs_the_other_exits_4_naming_holder)
{
	const char	*conf = th_conf_shipped(SLOW_SQL_JOB("slow", "2"));
	PGconn		*c = th_connect();
	struct th_out	 o;
	pid_t		 first;
	char		*s;

	first = th_qsched_spawn(conf, "run", "slow", NULL);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name "
	    "LIKE 'qsched/slow/%' AND query LIKE '%pg_sleep%'", 10000));
	cr_assert_eq(th_qsched(&o, conf, "run", "slow", NULL), 4, "%s", o.err);
	s = th_value(c, "SELECT id || ' of job \"slow\" on host ' || host || "
	    "' (pid ' || pid || ')' FROM qsched.runs WHERE status = 'running'");
	cr_assert(strstr(o.err, s) != NULL, "want the holder \"%s\" in: %s",
	    s, o.err);
	free(s);
	cr_assert_eq(th_wait(first, 30000), 0);
	s = th_value(c, "SELECT string_agg(status, ',' ORDER BY id) FROM "
	    "qsched.runs");
	cr_assert_str_eq(s, "succeeded,skipped");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(faults, overlap_wait_runs_them_one_after_the_other)
{
	const char	*conf = th_conf_shipped(
	    "job \"w\" { plugin = \"sql\" schedule = \"@manual\" "
	    "overlap = \"wait\"\n"
	    "  options { statement = \"select pg_sleep(1)\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 a, b;

	a = th_qsched_spawn(conf, "run", "w", NULL);
	b = th_qsched_spawn(conf, "run", "w", NULL);
	cr_assert_eq(th_wait(a, 30000), 0);
	cr_assert_eq(th_wait(b, 30000), 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs "
	    "WHERE status = 'succeeded'"), 2);
	/* The plugin work did not overlap: the later one finished at least
	 * a second after the earlier one. */
	cr_assert(th_int(c, "SELECT (extract(epoch FROM max(finished_at) - "
	    "min(finished_at)) * 1000)::bigint FROM qsched.runs") >= 900);
	PQfinish(c);
}

Test(faults, kill_9_of_the_worker_frees_the_lock_and_records_crashed)
{
	const char	*conf = th_conf_shipped(SLOW_SQL_JOB("slow", "60"));
	PGconn		*c = th_connect();
	pid_t		 qs;
	char		*s;

	schema_ready(conf);
	qs = th_qsched_spawn(conf, "run", "slow", NULL);
	cr_assert(th_wait_until(c, "SELECT worker_pid IS NOT NULL FROM "
	    "qsched.runs WHERE status = 'running'", 10000));
	cr_assert(!lock_free(c, "slow"));
	cr_assert_eq(kill((pid_t)th_int(c, "SELECT worker_pid FROM "
	    "qsched.runs"), SIGKILL), 0);
	cr_assert_eq(th_wait(qs, 10000), 1, "qsched itself survives and "
	    "reports the failure");
	/* Its backend was terminated when the outcome was recorded; it
	 * takes the lock with it as it exits. */
	cr_assert(lock_free_within(c, "slow", 2000), "the lock is free at "
	    "once");
	s = th_value(c, "SELECT status || ' ' || signal FROM qsched.runs");
	cr_assert_str_eq(s, "crashed SIGKILL");
	free(s);
	cr_assert(th_wait_until(c, "SELECT count(*) = 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name "
	    "LIKE 'qsched/slow/%'", 3000),
	    "the worker's query is gone");
	PQfinish(c);
}

Test(faults, kill_9_of_qsched_leaves_a_row_the_next_start_abandons)
{
	const char	*conf = th_conf_shipped(SLOW_SQL_JOB("slow", "60")
	    "job \"other\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	pid_t		 qs;
	char		*s;

	schema_ready(conf);
	qs = th_qsched_spawn(conf, "run", "slow", NULL);
	cr_assert(th_wait_until(c, "SELECT worker_pid IS NOT NULL FROM "
	    "qsched.runs WHERE status = 'running'", 10000));
	/* The whole process: qsched first, its worker dies with it. */
	th_kill(qs, SIGKILL);
	cr_assert_eq(th_wait(qs, 10000), 128 + SIGKILL);
	/* The server notices the dead client within its check interval. */
	cr_assert(th_wait_until(c, "SELECT count(*) = 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name "
	    "LIKE 'qsched/slow/%'", 5000),
	    "the dead worker's backend ends and releases the lock");
	cr_assert(lock_free_within(c, "slow", 2000));
	s = th_value(c, "SELECT status FROM qsched.runs");
	cr_assert_str_eq(s, "running", "nobody has looked yet");
	free(s);
	cr_assert_eq(th_qsched(&o, conf, "run", "other", NULL), 0, "%s", o.err);
	s = th_value(c, "SELECT status FROM qsched.runs WHERE job = 'slow'");
	cr_assert_str_eq(s, "abandoned");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(faults, hanging_query_times_out_and_is_cancelled)
{
	const char	*conf = th_conf(
	    "job \"h\" { plugin = \"hang\" schedule = \"@manual\" "
	    "timeout = \"1s\" }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	cr_assert_eq(th_qsched(&o, conf, "run", "h", NULL), 1, "%s", o.err);
	s = th_value(c, "SELECT status FROM qsched.runs");
	cr_assert_str_eq(s, "timed_out");
	free(s);
	cr_assert(th_wait_until(c, "SELECT count(*) = 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND query LIKE "
	    "'%pg_sleep(3600)%' AND pid <> pg_backend_pid()", 2000),
	    "the hung query is gone");
	cr_assert(th_int(c, "SELECT duration_ms FROM qsched.runs") < 5000,
	    "cancelled at the timeout, not after");
	th_out_free(&o);
	PQfinish(c);
}

/*
 * The common case: a real query of the shipped sql plugin, cancelled at
 * the timeout, returns with the server's message.  This aborted qsched
 * with a double free (run_settle freed the message it had just replaced).
 */
Test(faults, cancelled_sql_query_is_timed_out_with_the_servers_message)
{
	const char	*conf = th_conf_shipped(
	    "job \"s\" { plugin = \"sql\" schedule = \"@manual\" "
	    "timeout = \"1s\"\n"
	    "  options { statement = \"select pg_sleep(10)\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	cr_assert_eq(th_qsched(&o, conf, "run", "s", NULL), 1, "%s", o.err);
	cr_assert(strstr(o.err, "double free") == NULL, "%s", o.err);
	s = th_value(c, "SELECT status || ' | ' || sqlstate || ' | ' || "
	    "message FROM qsched.runs");
	cr_assert_str_eq(s, "timed_out | 57014 | timed out after 1s: "
	    "statement 1: canceling statement due to user request");
	free(s);
	cr_assert(th_int(c, "SELECT duration_ms FROM qsched.runs") < 5000);
	th_out_free(&o);
	PQfinish(c);
}

Test(faults, plugin_ignoring_cancel_is_killed_after_the_grace)
{
	const char	*conf = th_conf(
	    "job \"h\" { plugin = \"hang\" schedule = \"@manual\" "
	    "timeout = \"1s\" options { mode = \"sleep\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	cr_assert_eq(th_qsched(&o, conf, "run", "h", NULL), 1, "%s", o.err);
	s = th_value(c, "SELECT status || ' ' || signal FROM qsched.runs");
	cr_assert_str_eq(s, "timed_out SIGKILL");
	free(s);
	th_out_free(&o);
	PQfinish(c);
}

Test(faults, crashing_plugin_is_recorded_with_its_signal)
{
	const char	*conf = th_conf(
	    "job \"boom\" { plugin = \"crash\" schedule = \"@manual\" }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*s;

	cr_assert_eq(th_qsched(&o, conf, "run", "boom", NULL), 1, "%s", o.err);
	s = th_value(c, "SELECT status || ' ' || signal || ' ' || message "
	    "FROM qsched.runs");
	cr_assert_str_eq(s, "crashed SIGSEGV the worker crashed (SIGSEGV)");
	free(s);
	cr_assert(strstr(o.err, "SIGSEGV") != NULL, "%s", o.err);
	th_out_free(&o);
	PQfinish(c);
}

Test(faults, interrupt_cancels_the_run)
{
	const char	*conf = th_conf_shipped(SLOW_SQL_JOB("slow", "60"));
	PGconn		*c = th_connect();
	pid_t		 qs;
	char		*s;

	qs = th_qsched_spawn(conf, "run", "slow", NULL);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name "
	    "LIKE 'qsched/slow/%' AND query LIKE '%pg_sleep%'", 10000));
	th_kill(qs, SIGINT);
	cr_assert_eq(th_wait(qs, 10000), 1);
	s = th_value(c, "SELECT status FROM qsched.runs");
	cr_assert_str_eq(s, "cancelled");
	free(s);
	PQfinish(c);
}

Test(faults, first_starts_racing_create_the_schema_once)
{
	struct buf_jobs {
		char	 text[2048];
	} jobs = { "" };
	const char	*conf;
	PGconn		*c = th_connect();
	char		 name[8];
	pid_t		 p[6];

	/* Six jobs, so the runs do not contend for one job lock. */
	for (int i = 0; i < 6; i++)
		snprintf(jobs.text + strlen(jobs.text), sizeof jobs.text -
		    strlen(jobs.text), "job \"j%d\" { plugin = \"sql\" "
		    "schedule = \"@manual\"\n options { statement = "
		    "\"select 1\" } }\n", i);
	conf = th_conf_shipped(jobs.text);
	for (int i = 0; i < 6; i++) {
		snprintf(name, sizeof name, "j%d", i);
		p[i] = th_qsched_spawn(conf, "run", name, NULL);
	}
	for (int i = 0; i < 6; i++)
		cr_assert_eq(th_wait(p[i], 30000), 0);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "status = 'succeeded'"), 6);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.core_schema"),
	    th_int(c, "SELECT max(version) FROM qsched.core_schema"));
	PQfinish(c);
}

TestSuite(restart, .init = th_setup_exclusive, .fini = th_teardown,
    .timeout = 180);

Test(restart, server_restart_mid_run_is_retried_and_recorded)
{
	const char	*conf = th_conf_shipped(
	    "job \"slow\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  retries = 2 retry_delay = \"1s\"\n"
	    "  options { statement = \"select pg_sleep(3)\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 qs;
	char		*s;

	schema_ready(conf);
	qs = th_qsched_spawn(conf, "run", "slow", NULL);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND application_name "
	    "LIKE 'qsched/slow/%' AND query LIKE '%pg_sleep%'", 10000));
	PQfinish(c);
	th_pg_restart();
	/* The first attempt dies with the server; qsched reconnects,
	 * records it, and the retry succeeds. */
	cr_assert_eq(th_wait(qs, 60000), 0);
	c = th_connect();
	s = th_value(c, "SELECT string_agg(attempt || ':' || status || ':' || "
	    "coalesce(left(sqlstate, 2), '-'), ',' ORDER BY id) FROM "
	    "qsched.runs WHERE job = 'slow'");
	cr_assert(strcmp(s, "1:failed:57,2:succeeded:-") == 0 ||
	    strcmp(s, "1:failed:08,2:succeeded:-") == 0, "runs: %s", s);
	free(s);
	PQfinish(c);
}
