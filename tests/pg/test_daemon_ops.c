/*
 * test_daemon_ops.c - tests/pg_daemon_ops: what operators and systemd see
 * of the daemon: sd_notify messages on a NOTIFY_SOCKET the test binds,
 * journal priorities, and the list, status and report commands in every
 * format (JSON through jq).
 */
#include <config.h>

#include <sys/socket.h>
#include <sys/un.h>

#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "th.h"
#include "daemon_util.h"

TestSuite(ops, .init = th_setup, .fini = th_teardown, .timeout = 120);

DAEMON_MAIN

/* What jq prints for FILTER over JSON; asserts jq parses it. */
static char *
jq(const char *json, const char *filter)
{
	char		 cmd[8192];
	const char	*argv[] = { "sh", "-c", cmd, NULL };
	struct th_out	 o;

	th_write("input.json", json);
	snprintf(cmd, sizeof cmd, "jq -r '%s' '%s/input.json'", filter,
	    th_tmp);
	cr_assert_eq(th_run(&o, argv), 0, "jq rejected it: %s\n%s", o.err,
	    json);
	free(o.err);
	return (o.out);
}

static void
jq_is(const char *json, const char *filter, const char *want)
{
	char	*v = jq(json, filter);

	cr_assert_str_eq(v, want, "%s: got \"%s\", want \"%s\" in\n%s", filter,
	    v, want, json);
	free(v);
}

static bool
starts(const char *s, const char *prefix)
{
	return (strncmp(s, prefix, strlen(prefix)) == 0);
}

/* Messages received on the notify socket, in order. */
struct notify_log {
	int	 fd;
	char	 all[16384];
	size_t	 len;
	size_t	 seen;		/* where the next wait starts looking */
};

/* Wait for a message holding TEXT after those already waited for. */
static bool
notify_wait(struct notify_log *nl, const char *text, int timeout_ms)
{
	struct pollfd	 pfd = { nl->fd, POLLIN, 0 };
	char		 msg[2048], *hit;
	ssize_t		 n;

	for (int waited = 0; waited <= timeout_ms; waited += 50) {
		while ((n = recv(nl->fd, msg, sizeof msg - 1,
		    MSG_DONTWAIT)) > 0) {
			msg[n] = '\0';
			nl->len += (size_t)snprintf(nl->all + nl->len,
			    sizeof nl->all - nl->len, "%s\n--\n", msg);
			cr_assert(nl->len < sizeof nl->all - 1, "too many "
			    "notify messages");
		}
		if ((hit = strstr(nl->all + nl->seen, text)) != NULL) {
			nl->seen = (size_t)(hit - nl->all) + strlen(text);
			return (true);
		}
		(void)poll(&pfd, 1, 50);
	}
	return (false);
}

ParameterizedTestParameters(ops, notify_messages)
{
	static bool	 abstract[] = { false, true };

	return (cr_make_param_array(bool, abstract, 2));
}

ParameterizedTest(bool *abstract, ops, notify_messages)
{
	const char	*conf = th_conf_shipped(
	    "job \"slow\" { plugin = \"sql\" schedule = \"* * * * * *\"\n"
	    "  options { statement = \"select pg_sleep(3)\" } }\n");
	struct notify_log nl;
	struct sockaddr_un sa;
	socklen_t	 len;
	char		 name[108];
	pid_t		 d;

	memset(&nl, 0, sizeof nl);
	memset(&sa, 0, sizeof sa);
	sa.sun_family = AF_UNIX;
	if (*abstract) {
		snprintf(name, sizeof name, "@qsched-test-%ld", (long)getpid());
		memcpy(sa.sun_path, name, strlen(name));
		sa.sun_path[0] = '\0';
		len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
		    strlen(name));
	} else {
		snprintf(name, sizeof name, "%s/notify", th_tmp);
		cr_assert(strlen(name) < sizeof sa.sun_path, "%s", name);
		memcpy(sa.sun_path, name, strlen(name) + 1);
		len = (socklen_t)sizeof sa;
	}
	nl.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	cr_assert(nl.fd != -1);
	cr_assert_eq(bind(nl.fd, (struct sockaddr *)&sa, len), 0, "bind %s",
	    name);
	setenv("NOTIFY_SOCKET", name, 1);

	du_schema(conf);
	d = th_qsched_spawn(conf, "daemon", NULL);
	cr_assert(notify_wait(&nl, "READY=1", 20000), "%s", nl.all);
	cr_assert(notify_wait(&nl, "STATUS=running: slow (run ", 10000),
	    "STATUS names the running job: %s", nl.all);
	th_kill(d, SIGHUP);
	cr_assert(notify_wait(&nl, "RELOADING=1\nMONOTONIC_USEC=", 10000),
	    "%s", nl.all);
	cr_assert(notify_wait(&nl, "READY=1", 10000), "READY after the "
	    "reload: %s", nl.all);
	th_kill(d, SIGTERM);
	cr_assert(notify_wait(&nl, "STOPPING=1", 10000), "%s", nl.all);
	cr_assert(notify_wait(&nl, "STATUS=stopping; running: slow", 10000),
	    "%s", nl.all);
	cr_assert_eq(th_wait(d, 30000), 0);
	close(nl.fd);
}

Test(ops, journal_stream_gives_priority_prefixes)
{
	const char	*conf = th_conf_shipped(
	    "job \"tick\" { plugin = \"sql\" schedule = \"* * * * * *\"\n"
	    "  options { statement = \"select 1\" } }\n");
	PGconn		*c = th_connect();
	char		*log, *line, *save;
	int		 lines = 0;
	pid_t		 d;

	du_schema(conf);
	setenv("JOURNAL_STREAM", "8:123456", 1);
	d = du_start(conf);
	cr_assert(th_wait_until(c, "SELECT count(*) >= 2 FROM qsched.runs",
	    10000));
	du_stop(d, 30000);
	log = du_log(d);
	cr_assert(strstr(log, "<5>qsched ") != NULL, "notice: %s", log);
	cr_assert(strstr(log, "<6>job=tick run=") != NULL, "info: %s", log);
	for (line = strtok_r(log, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save), lines++)
		cr_assert(line[0] == '<' && line[1] >= '0' && line[1] <= '7' &&
		    line[2] == '>' && strstr(line, "Z qsched[") == NULL,
		    "no <N> prefix, or a timestamp: \"%s\"", line);
	cr_assert_geq(lines, 4);
	free(log);
	PQfinish(c);
}

/* How many times PID blocked after running: each wake-up counts one. */
static long
wakeups(pid_t pid)
{
	const char	*key = "\nvoluntary_ctxt_switches:";
	char		 path[64], *status, *p;
	long		 n;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	status = th_read(path);
	p = strstr(status, key);
	cr_assert(p != NULL, "%s", status);
	n = strtol(p + strlen(key), NULL, 10);
	free(status);
	return (n);
}

Test(ops, an_idle_daemon_does_not_wake_up)
{
	const char	*conf = th_conf_shipped(
	    "job \"yearly\" { plugin = \"sql\" schedule = \"0 0 1 1 *\"\n"
	    "  options { statement = \"select 1\" } }\n");
	long		 before;
	pid_t		 d;

	d = du_start(conf);
	du_sleep_ms(1000);		/* the start-up retention pass */
	before = wakeups(d);
	du_sleep_ms(4000);
	cr_assert_eq(wakeups(d), before, "no polling tick: it woke %ld "
	    "times in 4 s", wakeups(d) - before);
	du_stop(d, 30000);
}

static const char *
report_runs(void)
{
	const char	*conf = th_conf(
	    "job \"ok\" { plugin = \"result\" schedule = \"@manual\"\n"
	    "  options { rows = 2 } }\n"
	    "job \"bad\" { plugin = \"result\" schedule = \"@manual\"\n"
	    "  options { result = \"fail\" message = \"it broke, badly\" } }\n"
	    "job \"idle\" { plugin = \"result\" schedule = \"0 * * * *\" }\n");
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "ok", NULL), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "ok", NULL), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "ok", "--set",
	    "result=fail", NULL), 1);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "bad", NULL), 1);
	th_out_free(&o);
	/* Dry runs are not counted. */
	cr_assert_eq(th_qsched(&o, conf, "run", "ok", "--dry-run", NULL), 0);
	th_out_free(&o);
	return (conf);
}

Test(ops, report_json_counts_and_the_view_agree)
{
	const char	*conf = report_runs();
	PGconn		*c = th_connect();
	struct th_out	 o;
	char		*v, *view;

	cr_assert_eq(th_qsched(&o, conf, "report", "--format", "json", NULL),
	    0, "%s", o.err);
	jq_is(o.out, "length", "2\n");
	jq_is(o.out, ".[] | select(.job == \"ok\") | [.runs, .succeeded, "
	    ".failed, .success_rate, .rows_processed] | map(tostring) | "
	    "join(\",\")", "3,2,1,66.7,6\n");
	jq_is(o.out, ".[] | select(.job == \"bad\") | [.runs, .failed, "
	    ".success_rate, .last_failure_status, .last_failure_message] | "
	    "map(tostring) | join(\"|\")", "1|1|0|failed|it broke, badly\n");
	jq_is(o.out, ".[] | select(.job == \"ok\") | (.p50_ms | type) + \" \" "
	    "+ (.p95_ms >= .p50_ms | tostring) + \" \" + (.last_success != "
	    "null | tostring)", "number true true\n");
	v = jq(o.out, ".[] | select(.job == \"ok\") | [.runs, .succeeded, "
	    ".failed, .success_rate, .p50_ms, .p95_ms] | map(tostring) | "
	    "join(\",\")");
	view = th_value(c, "SELECT concat_ws(',', runs, succeeded, failed, "
	    "success_rate, p50_ms, p95_ms) || E'\\n' FROM qsched.job_summary "
	    "WHERE job = 'ok'");
	cr_assert_str_eq(v, view, "the CLI and the view disagree");
	free(v);
	free(view);
	th_out_free(&o);
	PQfinish(c);
}

Test(ops, report_table_csv_and_filters)
{
	const char	*conf = report_runs();
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "report", NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "success") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, "66.7%") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, "failed: it broke, badly") != NULL, "%s",
	    o.out);
	th_out_free(&o);

	cr_assert_eq(th_qsched(&o, conf, "report", "--format", "csv", "--job",
	    "bad", NULL), 0, "%s", o.err);
	cr_assert(starts(o.out, "job,runs,succeeded,failed,skipped,cancelled,"
	    "running,success_rate,p50_ms,p95_ms,rows_processed,last_success,"
	    "last_failure,last_failure_status,last_failure_message\r\n"),
	    "%s", o.out);
	cr_assert(strstr(o.out, "\r\nbad,1,0,1,") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, ",\"it broke, badly\"\r\n") != NULL, "%s",
	    o.out);
	cr_assert(strstr(o.out, "\r\nok,") == NULL, "--job filters: %s",
	    o.out);
	th_out_free(&o);

	cr_assert_eq(th_qsched(&o, conf, "report", "--since", "2999-01-01",
	    "--format", "json", NULL), 0, "%s", o.err);
	cr_assert_str_eq(o.out, "[]\n");
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "report", "--since", "1h", "--format",
	    "json", NULL), 0, "%s", o.err);
	jq_is(o.out, "length", "2\n");
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "report", "--since", "whenever",
	    NULL), 2);
	cr_assert(strstr(o.err, "--since") != NULL, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "report", "--format", "xml", NULL),
	    2);
	th_out_free(&o);
}

Test(ops, list_in_every_format)
{
	const char	*conf = th_conf(
	    "job \"a\" { plugin = \"result\" schedule = \"0 * * * *\" }\n"
	    "job \"m\" { plugin = \"result\" schedule = \"@manual\" }\n"
	    "job \"off\" { plugin = \"result\" schedule = \"0 * * * *\" "
	    "enabled = false }\n"
	    "job \"lon\" { plugin = \"result\" schedule = \"30 1 * * *\" "
	    "timezone = \"Europe/London\" catch_up = true }\n");
	struct th_out	 o, n;
	char		*v;

	cr_assert_eq(th_qsched(&o, conf, "run", "a", NULL), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&n, conf, "next", "a", "-n", "1", NULL), 0);
	cr_assert_eq(th_qsched(&o, conf, "list", "--format", "json", NULL), 0,
	    "%s", o.err);
	jq_is(o.out, "map(.job) | join(\",\")", "a,m,off,lon\n");
	jq_is(o.out, ".[0] | [.plugin, .schedule, .enabled, .last_status] | "
	    "map(tostring) | join(\",\")", "result,0 * * * *,true,succeeded\n");
	/* The same next fire as qsched next. */
	v = jq(o.out, ".[0].next_fire_utc");
	cr_assert_str_eq(v, strrchr(n.out, ' ') + 1);
	free(v);
	jq_is(o.out, ".[1] | [.next_fire, .last_status] | map(tostring) | "
	    "join(\",\")", "null,null\n");
	jq_is(o.out, ".[2] | [.enabled, .next_fire] | map(tostring) | "
	    "join(\",\")", "false,null\n");
	v = jq(o.out, ".[3] | [.timezone, .catch_up, (.next_fire | "
	    "test(\" (GMT|BST)$\"))] | map(tostring) | join(\",\")");
	cr_assert_str_eq(v, "Europe/London,true,true\n");
	free(v);
	th_out_free(&o);
	th_out_free(&n);

	cr_assert_eq(th_qsched(&o, conf, "list", NULL), 0, "%s", o.err);
	cr_assert(starts(o.out, "job  ") && strstr(o.out,
	    "next_fire") != NULL && strstr(o.out, "last_status") != NULL,
	    "%s", o.out);
	cr_assert(strstr(o.out, "manual") != NULL && strstr(o.out,
	    "disabled") != NULL && strstr(o.out, "never") != NULL, "%s",
	    o.out);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "list", "--format", "csv", NULL), 0);
	cr_assert(starts(o.out, "job,plugin,schedule,timezone,enabled,"
	    "catch_up,next_fire,next_fire_utc,last_status,last_run,"
	    "last_run_id\r\n"), "%s", o.out);
	cr_assert(strstr(o.out, "\r\nm,result,@manual,UTC,t,f,,,,,\r\n") !=
	    NULL, "%s", o.out);
	th_out_free(&o);
}

Test(ops, list_without_a_database_still_lists_and_exits_3)
{
	const char	*conf;
	struct th_out	 o;
	char		 jobs[512];

	snprintf(jobs, sizeof jobs, "job \"a\" { plugin = \"result\" "
	    "schedule = \"0 * * * *\" }\n");
	conf = th_conf(jobs);
	/* The same file with a database nobody serves. */
	th_writef("nodb.conf", "database = \"host=%s/nowhere dbname=x "
	    "connect_timeout=2\"\nplugin_dir = \"%s\"\n%s", th_tmp,
	    getenv("QSCHED_TEST_PLUGINDIR"), jobs);
	(void)conf;
	snprintf(jobs, sizeof jobs, "%s/nodb.conf", th_tmp);
	cr_assert_eq(th_qsched(&o, jobs, "list", NULL), 3, "%s", o.err);
	cr_assert(strstr(o.out, "0 * * * *") != NULL, "%s", o.out);
	cr_assert(strstr(o.err, "database unreachable") != NULL, "%s", o.err);
	th_out_free(&o);
}

Test(ops, status_shows_progress_and_lock_holders)
{
	const char	*conf = th_conf(
	    "job \"slow\" { plugin = \"progress\" schedule = \"@manual\" "
	    "lock = \"L\"\n"
	    "  options { steps = 60 step_ms = \"100ms\" } }\n"
	    "job \"waiter\" { plugin = \"result\" schedule = \"@manual\" "
	    "lock = \"L\" overlap = \"wait\" }\n");
	PGconn		*c = th_connect();
	struct th_out	 o;
	pid_t		 slow, waiter;
	char		*v;

	du_schema(conf);
	cr_assert_eq(th_qsched(&o, conf, "status", NULL), 0, "%s", o.err);
	cr_assert_str_eq(o.out, "no runs in progress\n");
	th_out_free(&o);
	slow = th_qsched_spawn(conf, "run", "slow", NULL);
	cr_assert(th_wait_until(c, "SELECT progress_done > 0 FROM qsched.runs "
	    "WHERE job = 'slow'", 10000));
	waiter = th_qsched_spawn(conf, "run", "waiter", NULL);
	cr_assert(th_wait_until(c, "SELECT count(*) = 1 FROM pg_locks WHERE "
	    "locktype = 'advisory' AND NOT granted AND database = (SELECT oid "
	    "FROM pg_database WHERE datname = current_database())", 10000));

	cr_assert_eq(th_qsched(&o, conf, "status", "--format", "json", NULL),
	    0, "%s", o.err);
	jq_is(o.out, "map(.job) | join(\",\")", "slow,waiter\n");
	jq_is(o.out, ".[0] | [.lock, .lock_holder, (.backend | type), "
	    "(.elapsed | type), (.pct > 0 and .pct <= 100)] | map(tostring) | "
	    "join(\",\")", "L,held by this run,number,number,true\n");
	jq_is(o.out, ".[0].progress | test(\"^[0-9]+/60$\") | tostring",
	    "true\n");
	v = jq(o.out, ".[1].lock_holder");
	cr_assert(strncmp(v, "waiting; held by run ", 21) == 0 &&
	    strstr(v, " of job slow on ") != NULL, "%s", v);
	free(v);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "status", NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "lock_holder") != NULL && strstr(o.out,
	    "held by this run") != NULL, "%s", o.out);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "status", "--format", "csv", NULL),
	    0);
	cr_assert(starts(o.out, "run,job,trigger,attempt,host,pid,started,"
	    "elapsed,progress,pct,state,backend,lock,lock_holder\r\n"), "%s",
	    o.out);
	th_out_free(&o);
	cr_assert_eq(th_wait(slow, 30000), 0);
	cr_assert_eq(th_wait(waiter, 30000), 0);
	PQfinish(c);
}
