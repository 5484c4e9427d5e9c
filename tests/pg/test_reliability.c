/*
 * test_reliability.c - tests/pg_reliability: what qsched(8) RELIABILITY
 * promises, done for real: retries that survive the death of whoever
 * waited for them, liveness across hosts, a frozen server that stalls no
 * timer, configurations a reload must refuse, and messages that never
 * show a password.
 */
#include <config.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "daemon_util.h"

TestSuite(reliability, .init = th_setup, .fini = th_teardown,
    .timeout = 120);
TestSuite(frozen, .init = th_setup_exclusive, .fini = th_teardown,
    .timeout = 120);

/* A transient failure of real SQL: the session is ended by the server
 * (SQLSTATE 57P01), which qsched retries. */
#define TERMINATE_SQL	"select pg_terminate_backend(pg_backend_pid())"

Test(reliability, retry_pending_when_the_daemon_dies_runs_on_the_next)
{
	const char	*conf = th_conf_shipped(
	    "job \"t\" { plugin = \"sql\" schedule = \"*/3 * * * * *\"\n"
	    "  retries = 1 retry_delay = \"6s\"\n"
	    "  options { statement = \"" TERMINATE_SQL "\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 d;
	char		*s;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE status = 'retry_scheduled'", 15000));
	th_kill(d, SIGKILL);
	cr_assert_eq(th_wait(d, 10000), 128 + SIGKILL);
	/* The next daemon runs no fires of its own (@manual), only the
	 * retry the dead one left. */
	conf = th_conf_shipped(
	    "job \"t\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  retries = 1 retry_delay = \"6s\"\n"
	    "  options { statement = \"" TERMINATE_SQL "\" } }\n");
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) = 0 FROM qsched.runs "
	    "WHERE status IN ('retry_scheduled', 'running') AND "
	    "scheduled_for = (SELECT min(scheduled_for) FROM qsched.runs)",
	    20000), "%s", du_log(d));
	du_stop(d, 30000);
	s = th_value(c, "SELECT string_agg(attempt || ':' || status || ':' || "
	    "trigger || ':' || coalesce(sqlstate, ''), ',' ORDER BY attempt) "
	    "FROM qsched.runs WHERE scheduled_for = (SELECT min(scheduled_for) "
	    "FROM qsched.runs)");
	cr_assert_str_eq(s, "1:failed:schedule:57P01,2:failed:retry:57P01");
	free(s);
	PQfinish(c);
}

Test(reliability, retry_of_a_killed_qsched_run_is_run_by_a_daemon)
{
	const char	*conf = th_conf_shipped(
	    "job \"t\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  retries = 1 retry_delay = \"4s\"\n"
	    "  options { statement = \"" TERMINATE_SQL "\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 qs, d;
	char		*s;

	du_schema(conf);
	qs = th_qsched_spawn(conf, "run", "t", NULL);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE status = 'retry_scheduled'", 15000));
	/* Registered before its retry was scheduled, so no daemon took it
	 * while it waited. */
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.daemons WHERE "
	    "kind = 'run' AND pid = %d", (int)qs), 1);
	th_kill(qs, SIGKILL);
	cr_assert_eq(th_wait(qs, 10000), 128 + SIGKILL);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE attempt = 2 AND status = 'failed'", 20000), "%s",
	    du_log(d));
	du_stop(d, 30000);
	s = th_value(c, "SELECT string_agg(attempt || ':' || status || ':' || "
	    "trigger, ',' ORDER BY attempt) FROM qsched.runs");
	cr_assert_str_eq(s, "1:failed:manual,2:failed:retry");
	free(s);
	PQfinish(c);
}

Test(reliability, interrupted_qsched_run_cancels_its_pending_retry)
{
	const char	*conf = th_conf_shipped(
	    "job \"t\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  retries = 3 retry_delay = \"30s\"\n"
	    "  options { statement = \"" TERMINATE_SQL "\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 qs;
	char		*s;

	du_schema(conf);
	qs = th_qsched_spawn(conf, "run", "t", NULL);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE status = 'retry_scheduled'", 15000));
	th_kill(qs, SIGINT);
	cr_assert_eq(th_wait(qs, 10000), 1);
	s = th_value(c, "SELECT string_agg(attempt || ':' || status, ',' "
	    "ORDER BY attempt) FROM qsched.runs");
	cr_assert_str_eq(s, "1:failed,2:cancelled");
	free(s);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.daemons"), 0,
	    "it leaves no liveness row behind");
	PQfinish(c);
}

Test(reliability, runs_of_a_silent_owner_on_another_host_are_abandoned)
{
	const char	*conf = th_conf_shipped(
	    "job \"m\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	pid_t		 d;
	char		*s;

	du_schema(conf);
	/* Host h2's daemon stopped beating ten minutes ago; h3's is alive. */
	th_exec(c, "INSERT INTO qsched.daemons (host, pid, kind, lease_ms, "
	    "qsched_version, heartbeat_at) VALUES "
	    "('h2', 4242, 'daemon', 120000, 'x', now() - interval '10 min'), "
	    "('h3', 4343, 'daemon', 120000, 'x', now())");
	th_exec(c, "INSERT INTO qsched.runs (job, plugin, trigger, status, "
	    "host, pid, qsched_version, started_at) VALUES "
	    "('dead', 'sql', 'manual', 'running', 'h2', 4242, 'x', "
	    " now() - interval '1 hour'), "
	    "('alive', 'sql', 'manual', 'running', 'h3', 4343, 'x', "
	    " now() - interval '1 hour')");
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT status = 'abandoned' FROM "
	    "qsched.runs WHERE job = 'dead'", 10000), "%s", du_log(d));
	s = th_value(c, "SELECT status || ' ' || message FROM qsched.runs "
	    "WHERE job = 'dead'");
	cr_assert(strstr(s, "qsched process 4242 on h2 stopped") != NULL,
	    "%s", s);
	free(s);
	s = th_value(c, "SELECT status FROM qsched.runs WHERE job = 'alive'");
	cr_assert_str_eq(s, "running");
	free(s);
	/* qsched status shows the daemons and their heartbeats. */
	cr_assert_eq(th_qsched(&o, conf, "status", NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "h3") != NULL && strstr(o.out, "alive") !=
	    NULL && strstr(o.out, "lease expired") != NULL, "%s", o.out);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "status", "--daemons", "--format",
	    "csv", NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "host,pid,kind,version,started,"
	    "heartbeat_age,state") != NULL, "%s", o.out);
	th_out_free(&o);
	du_stop(d, 30000);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.daemons WHERE "
	    "kind = 'daemon' AND host NOT IN ('h2', 'h3')"), 0,
	    "a daemon that stops removes its row");
	PQfinish(c);
}

Test(reliability, reload_refuses_no_jobs_and_a_new_database)
{
	const char	*conf = th_conf_shipped(
	    "job \"a\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"select 1\" } }\n");
	char		 path[4096], *log;
	pid_t		 d;

	d = du_start(conf);
	snprintf(path, sizeof path, "%s", conf);
	th_write(path, "# truncated\n");
	th_kill(d, SIGHUP);
	cr_assert(du_log_has(d, "reload failed; the running configuration "
	    "stays in force", 10000), "%s", du_log(d));
	cr_assert(du_log_has(d, "no jobs defined", 1000), "%s", du_log(d));
	th_writef(path, "database = \"host=/nonexistent dbname=other "
	    "password=S3cr3t\"\nplugin_dir = \"%s\"\n"
	    "job \"a\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"select 1\" } }\n",
	    getenv("QSCHED_PLUGIN_BUILDDIR"));
	th_kill(d, SIGHUP);
	cr_assert(du_log_has(d, "restart the daemon to use another database",
	    10000), "%s", du_log(d));
	log = du_log(d);
	cr_assert(strstr(log, "S3cr3t") == NULL, "%s", log);
	free(log);
	du_stop(d, 30000);
}

Test(reliability, check_and_daemon_refuse_a_file_without_jobs)
{
	struct th_out	 o;
	const char	*conf = th_conf(NULL);

	cr_assert_eq(th_qsched(&o, conf, "check", NULL), 2, "%s", o.out);
	cr_assert(strstr(o.err, "no jobs defined") != NULL, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "daemon", NULL), 2, "%s", o.err);
	cr_assert(strstr(o.err, "no jobs defined") != NULL, "%s", o.err);
	th_out_free(&o);
}

/* Every command that connects names its target without the password. */
Test(reliability, unreachable_database_is_named_without_its_password)
{
	static const char *const targets[] = {
		"host=/nonexistent port=1 dbname=d user=u password=S3cr3t",
		"postgresql://u:S3cr3t@localhost:1/d?host=/nonexistent",
	};
	static const char *const cmds[][3] = {
		{ "list", NULL }, { "check", NULL }, { "status", NULL },
		{ "history", NULL }, { "report", NULL }, { "run", "j" },
	};
	struct th_out	 o;
	char		 conf[4096];

	for (size_t t = 0; t < 2; t++) {
		snprintf(conf, sizeof conf, "%s/pw.conf", th_tmp);
		th_writef(conf, "database = \"%s\"\nflags_file = \"\"\n"
		    "plugin_dir = \"%s\"\njob \"j\" { plugin = \"result\" "
		    "schedule = \"@manual\" }\n", targets[t],
		    getenv("QSCHED_TEST_PLUGINDIR"));
		for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
			cr_assert_eq(th_qsched(&o, conf, cmds[i][0], cmds[i][1],
			    NULL), 3, "%s: %s", cmds[i][0], o.err);
			cr_assert(strstr(o.err, "S3cr3t") == NULL, "%s: %s",
			    cmds[i][0], o.err);
			cr_assert(strstr(o.err, "dbname=d user=u") != NULL,
			    "%s: %s", cmds[i][0], o.err);
			th_out_free(&o);
		}
	}
}

/* Lock keys are 64 bits: two names whose old 32-bit keys collided hold
 * their locks at the same time. */
Test(reliability, formerly_colliding_lock_names_do_not_collide)
{
	const char	*conf = th_conf_shipped(
	    "job \"job-439599\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"select pg_sleep(2)\" } }\n"
	    "job \"job-622382\" { plugin = \"sql\" schedule = \"@manual\"\n"
	    "  options { statement = \"select pg_sleep(2)\" } }\n");
	PGconn		*c = th_connect();
	pid_t		 a, b;

	du_schema(conf);
	a = th_qsched_spawn(conf, "run", "job-439599", NULL);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM qsched.job_locks "
	    "WHERE job = 'job-439599' AND granted", 10000));
	b = th_qsched_spawn(conf, "run", "job-622382", NULL);
	cr_assert_eq(th_wait(a, 30000), 0);
	cr_assert_eq(th_wait(b, 30000), 0, "not skipped for the other's lock");
	cr_assert_eq(th_int(c, "SELECT count(DISTINCT lock_key) FROM "
	    "qsched.runs"), 2);
	PQfinish(c);
}

/* The postmaster and every backend, stopped (SIGSTOP) or resumed. */
static void
frozen_signal(int sig)
{
	char	 cmd[4200];

	snprintf(cmd, sizeof cmd, "pm=$(head -n 1 '%s/postmaster.pid') && "
	    "kill -%d $pm $(pgrep -P $pm)", getenv("QSCHED_TEST_PGDATA"),
	    sig);
	cr_assert_eq(system(cmd), 0, "%s", cmd);
}

/*
 * A server that stops answering stalls no timer: the bookkeeping waits
 * at most 10 s per query and 5 s per connection attempt, so a run's
 * timeout still kills its worker, and the daemon records the run once
 * the server answers again.
 */
Test(frozen, a_frozen_server_stalls_no_timer)
{
	const char	*conf = th_conf_shipped(
	    "job \"slow\" { plugin = \"sql\" schedule = \"*/2 * * * * *\"\n"
	    "  timeout = \"3s\"\n"
	    "  options { statement = \"select pg_sleep(60)\" } }\n");
	PGconn		*c = th_connect();
	long long	 worker;
	pid_t		 d;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE status = 'running' AND worker_pid IS NOT NULL", 15000));
	worker = th_int(c, "SELECT worker_pid FROM qsched.runs WHERE status "
	    "= 'running'");
	PQfinish(c);
	frozen_signal(SIGSTOP);
	/* The worker is killed while the server is still frozen. */
	for (int i = 0; i < 250 && kill((pid_t)worker, 0) == 0; i++)
		du_sleep_ms(100);
	cr_assert_neq(kill((pid_t)worker, 0), 0, "the worker outlived its "
	    "timeout by 25 s with the server frozen: %s", du_log(d));
	frozen_signal(SIGCONT);
	c = th_connect();
	cr_assert(th_wait_until(c, "SELECT count(*) >= 1 FROM qsched.runs "
	    "WHERE status = 'timed_out'", 60000), "%s", du_log(d));
	du_stop(d, 30000);
	PQfinish(c);
}
