/*
 * test_harness.c - tests/pg_harness: the test harness tests itself.
 *
 * Each test gets its own database and directory, processes are captured
 * and cleaned up, and an exclusive test can restart the server.
 */
#include <config.h>

#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "th.h"

TestSuite(harness, .init = th_setup, .fini = th_teardown, .timeout = 120);
TestSuite(restart, .init = th_setup_exclusive, .fini = th_teardown,
    .timeout = 180);

static long long
mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static int
count_entries(const char *path)
{
	DIR		*d;
	struct dirent	*e;
	int		 n = 0;

	cr_assert((d = opendir(path)) != NULL, "%s: %s", path, strerror(errno));
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			n++;
	closedir(d);
	return (n);
}

/* Gone, or a zombie nobody has reaped yet: either way not running. */
static bool
process_gone(pid_t pid)
{
	char	 path[64], buf[256], *p;
	FILE	*f;
	bool	 gone = true;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (true);
	if (fgets(buf, sizeof buf, f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL && p[1] == ' ')
		gone = (p[2] == 'Z' || p[2] == 'X');
	fclose(f);
	return (gone);
}

/*
 * Two tests, the same steps: each sees only its own, empty database.  The
 * parameter holds its text inline: a pointer would not survive the trip to
 * the test's worker process.
 */
struct name_param {
	char	 name[16];
};

ParameterizedTestParameters(harness, own_database)
{
	static struct name_param	 names[] = { { "first" }, { "second" } };

	return (cr_make_param_array(struct name_param, names,
	    sizeof names / sizeof names[0]));
}

ParameterizedTest(struct name_param *p, harness, own_database)
{
	PGconn	*conn = th_connect();
	char	*db;

	db = th_value(conn, "SELECT current_database()");
	cr_assert_str_eq(db, th_dbname);
	cr_assert_str_neq(db, "postgres");
	free(db);
	cr_assert_eq(th_int(conn, "SELECT count(*) FROM pg_class "
	    "WHERE relnamespace = 'public'::regnamespace"), 0,
	    "a new database already has tables");
	cr_assert_eq(count_entries(th_tmp), 0, "%s is not empty", th_tmp);

	/* Both tests create the same table: only separate databases allow it. */
	th_exec(conn, "CREATE TABLE marker (name text); "
	    "INSERT INTO marker VALUES ('%s')", p->name);
	cr_assert_eq(th_int(conn, "SELECT count(*) FROM marker"), 1);
	th_write("marker", p->name);
	cr_assert_eq(count_entries(th_tmp), 1);
	PQfinish(conn);
}

Test(harness, teardown_drops_database_and_directory)
{
	PGconn	*conn = th_connect(), *admin;
	char	 db[64], tmp[PATH_MAX];

	snprintf(db, sizeof db, "%s", th_dbname);
	snprintf(tmp, sizeof tmp, "%s", th_tmp);
	th_write("file", "x");

	/* The open connection must not stop the drop (WITH (FORCE)). */
	th_teardown();
	PQfinish(conn);

	admin = PQconnectdb("dbname=postgres user=postgres");
	cr_assert_eq(PQstatus(admin), CONNECTION_OK, "%s",
	    PQerrorMessage(admin));
	cr_assert_eq(th_int(admin, "SELECT count(*) FROM pg_database "
	    "WHERE datname = '%s'", db), 0, "database %s still exists", db);
	PQfinish(admin);
	cr_assert(access(tmp, F_OK) == -1 && errno == ENOENT,
	    "%s still exists", tmp);

	/* A second setup gets a new name; the .fini drops it. */
	th_setup();
	cr_assert_str_neq(th_dbname, db);
	conn = th_connect();
	cr_assert_eq(th_int(conn, "SELECT 1"), 1);
	PQfinish(conn);
}

static const struct {
	const char	*sql;
	const char	*value;		/* NULL: SQL NULL */
} value_cases[] = {
	{ "SELECT 'abc'", "abc" },
	{ "SELECT NULL::text", NULL },
	{ "SELECT x FROM (VALUES ('first'), ('second')) v(x)", "first" },
	{ "SELECT '', 1", "" },
	{ "SELECT true", "t" },
};

Test(harness, values)
{
	PGconn	*conn = th_connect();
	char	*v;
	size_t	 i;

	for (i = 0; i < sizeof value_cases / sizeof value_cases[0]; i++) {
		v = th_value(conn, "%s", value_cases[i].sql);
		if (value_cases[i].value == NULL)
			cr_expect_null(v, "%s: got \"%s\"", value_cases[i].sql, v);
		else
			cr_expect(v != NULL && strcmp(v, value_cases[i].value)
			    == 0, "%s: got \"%s\", want \"%s\"",
			    value_cases[i].sql, v == NULL ? "(null)" : v,
			    value_cases[i].value);
		free(v);
	}
	cr_assert_eq(th_int(conn, "SELECT %d + 2", 40), 42);
	cr_assert_eq(th_int(conn, "SELECT -9000000000"), -9000000000LL);
	PQfinish(conn);
}

Test(harness, exec_file)
{
	PGconn	*conn = th_connect();
	char	 path[PATH_MAX];

	th_write("f.sql", "CREATE TABLE IF NOT EXISTS a (x int);\n"
	    "INSERT INTO a VALUES (1), (2);\n");
	snprintf(path, sizeof path, "%s/f.sql", th_tmp);
	th_exec_file(conn, path);
	cr_assert_eq(th_int(conn, "SELECT sum(x) FROM a"), 3);

	/* A relative path is in the source tree. */
	setenv("QSCHED_SRCDIR", th_tmp, 1);
	th_exec_file(conn, "f.sql");
	cr_assert_eq(th_int(conn, "SELECT count(*) FROM a"), 4);
	PQfinish(conn);
}

static const struct {
	const char	*argv[6];
	int		 status;
	const char	*out;
	const char	*err;		/* a substring of stderr */
} run_cases[] = {
	{ { "/bin/sh", "-c", "echo out; echo err >&2; exit 3", NULL },
	    3, "out\n", "err\n" },
	{ { "true", NULL }, 0, "", "" },
	{ { "/bin/sh", "-c", "kill -KILL $$", NULL }, 128 + SIGKILL, "", "" },
	{ { "/bin/sh", "-c", "kill -TERM $$", NULL }, 128 + SIGTERM, "", "" },
	{ { "/nonexistent/qsched", NULL }, 127, "",
	    "cannot execute /nonexistent/qsched" },
	/* stdin is /dev/null: cat ends at once. */
	{ { "/bin/sh", "-c", "cat; echo done", NULL }, 0, "done\n", "" },
	{ { "/bin/echo", "two words", "x", NULL }, 0, "two words x\n", "" },
};

Test(harness, run_captures_output_and_status)
{
	struct th_out	 out;
	size_t		 i;
	int		 status;

	for (i = 0; i < sizeof run_cases / sizeof run_cases[0]; i++) {
		status = th_run(&out, run_cases[i].argv);
		cr_expect_eq(status, run_cases[i].status,
		    "case %zu (%s): status %d, want %d", i,
		    run_cases[i].argv[0], status, run_cases[i].status);
		cr_expect_str_eq(out.out, run_cases[i].out, "case %zu", i);
		cr_expect(strstr(out.err, run_cases[i].err) != NULL,
		    "case %zu: stderr \"%s\" lacks \"%s\"", i, out.err,
		    run_cases[i].err);
		th_out_free(&out);
	}
}

/* stderr filled first: a reader that waits on stdout alone would hang. */
Test(harness, run_reads_both_streams)
{
	const char	*argv[] = { "/bin/sh", "-c",
			    "yes E | head -c 300000 >&2; yes O | head -c 200000",
			    NULL };
	struct th_out	 out;

	cr_assert_eq(th_run(&out, argv), 0);
	cr_assert_eq(strlen(out.err), 300000);
	cr_assert_eq(strlen(out.out), 200000);
	cr_assert_eq(out.err[299999], '\n');
	cr_assert_eq(out.out[0], 'O');
	th_out_free(&out);
}

Test(harness, qsched_arguments)
{
	struct th_out	 out;

	/* Only the argument vector matters here: echo shows it. */
	setenv("QSCHED_BIN", "/bin/echo", 1);
	cr_assert_eq(th_qsched(&out, "/x/jobs.conf", "run", "hello",
	    "--set", "k=v", NULL), 0);
	cr_assert_str_eq(out.out, "-c /x/jobs.conf run hello --set k=v\n");
	th_out_free(&out);
	cr_assert_eq(th_qsched(&out, NULL, "list", NULL), 0);
	cr_assert_str_eq(out.out, "list\n");
	th_out_free(&out);
}

/* The real binary runs and says who it is (its CLI is tested elsewhere). */
Test(harness, qsched_binary_runs)
{
	struct th_out	 out;
	int		 status;

	status = th_qsched(&out, NULL, "--help", NULL);
	cr_assert(status == 0 || status == 2, "qsched --help: status %d: %s",
	    status, out.err);
	cr_assert(strstr(out.out, "qsched") != NULL ||
	    strstr(out.err, "qsched") != NULL, "qsched --help said: %s%s",
	    out.out, out.err);
	th_out_free(&out);
}

Test(harness, spawn_wait_kill)
{
	const char	*sleeper[] = { "/bin/sh", "-c",
			    "echo started; exec sleep 30", NULL };
	const char	*quick[] = { "/bin/sh", "-c", "echo hi >&2; exit 4",
			    NULL };
	struct th_out	 out;
	long long	 t0;
	pid_t		 a, b;

	a = th_spawn(sleeper);
	b = th_spawn(quick);
	cr_assert_eq(th_wait(b, 10000), 4);
	cr_assert_eq(th_wait(b, 0), 4, "a reaped status is remembered");
	th_output(b, &out);
	cr_assert_str_eq(out.out, "");
	cr_assert_str_eq(out.err, "hi\n");
	th_out_free(&out);

	t0 = mono_ms();
	cr_assert_eq(th_wait(a, 300), -1, "sleep 30 ended early");
	cr_assert_geq(mono_ms() - t0, 300);
	th_kill(a, SIGTERM);
	cr_assert_eq(th_wait(a, 10000), 128 + SIGTERM);
	th_output(a, &out);
	cr_assert_str_eq(out.out, "started\n");
	th_out_free(&out);
}

Test(harness, teardown_kills_spawned_groups)
{
	const char	*argv[] = { "/bin/sh", "-c", NULL, NULL };
	char		 cmd[PATH_MAX + 64], pidfile[PATH_MAX + 16], *text;
	long		 child = 0;
	long long	 t0 = mono_ms();
	pid_t		 pid;

	snprintf(cmd, sizeof cmd, "sleep 60 & echo $! > %s/child.pid; wait",
	    th_tmp);
	argv[2] = cmd;
	snprintf(pidfile, sizeof pidfile, "%s/child.pid", th_tmp);
	pid = th_spawn(argv);
	while (child == 0) {
		cr_assert_lt(mono_ms() - t0, 10000, "no child.pid");
		usleep(10000);
		if (access(pidfile, F_OK) == -1)
			continue;
		text = th_read("child.pid");
		if (strchr(text, '\n') != NULL)
			child = strtol(text, NULL, 10);
		free(text);
	}
	cr_assert(!process_gone(pid) && !process_gone((pid_t)child));

	th_teardown();
	cr_assert(process_gone(pid), "spawned shell still runs");
	t0 = mono_ms();
	while (!process_gone((pid_t)child)) {
		cr_assert_lt(mono_ms() - t0, 5000, "its child still runs");
		usleep(10000);
	}
	th_setup();
}

Test(harness, conf_files)
{
	const char	*jobs = "job \"hello\" {\n\tplugin = \"sql\"\n}\n";
	const char	*path;
	char		*text, want[PATH_MAX * 2];

	path = th_conf(jobs);
	text = th_read(path);
	snprintf(want, sizeof want, "database   = \"%s\"\n", th_conninfo);
	cr_expect(strstr(text, want) != NULL, "no %s in:\n%s", want, text);
	snprintf(want, sizeof want, "plugin_dir = \"%s\"\n",
	    getenv("QSCHED_TEST_PLUGINDIR"));
	cr_expect(strstr(text, want) != NULL, "no %s in:\n%s", want, text);
	snprintf(want, sizeof want, "flags_file = \"%s/flags.ini\"\n", th_tmp);
	cr_expect(strstr(text, want) != NULL, "no %s in:\n%s", want, text);
	cr_expect(strstr(text, jobs) != NULL, "no jobs in:\n%s", text);
	free(text);
	text = th_read("flags.ini");
	cr_expect(strstr(text, "[queue_migration]\n") != NULL, "%s", text);
	free(text);

	/* A flags file the test wrote stays; the shipped plugins variant. */
	th_write("flags.ini", "[queue_migration]\nuse_new_queues = false\n");
	path = th_conf_shipped(NULL);
	text = th_read(path);
	snprintf(want, sizeof want, "plugin_dir = \"%s\"\n",
	    getenv("QSCHED_PLUGIN_BUILDDIR"));
	cr_expect(strstr(text, want) != NULL, "no %s in:\n%s", want, text);
	free(text);
	text = th_read("flags.ini");
	cr_expect_str_eq(text, "[queue_migration]\nuse_new_queues = false\n");
	free(text);
}

/* The conninfo th_conf writes reaches the test database from a client. */
Test(harness, wait_until_sees_another_client)
{
	const char	*argv[] = { "psql", "-X", "-q", "-v", "ON_ERROR_STOP=1",
			    "-d", th_conninfo, "-c",
			    "SELECT pg_sleep(0.3); CREATE TABLE later ()", NULL };
	PGconn		*conn = th_connect();
	pid_t		 pid;

	pid = th_spawn(argv);
	cr_assert(th_wait_until(conn,
	    "SELECT to_regclass('later') IS NOT NULL", 20000),
	    "table \"later\" never appeared");
	cr_assert_eq(th_wait(pid, 20000), 0);
	PQfinish(conn);
}

/*
 * Other tests connect to their databases while they run; none may while an
 * exclusive test does.  (Counting databases would not do: a crashed test
 * leaves its database behind.)
 */
Test(restart, runs_alone)
{
	PGconn	*conn = th_connect();
	int	 i;

	for (i = 0; i < 10; i++) {
		cr_assert_eq(th_int(conn, "SELECT count(*) FROM "
		    "pg_stat_activity WHERE datname LIKE 'qt\\_%%' AND "
		    "datname <> current_database()"), 0,
		    "another test runs beside an exclusive one");
		usleep(50000);
	}
	PQfinish(conn);
}

Test(restart, restart_keeps_data_and_drops_connections)
{
	PGconn		*conn = th_connect();
	PGresult	*res;
	char		*before, *after;
	long long	 t0;

	th_exec(conn, "CREATE TABLE kept (x int); INSERT INTO kept VALUES (7)");
	before = th_value(conn, "SELECT pg_postmaster_start_time()");
	th_pg_restart();

	res = PQexec(conn, "SELECT 1");
	cr_assert_neq(PQresultStatus(res), PGRES_TUPLES_OK,
	    "a connection survived the restart");
	PQclear(res);

	/* th_wait_until resets the broken connection. */
	cr_assert(th_wait_until(conn, "SELECT true", 10000));
	after = th_value(conn, "SELECT pg_postmaster_start_time()");
	cr_assert_str_neq(before, after, "the server did not restart");
	cr_assert_eq(th_int(conn, "SELECT x FROM kept"), 7);
	free(before);
	free(after);

	t0 = mono_ms();
	cr_assert(!th_wait_until(conn, "SELECT false", 300));
	cr_assert_geq(mono_ms() - t0, 300);
	PQfinish(conn);
}

Test(restart, stop_start_and_teardown_restarts)
{
	th_pg_stop();
	cr_assert_neq(PQping("dbname=postgres"), PQPING_OK);
	th_pg_start();
	cr_assert_eq(PQping("dbname=postgres"), PQPING_OK);

	/* A test that ends with the server down leaves it up for the next. */
	th_pg_stop();
	th_teardown();
	cr_assert_eq(PQping("dbname=postgres"), PQPING_OK);
	th_setup_exclusive();
}
