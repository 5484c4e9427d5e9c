/*
 * test_daemon.c - tests/pg_daemon: qsched daemon against a real server:
 * exactly-once fires with two daemons, kill -9 of one, shared locks,
 * catch-up, reload, graceful stop, retries, depends_on, retention, and the
 * DST nights under a fast fake clock.
 */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "th.h"
#include "daemon_util.h"

TestSuite(daemon, .init = th_setup, .fini = th_teardown, .timeout = 180);

DAEMON_MAIN

/* The server's now(), as a literal for later queries. */
static char *
db_now(PGconn *c)
{
	return (th_value(c, "SELECT now()::text"));
}

/*
 * Every even-second fire strictly inside (FROM + 0.5 s, TO - 0.5 s) has
 * exactly one succeeded row, and no fire has two; returns how many fires
 * were checked.
 */
static long long
every_fire_once(PGconn *c, const char *job, int step, const char *from,
    const char *to)
{
	long long	 expected, missing, doubled;

	expected = th_int(c, "SELECT count(*) FROM generate_series("
	    "date_trunc('second', '%s'::timestamptz), '%s'::timestamptz, "
	    "interval '1 second') f WHERE extract(epoch FROM f)::bigint %% %d "
	    "= 0 AND f > '%s'::timestamptz + interval '0.5 s' AND "
	    "f < '%s'::timestamptz - interval '0.5 s'", from, to, step, from,
	    to);
	missing = th_int(c, "SELECT count(*) FROM generate_series("
	    "date_trunc('second', '%s'::timestamptz), '%s'::timestamptz, "
	    "interval '1 second') f WHERE extract(epoch FROM f)::bigint %% %d "
	    "= 0 AND f > '%s'::timestamptz + interval '0.5 s' AND "
	    "f < '%s'::timestamptz - interval '0.5 s' AND NOT EXISTS ("
	    "SELECT 1 FROM qsched.runs r WHERE r.job = '%s' AND "
	    "r.scheduled_for = f AND r.status = 'succeeded')", from, to, step,
	    from, to, job);
	doubled = th_int(c, "SELECT count(*) FROM (SELECT scheduled_for "
	    "FROM qsched.runs WHERE job = '%s' AND status = 'succeeded' "
	    "GROUP BY scheduled_for HAVING count(*) > 1) d", job);
	cr_assert_eq(missing, 0, "%lld of %lld fires of %s have no succeeded "
	    "run", missing, expected, job);
	cr_assert_eq(doubled, 0, "%lld fires of %s ran more than once",
	    doubled, job);
	return (expected);
}

/* Succeeded runs of the jobs matching WHERE that overlap in time. */
static long long
overlaps(PGconn *c, const char *where)
{
	return (th_int(c, "SELECT count(*) FROM qsched.runs a JOIN "
	    "qsched.runs b ON a.id < b.id AND a.started_at < b.finished_at "
	    "AND b.started_at < a.finished_at WHERE a.status = 'succeeded' "
	    "AND b.status = 'succeeded' AND a.%s AND b.%s", where, where));
}

#define TICK_JOB							\
	"job \"tick\" { plugin = \"sql\" "				\
	"  schedule = \"*/2 * * * * *\"\n"				\
	"  options { statement = \"select pg_sleep(1.2)\" } }\n"

Test(daemon, two_daemons_run_each_fire_once_without_overlap)
{
	const char	*conf = th_conf_shipped(TICK_JOB);
	PGconn		*c = th_connect();
	char		*from, *to;
	pid_t		 a, b;

	du_schema(conf);
	a = du_start(conf);
	b = du_start(conf);
	from = db_now(c);
	du_sleep_ms(22000);
	to = db_now(c);
	du_stop(a, 30000);
	du_stop(b, 30000);
	cr_assert_geq(every_fire_once(c, "tick", 2, from, to), 10);
	cr_assert_eq(overlaps(c, "job = 'tick'"), 0, "executions overlap");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "status <> 'succeeded'"), 0, "every claimed fire succeeded");
	cr_assert_eq(th_int(c, "SELECT count(DISTINCT trigger) FROM "
	    "qsched.runs"), 1);
	free(from);
	free(to);
	PQfinish(c);
}

Test(daemon, kill_9_of_one_daemon_the_other_keeps_firing)
{
	const char	*conf = th_conf_shipped(TICK_JOB);
	PGconn		*c = th_connect();
	char		*from, *to;
	long long	 victim_run;
	pid_t		 a, b, victim, survivor;
	char		 sql[256];

	du_schema(conf);
	a = du_start(conf);
	b = du_start(conf);
	/* Whichever daemon claimed the fire in progress is the victim. */
	cr_assert(th_wait_until(c, "SELECT count(*) > 0 FROM qsched.runs "
	    "WHERE status = 'running' AND worker_pid IS NOT NULL", 10000));
	victim_run = th_int(c, "SELECT id FROM qsched.runs WHERE status = "
	    "'running' AND worker_pid IS NOT NULL ORDER BY id DESC LIMIT 1");
	victim = (pid_t)th_int(c, "SELECT pid FROM qsched.runs WHERE id = "
	    "%lld", victim_run);
	cr_assert(victim == a || victim == b, "run %lld belongs to pid %ld",
	    victim_run, (long)victim);
	survivor = victim == a ? b : a;
	th_kill(victim, SIGKILL);
	cr_assert_eq(th_wait(victim, 10000), 128 + SIGKILL);
	from = db_now(c);

	/* The survivor notices the dead daemon's row on its host. */
	snprintf(sql, sizeof sql, "SELECT status IN ('abandoned', 'crashed') "
	    "FROM qsched.runs WHERE id = %lld", victim_run);
	cr_assert(th_wait_until(c, sql, 20000), "run %lld is still running",
	    victim_run);
	du_sleep_ms(8000);
	to = db_now(c);
	du_stop(survivor, 30000);
	/*
	 * Checked from the second fire after the kill: the dead worker's
	 * backend may hold the job lock until its pg_sleep ends.
	 */
	free(from);
	from = th_value(c, "SELECT (scheduled_for + interval '2 s')::text "
	    "FROM qsched.runs WHERE id = %lld", victim_run);
	cr_assert_geq(every_fire_once(c, "tick", 2, from, to), 5);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "status = 'running'"), 0, "nothing is left running");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "status NOT IN ('succeeded', 'abandoned', 'crashed') AND "
	    "scheduled_for > '%s'::timestamptz", from), 0);
	free(from);
	free(to);
	PQfinish(c);
}

Test(daemon, jobs_sharing_a_lock_never_overlap)
{
	const char	*conf = th_conf_shipped(
	    "job \"even\" { plugin = \"sql\" schedule = \"*/2 * * * * *\" "
	    "lock = \"shared\"\n"
	    "  options { statement = \"select pg_sleep(1.5)\" } }\n"
	    "job \"odd\" { plugin = \"sql\" schedule = \"1-59/2 * * * * *\" "
	    "lock = \"shared\"\n"
	    "  options { statement = \"select pg_sleep(1.5)\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 a, b;
	char		*s;

	du_schema(conf);
	a = du_start(conf);
	b = du_start(conf);
	du_sleep_ms(9000);
	du_stop(a, 30000);
	du_stop(b, 30000);
	cr_assert_eq(overlaps(c, "lock_name = 'shared'"), 0,
	    "runs holding one lock overlapped");
	cr_assert_geq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "status = 'skipped'"), 2);
	s = th_value(c, "SELECT message FROM qsched.runs WHERE status = "
	    "'skipped' LIMIT 1");
	cr_assert(strstr(s, "lock \"shared\" is held by run") != NULL, "%s", s);
	free(s);
	PQfinish(c);
}

Test(daemon, catch_up_runs_a_missed_fire_once)
{
	const char	*conf = th_conf_shipped(
	    "job \"cu\" { plugin = \"sql\" schedule = \"*/3 * * * * *\" "
	    "catch_up = true\n"
	    "  options { statement = \"select 1\" } }\n"
	    "job \"plain\" { plugin = \"sql\" schedule = \"*/3 * * * * *\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	char		*s;
	pid_t		 d;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) > 0 FROM qsched.runs "
	    "WHERE job = 'cu' AND trigger = 'schedule' AND status = "
	    "'succeeded'", 10000));
	du_stop(d, 30000);
	/* At start the first daemon catches up the fire before it. */
	th_exec(c, "DELETE FROM qsched.runs WHERE trigger = 'catchup'");
	th_exec(c, "CREATE TABLE stopped AS SELECT now() AS at, "
	    "(SELECT max(scheduled_for) FROM qsched.runs) AS last");
	du_sleep_ms(7000);		/* two or three fires go by */
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) > 0 FROM qsched.runs "
	    "WHERE job = 'cu' AND trigger = 'catchup' AND status = "
	    "'succeeded'", 10000));
	du_sleep_ms(3500);
	du_stop(d, 30000);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "trigger = 'catchup'"), 1, "exactly one catch-up run");
	s = th_value(c, "SELECT job FROM qsched.runs WHERE trigger = "
	    "'catchup'");
	cr_assert_str_eq(s, "cu", "only the catch_up job catches up");
	free(s);
	/* The caught-up fire is the latest missed one, not an older one. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs r, stopped "
	    "WHERE r.trigger = 'catchup' AND r.scheduled_for > stopped.last + "
	    "interval '3 s' AND r.scheduled_for > stopped.at"), 1);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs r, stopped "
	    "WHERE r.job = 'plain' AND r.scheduled_for > stopped.last AND "
	    "r.scheduled_for < (SELECT scheduled_for FROM qsched.runs WHERE "
	    "trigger = 'catchup')"), 0, "missed fires of plain stay missed");
	PQfinish(c);
}

Test(daemon, sighup_keeps_the_old_config_on_error_and_applies_a_good_one)
{
	const char	*conf = th_conf_shipped(
	    "job \"a\" { plugin = \"sql\" schedule = \"* * * * * *\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	long long	 before;
	char		*log, *at;
	pid_t		 d;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) >= 2 FROM qsched.runs "
	    "WHERE job = 'a'", 10000));

	/* Broken: a bad minute on line 10 (after the harness's 9 lines). */
	th_conf_shipped("job \"a\" { plugin = \"sql\" schedule = "
	    "\"61 * * * *\"\n"
	    "  options { statement = \"select 1\" } }\n");
	th_kill(d, SIGHUP);
	cr_assert(du_log_has(d, "reload failed", 10000), "%s", du_log(d));
	log = du_log(d);
	cr_assert(strstr(log, "jobs.conf:10: ") != NULL, "names file and line: "
	    "%s", log);
	free(log);
	before = th_int(c, "SELECT count(*) FROM qsched.runs WHERE job = 'a'");
	du_sleep_ms(2500);
	cr_assert_geq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "job = 'a'"), before + 2, "the old jobs keep running");

	/* Good: a becomes manual, b appears. */
	th_conf_shipped("job \"a\" { plugin = \"sql\" schedule = "
	    "\"@manual\"\n"
	    "  options { statement = \"select 1\" } }\n"
	    "job \"b\" { plugin = \"sql\" schedule = \"* * * * * *\"\n"
	    "  options { statement = \"select 2\" } }\n");
	th_kill(d, SIGHUP);
	cr_assert(du_log_has(d, "reloaded", 10000), "%s", du_log(d));
	at = db_now(c);
	cr_assert(th_wait_until(c, "SELECT count(*) >= 2 FROM qsched.runs "
	    "WHERE job = 'b'", 10000));
	du_stop(d, 30000);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "job = 'a' AND scheduled_for > '%s'::timestamptz", at), 0,
	    "the new schedule is in force");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "status <> 'succeeded'"), 0);
	free(at);
	PQfinish(c);
}

Test(daemon, sigterm_lets_the_running_job_finish)
{
	const char	*conf = th_conf_shipped(
	    "job \"s\" { plugin = \"sql\" schedule = \"*/5 * * * * *\"\n"
	    "  options { statement = \"select pg_sleep(2)\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 d;
	char		*s;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) > 0 FROM qsched.runs "
	    "WHERE status = 'running' AND worker_pid IS NOT NULL", 10000));
	du_stop(d, 20000);
	cr_assert(du_log_has(d, "stopping; 1 runs in progress", 0), "%s",
	    du_log(d));
	s = th_value(c, "SELECT string_agg(status, ',') FROM qsched.runs");
	cr_assert_str_eq(s, "succeeded", "finished, and nothing new started");
	free(s);
	PQfinish(c);
}

Test(daemon, sigterm_cancels_what_outlasts_the_stop_wait)
{
	const char	*conf = th_conf_shipped(
	    "job \"long\" { plugin = \"sql\" schedule = \"* * * * * *\"\n"
	    "  options { statement = \"select pg_sleep(60)\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 d;
	char		*s;
	int		 status;

	du_schema(conf);
	d = th_qsched_spawn(conf, "daemon", "--stop-wait", "1s", NULL);
	cr_assert(th_wait_until(c, "SELECT count(*) > 0 FROM qsched.runs "
	    "WHERE status = 'running' AND backend_pid IS NOT NULL", 10000));
	th_kill(d, SIGTERM);
	status = th_wait(d, 15000);
	cr_assert_eq(status, 0, "exit %d: %s", status, du_log(d));
	/* Fires that came while the long run held its lock were skipped. */
	s = th_value(c, "SELECT string_agg(status, ',') FROM qsched.runs "
	    "WHERE status <> 'skipped'");
	cr_assert_str_eq(s, "cancelled");
	free(s);
	cr_assert(th_wait_until(c, "SELECT count(*) = 0 FROM pg_stat_activity "
	    "WHERE datname = current_database() AND query LIKE "
	    "'%pg_sleep(60)%' AND pid <> pg_backend_pid()", 5000),
	    "the query is gone");
	PQfinish(c);
}

Test(daemon, transient_failures_are_retried_as_attempts_of_the_fire)
{
	const char	*conf = th_conf(
	    "job \"flaky\" { plugin = \"flaky\" schedule = \"*/4 * * * * *\"\n"
	    "  retries = 3 retry_delay = \"100ms\"\n"
	    "  options { fail_times = 2 sqlstate = \"40001\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 d;
	char		*s;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) > 0 FROM qsched.runs "
	    "WHERE status = 'succeeded'", 15000));
	du_stop(d, 30000);
	s = th_value(c, "SELECT string_agg(attempt || ':' || status || ':' || "
	    "trigger, ',' ORDER BY id) FROM qsched.runs WHERE scheduled_for = "
	    "(SELECT min(scheduled_for) FROM qsched.runs)");
	cr_assert_str_eq(s, "1:failed:schedule,2:failed:retry,"
	    "3:succeeded:retry");
	free(s);
	PQfinish(c);
}

Test(daemon, depends_on_records_blocked_until_the_dependency_succeeded)
{
	const char	*conf = th_conf_shipped(
	    "job \"parent\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"select 1\" } }\n"
	    "job \"child\" { plugin = \"sql\" schedule = \"* * * * * *\"\n"
	    "  depends_on = {\"parent\"}\n"
	    "  options { statement = \"select 2\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	pid_t		 d;
	char		*s;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) >= 2 FROM qsched.runs "
	    "WHERE job = 'child' AND status = 'blocked'", 10000));
	s = th_value(c, "SELECT message FROM qsched.runs WHERE status = "
	    "'blocked' LIMIT 1");
	cr_assert(strstr(s, "\"parent\"") != NULL, "%s", s);
	free(s);
	cr_assert_eq(th_qsched(&o, conf, "run", "parent", NULL), 0, "%s",
	    o.err);
	th_out_free(&o);
	cr_assert(th_wait_until(c, "SELECT count(*) >= 1 FROM qsched.runs "
	    "WHERE job = 'child' AND status = 'succeeded'", 10000));
	du_stop(d, 30000);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "job = 'child' AND status = 'blocked' AND started_at > (SELECT "
	    "min(started_at) FROM qsched.runs WHERE job = 'child' AND status "
	    "= 'succeeded')"), 0);
	PQfinish(c);
}

Test(daemon, disabled_and_manual_jobs_are_not_scheduled)
{
	const char	*conf = th_conf_shipped(
	    "job \"off\" { plugin = \"sql\" schedule = \"* * * * * *\" "
	    "enabled = false catch_up = true\n"
	    "  options { statement = \"select 1\" } }\n"
	    "job \"hand\" { plugin = \"sql\" schedule = \"@manual\" "
	    "catch_up = true\n"
	    "  options { statement = \"select 1\" } }\n"
	    "job \"on\" { plugin = \"sql\" schedule = \"* * * * * *\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 d;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) >= 3 FROM qsched.runs "
	    "WHERE job = 'on'", 10000));
	du_stop(d, 30000);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "job <> 'on'"), 0);
	PQfinish(c);
}

Test(daemon, retention_deletes_old_rows_in_batches)
{
	const char	*conf = th_conf_shipped(
	    "history_retention = \"30d\"\n"
	    "job \"m\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 d;
	char		*s;

	du_schema(conf);
	th_exec(c, "INSERT INTO qsched.runs (job, plugin, trigger, status, "
	    "host, pid, qsched_version, started_at, finished_at) "
	    "SELECT 'old', 'sql', 'manual', 'succeeded', 'h', 1, 'x', "
	    "now() - interval '40 days' - g * interval '1 s', "
	    "now() - interval '40 days' FROM generate_series(1, 2500) g");
	th_exec(c, "INSERT INTO qsched.runs (job, plugin, trigger, status, "
	    "host, pid, qsched_version, started_at) VALUES "
	    "('stuck', 'sql', 'manual', 'running', 'elsewhere', 1, 'x', "
	    "now() - interval '40 days')");
	/* Its owner is alive on another host: the row is not abandoned. */
	th_exec(c, "INSERT INTO qsched.daemons (host, pid, kind, lease_ms, "
	    "qsched_version) VALUES ('elsewhere', 1, 'daemon', 3600000, 'x')");
	/*
	 * Old final runs after the run still going: above the fold's horizon,
	 * so not counted in the per-job totals yet, so not deleted.
	 */
	th_exec(c, "INSERT INTO qsched.runs (job, plugin, trigger, status, "
	    "host, pid, qsched_version, started_at, finished_at) "
	    "SELECT 'late', 'sql', 'manual', 'failed', 'h', 1, 'x', "
	    "now() - interval '40 days', now() - interval '40 days' "
	    "FROM generate_series(1, 5)");
	th_exec(c, "INSERT INTO qsched.runs (job, plugin, trigger, status, "
	    "host, pid, qsched_version, started_at, finished_at) "
	    "SELECT 'new', 'sql', 'manual', 'succeeded', 'h', 1, 'x', "
	    "now() - interval '29 days', now() - interval '29 days' "
	    "FROM generate_series(1, 10)");
	/* Count the rows each DELETE statement removes. */
	th_exec(c, "CREATE TABLE deletes (n bigint); "
	    "CREATE FUNCTION count_deletes() RETURNS trigger LANGUAGE plpgsql "
	    "AS $$BEGIN INSERT INTO deletes SELECT count(*) FROM gone; "
	    "RETURN NULL; END$$; "
	    "CREATE TRIGGER count_deletes AFTER DELETE ON qsched.runs "
	    "REFERENCING OLD TABLE AS gone FOR EACH STATEMENT "
	    "EXECUTE FUNCTION count_deletes()");
	d = du_start(conf);
	cr_assert(du_log_has(d, "history retention: deleted 2500 runs older "
	    "than 30d", 20000), "%s", du_log(d));
	du_stop(d, 30000);
	s = th_value(c, "SELECT string_agg(job, ',' ORDER BY job) FROM "
	    "(SELECT DISTINCT job FROM qsched.runs) j");
	cr_assert_str_eq(s, "late,new,stuck", "old folded rows went; running "
	    "ones and unfolded ones stay");
	free(s);
	/* Deleted history stays counted; what is not folded is counted live. */
	s = th_value(c, "SELECT string_agg(job || '=' || (succeeded + failed), "
	    "',' ORDER BY job) FROM qsched.job_totals_live");
	cr_assert_str_eq(s, "late=5,new=10,old=2500", "totals: %s", s);
	free(s);
	s = th_value(c, "SELECT folded_through = (SELECT id - 1 FROM qsched.runs "
	    "WHERE job = 'stuck') FROM qsched.job_totals_mark");
	cr_assert_str_eq(s, "t", "the daemon folded up to the run still going");
	free(s);
	s = th_value(c, "SELECT string_agg(n::text, ',' ORDER BY n DESC) FROM "
	    "deletes WHERE n > 0");
	cr_assert_str_eq(s, "1000,1000,500", "batches of at most 1000");
	free(s);
	PQfinish(c);
}

/*
 * The DST nights of Europe/London under a clock running 400 times fast:
 * 75 minutes in 11.25 s.  The clock starts ten fake minutes (1.5 s) before
 * the fire, time enough for the daemon to start; a real delay of 150 ms
 * would make a fire a minute late, and missed.
 */
struct dst_case {
	char	 start[24];	/* the fake clock's start, UTC */
	char	 fire[24];	/* the one fire expected, UTC */
};

static struct dst_case dst_cases[] = {
	/* Fall back: 01:30 happens twice (00:30Z BST, 01:30Z GMT). */
	{ "2026-10-25T00:20:00Z", "2026-10-25 00:30:00+00" },
	/* Spring forward: 01:30 does not happen; 02:00 BST = 01:00Z. */
	{ "2026-03-29T00:50:00Z", "2026-03-29 01:00:00+00" },
};

ParameterizedTestParameters(daemon, london_daily_0130_fires_once_on_dst_nights)
{
	return (cr_make_param_array(struct dst_case, dst_cases,
	    sizeof dst_cases / sizeof dst_cases[0]));
}

ParameterizedTest(struct dst_case *dc, daemon,
    london_daily_0130_fires_once_on_dst_nights)
{
	const char	*conf = th_conf_shipped(
	    "job \"nightly\" { plugin = \"sql\" schedule = \"30 1 * * *\" "
	    "timezone = \"Europe/London\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	char		 clock[64], *s;
	pid_t		 d;

	du_schema(conf);
	snprintf(clock, sizeof clock, "%s 400", dc->start);
	setenv("QSCHED_TEST_CLOCK", clock, 1);
	d = du_start(conf);
	du_sleep_ms(11250);		/* 75 minutes of fake time */
	du_stop(d, 30000);
	s = th_value(c, "SELECT coalesce(string_agg(scheduled_for::text || "
	    "' ' || trigger || ' ' || status, ','), 'none') FROM qsched.runs");
	cr_assert_eq(strstr(s, ","), NULL, "fired more than once: %s", s);
	cr_assert(strncmp(s, dc->fire, strlen(dc->fire)) == 0 &&
	    strstr(s, " schedule succeeded") != NULL, "want %s: %s", dc->fire,
	    s);
	free(s);
	PQfinish(c);
}
