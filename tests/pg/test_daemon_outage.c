/*
 * test_daemon_outage.c - tests/pg_daemon_outage: the daemon keeps going
 * through database outages.  These tests stop and restart the server, so
 * each runs alone (th_setup_exclusive).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "th.h"
#include "daemon_util.h"

TestSuite(outage, .init = th_setup_exclusive, .fini = th_teardown,
    .timeout = 180);

DAEMON_MAIN

static int
count(const char *haystack, const char *needle)
{
	int	 n = 0;

	for (const char *p = haystack; (p = strstr(p, needle)) != NULL; p++)
		n++;
	return (n);
}

Test(outage, server_restarted_while_idle_later_fires_still_run)
{
	const char	*conf = th_conf_shipped(
	    "job \"tick\" { plugin = \"sql\" schedule = \"*/2 * * * * *\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	char		*log, *at, sql[256];
	pid_t		 d;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) > 0 FROM qsched.runs "
	    "WHERE status = 'succeeded'", 10000));
	th_pg_restart();
	PQreset(c);
	at = th_value(c, "SELECT now()::text");
	snprintf(sql, sizeof sql, "SELECT count(*) >= 2 FROM qsched.runs "
	    "WHERE status = 'succeeded' AND scheduled_for > '%s'", at);
	cr_assert(th_wait_until(c, sql, 30000), "no fire ran after the "
	    "restart: %s", du_log(d));
	du_stop(d, 30000);
	log = du_log(d);
	cr_assert_eq(count(log, "database unreachable:"), 1, "the outage is "
	    "logged once: %s", log);
	cr_assert_eq(count(log, "database reachable again"), 1, "%s", log);
	free(log);
	free(at);
	PQfinish(c);
}

Test(outage, fires_in_an_outage_are_missed_and_catch_up_runs_once)
{
	const char	*conf = th_conf_shipped(
	    "job \"cu\" { plugin = \"sql\" schedule = \"*/2 * * * * *\" "
	    "catch_up = true\n"
	    "  options { statement = \"select 1\" } }\n"
	    "job \"plain\" { plugin = \"sql\" schedule = \"*/2 * * * * *\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	char		*log, *last, *first, *back, sql[256];
	long long	 before;
	pid_t		 d;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) > 1 FROM qsched.runs "
	    "WHERE job = 'plain' AND status = 'succeeded'", 10000));
	before = th_int(c, "SELECT count(*) FROM qsched.runs WHERE trigger = "
	    "'catchup'");
	th_pg_stop();
	du_sleep_ms(7000);		/* three or four fires */
	th_pg_start();
	PQreset(c);
	back = th_value(c, "SELECT now()::text");
	snprintf(sql, sizeof sql, "SELECT count(*) > %lld FROM qsched.runs "
	    "WHERE trigger = 'catchup' AND status = 'succeeded'", before);
	cr_assert(th_wait_until(c, sql, 30000), "no catch-up: %s", du_log(d));
	du_sleep_ms(2500);
	du_stop(d, 30000);

	/*
	 * The outage, as the daemon saw it, lasts from the last fire before
	 * the server stopped to the first one after it reconnected (its
	 * backoff may have kept it away a little after the server was back).
	 */
	last = th_value(c, "SELECT max(scheduled_for)::text FROM qsched.runs "
	    "WHERE job = 'plain' AND scheduled_for < '%s'::timestamptz - "
	    "interval '5 s'", back);
	first = th_value(c, "SELECT min(scheduled_for)::text FROM qsched.runs "
	    "WHERE job = 'plain' AND scheduled_for > '%s'", last);
	cr_assert(first != NULL, "plain never ran after the outage");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "scheduled_for > '%s' AND scheduled_for < '%s'", last, first), 1,
	    "plain's fires in the outage were missed, cu's caught up once");
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "trigger = 'catchup' AND job = 'cu' AND scheduled_for > '%s' AND "
	    "scheduled_for < '%s'", last, first), 1);
	cr_assert_eq(th_int(c, "SELECT count(*) FROM qsched.runs WHERE "
	    "trigger = 'catchup' AND scheduled_for > '%s'", last), 1,
	    "one catch-up for the outage");
	cr_assert_geq(th_int(c, "SELECT extract(epoch FROM '%s'::timestamptz "
	    "- '%s'::timestamptz)::int", first, last), 6,
	    "the outage was seen");
	log = du_log(d);
	cr_assert_eq(count(log, "database unreachable:"), 1, "%s", log);
	cr_assert(strstr(log, "fires were missed") != NULL, "%s", log);
	free(log);
	free(last);
	free(first);
	free(back);
	PQfinish(c);
}

Test(outage, a_run_ending_in_an_outage_is_recorded_when_it_is_back)
{
	/*
	 * Yearly, catch_up, with the history kept long enough to tell that
	 * the last fire did not run: it runs once, at start.  The plugin does
	 * not use the database while it counts, so the outage does not stop
	 * it.
	 */
	const char	*conf = th_conf("history_retention = \"400d\"\n"
	    "job \"count\" { plugin = \"progress\" schedule = \"0 0 1 1 *\" "
	    "catch_up = true\n"
	    "  options { steps = 30 step_ms = \"100ms\" } }\n");
	PGconn		*c = th_connect();
	char		*log, *s;
	pid_t		 d;

	du_schema(conf);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE status = 'running' AND progress_done > 0", 10000));
	th_pg_stop();
	du_sleep_ms(5000);		/* the run ends meanwhile */
	th_pg_start();
	PQreset(c);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM qsched.runs "
	    "WHERE status <> 'running'", 30000), "%s", du_log(d));
	du_stop(d, 30000);
	s = th_value(c, "SELECT status || ' ' || rows_processed || ' ' || "
	    "trigger FROM qsched.runs");
	cr_assert_str_eq(s, "succeeded 30 catchup");
	free(s);
	log = du_log(d);
	cr_assert(strstr(log, "recorded succeeded (held during the outage)") !=
	    NULL, "%s", log);
	free(log);
	PQfinish(c);
}
