/*
 * th.h - helpers for the Criterion integration suites (tests/pg_*).
 *
 * A pg_* suite runs under tests/with-pg.sh, which starts a throwaway
 * PostgreSQL cluster and exports PGHOST and PGPORT (and QSCHED_TEST_PGCTL)
 * to it.  Give the suite th_setup/th_teardown as .init/.fini:
 *
 *	TestSuite(history, .init = th_setup, .fini = th_teardown);
 *
 * and each test gets its own temporary directory (th_tmp) and its own fresh,
 * empty database (th_dbname, th_conninfo), both removed after the test.
 *
 * Criterion runs the tests of one program in parallel.  A test that stops or
 * restarts the server uses th_setup_exclusive instead, and then runs alone:
 * no other test of the same program runs while it does.
 *
 * Failures: the helpers that say "asserts" end the test with a Criterion
 * failure naming what went wrong (the SQL and its SQLSTATE, the command),
 * so a test needs no error checks of its own around them.
 *
 * Ownership: strings a helper returns as "char *" are malloc'ed and the
 * caller frees them; "const char *" ones belong to the harness and stay
 * valid until the test's teardown.  Connections from th_connect belong to
 * the caller (PQfinish).  Processes from th_spawn are reaped by th_wait and
 * any still running at teardown are killed.
 *
 * Environment: QSCHED_BIN, QSCHED_SRCDIR, QSCHED_TEST_PLUGINDIR and
 * QSCHED_PLUGIN_BUILDDIR come from tests/local.mk; PGHOST, PGPORT and
 * QSCHED_TEST_PGCTL from tests/with-pg.sh.  QSCHED_TEST_KEEP=1 keeps th_tmp
 * (and with-pg.sh keeps the cluster directory holding it).
 */
#ifndef TH_H
#define TH_H

#include <stdbool.h>
#include <sys/types.h>

#include <libpq-fe.h>

/* Set by th_setup for the current test. */
extern char	th_tmp[];	/* temporary directory, removed at teardown */
extern char	th_dbname[];	/* the test's database */
extern char	th_conninfo[];	/* "host='..' port='..' dbname='..' user='postgres'" */

/* How long th_run waits for a command; a test may change it. */
extern int	th_run_timeout_ms;	/* default 120000 */

/*
 * th_setup, th_setup_exclusive, th_teardown - Criterion .init and .fini.
 * th_setup makes th_tmp and creates th_dbname from template0; it asserts.
 * th_setup_exclusive also waits until no other test of this program runs
 * and keeps them waiting until teardown: required by th_pg_stop,
 * th_pg_start and th_pg_restart.  th_teardown kills processes left from
 * th_spawn, drops the database (WITH (FORCE)), restarts the server if an
 * exclusive test left it stopped, and removes th_tmp (kept when the
 * environment has QSCHED_TEST_KEEP=1).  It may be called twice.
 */
void	 th_setup(void);
void	 th_setup_exclusive(void);
void	 th_teardown(void);

/*
 * th_connect - a new connection to th_dbname; asserts it succeeds.  The
 * caller owns it (PQfinish).
 */
PGconn	*th_connect(void);

/*
 * th_exec - run one or more SQL statements (printf format); asserts they
 * succeed.
 */
void	 th_exec(PGconn *conn, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * th_exec_file - run the SQL in a file (plain SQL, no psql commands); a
 * relative PATH is under $QSCHED_SRCDIR, where sql/fixtures live.  Asserts.
 */
void	 th_exec_file(PGconn *conn, const char *path);

/*
 * th_value - the first column of the first row of a query (printf format):
 * a malloc'ed string the caller frees, NULL for SQL NULL.  Asserts the
 * query succeeds and returns at least one row.
 */
char	*th_value(PGconn *conn, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * th_int - the same as an integer; asserts it is one and not NULL.
 */
long long th_int(PGconn *conn, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * th_wait_until - run SQL every 20 ms until its first column is true.
 * RETURN VALUE: true once it is; false when timeout_ms passed first.  A
 * broken connection (server restart) is reset and polling goes on; an SQL
 * error asserts.
 */
bool	 th_wait_until(PGconn *conn, const char *sql, int timeout_ms)
	    __attribute__((warn_unused_result));

/*
 * What a process wrote.  Both strings are malloc'ed and NUL-terminated
 * (never NULL after a successful th_run/th_output); th_out_free frees them.
 */
struct th_out {
	char	*out;		/* standard output */
	char	*err;		/* standard error */
};
void	 th_out_free(struct th_out *out);

/*
 * th_run - run ARGV (NULL-terminated; argv[0] found in PATH if it has no
 * slash) with stdin from /dev/null, capture stdout and stderr into OUT (or
 * let them through to the test's log if OUT is NULL), and wait for it.
 * RETURN VALUE: the exit status, 128+N if killed by signal N, 127 if it
 * could not be executed.  Asserts it ends within th_run_timeout_ms (and
 * then kills its process group).  In a sanitizer build, a sanitizer report
 * on its stderr fails the test whatever the status.
 */
int	 th_run(struct th_out *out, const char *const argv[]);

/*
 * th_qsched - th_run of "$QSCHED_BIN -c CONF ARG...", args NULL-terminated;
 * without "-c CONF" when CONF is NULL.  Asserts QSCHED_BIN is set.
 */
int	 th_qsched(struct th_out *out, const char *conf, const char *arg, ...)
	    __attribute__((sentinel));

/*
 * th_spawn, th_qsched_spawn - start ARGV (or qsched, as th_qsched) in the
 * background, its own process group, stdout and stderr to files in th_tmp
 * (read with th_output).  It is killed if the test process dies.
 * RETURN VALUE: its pid.  Asserts the fork succeeds.
 */
pid_t	 th_spawn(const char *const argv[]);
pid_t	 th_qsched_spawn(const char *conf, const char *arg, ...)
	    __attribute__((sentinel));

/*
 * th_wait - wait up to timeout_ms for a spawned process to end.
 * RETURN VALUE: its status as th_run's, or -1 if it is still running.
 * A sanitizer report in its stderr fails the test, as for th_run.
 */
int	 th_wait(pid_t pid, int timeout_ms);

/*
 * th_kill - send SIG to a spawned process (only that process, not its
 * group); asserts it succeeds.
 */
void	 th_kill(pid_t pid, int sig);

/*
 * th_output - what a spawned process has written so far, into OUT.
 */
void	 th_output(pid_t pid, struct th_out *out);

/*
 * th_write, th_writef - write a file; a relative PATH is under th_tmp.
 * Asserts it succeeds.
 */
void	 th_write(const char *path, const char *content);
void	 th_writef(const char *path, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/*
 * th_read - a file's content (a relative PATH is under th_tmp), malloc'ed;
 * asserts it can be read.
 */
char	*th_read(const char *path);

/*
 * th_conf, th_conf_shipped - write th_tmp/jobs.conf: database = th_conninfo,
 * plugin_dir = $QSCHED_TEST_PLUGINDIR (the test plugins; th_conf_shipped:
 * $QSCHED_PLUGIN_BUILDDIR, the shipped ones), flags_file =
 * th_tmp/flags.ini, then JOBS (jobs and any other settings, jobs.conf(5)
 * syntax).  Writes a default flags.ini (every flag true) unless the test
 * wrote one already.  RETURN VALUE: the path of jobs.conf (harness-owned).
 */
const char *th_conf(const char *jobs);
const char *th_conf_shipped(const char *jobs);

/*
 * th_pg_stop, th_pg_start, th_pg_restart - stop the server ("fast": client
 * connections are terminated with SQLSTATE 57P01), start it, or both, and
 * wait until it accepts connections.  Only in tests set up with
 * th_setup_exclusive; asserts that and that pg_ctl succeeds.
 */
void	 th_pg_stop(void);
void	 th_pg_start(void);
void	 th_pg_restart(void);

#endif /* TH_H */
