/*
 * th.c - helpers for the Criterion integration suites; see th.h.
 *
 * Each test runs in its own process (Criterion forks a worker per test), so
 * the state below is per test.  Tests of one program run in parallel; a
 * shared flock on PGHOST/th.lock held for each test's lifetime lets a test
 * that restarts the server take it exclusively and run alone.
 */
#include <config.h>

#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <criterion/criterion.h>
#include <criterion/logging.h>

#include "th.h"

#define TH_SERVER_WAIT_MS	60000
#define TH_MAXSPAWN		64
#define TH_MAXARGS		64

char		 th_tmp[1024];
char		 th_dbname[64];
char		 th_conninfo[PATH_MAX + 256];
int		 th_run_timeout_ms = 120000;

static char	 th_confpath[PATH_MAX];
static int	 th_lockfd = -1;
static bool	 th_exclusive;
static unsigned	 th_dbcount;

/* Processes from th_spawn, with the files their output goes to. */
static struct th_proc {
	pid_t	 pid;
	bool	 reaped;
	int	 status;
	char	 out[PATH_MAX];
	char	 err[PATH_MAX];
} th_procs[TH_MAXSPAWN];
static int	 th_nprocs;

struct th_buf {
	char	*data;
	size_t	 len;
	size_t	 size;
};

static long long
th_mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

static void
th_sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

static char *
th_vasprintf(const char *fmt, va_list ap)
{
	char	*s;

	if (vasprintf(&s, fmt, ap) == -1)
		cr_assert_fail("out of memory");
	return (s);
}

static void
th_buf_add(struct th_buf *b, const char *data, size_t len)
{
	if (b->len + len + 1 > b->size) {
		size_t	 size = b->size == 0 ? 4096 : b->size;
		char	*p;

		while (b->len + len + 1 > size)
			size *= 2;
		if ((p = realloc(b->data, size)) == NULL)
			cr_assert_fail("out of memory");
		b->data = p;
		b->size = size;
	}
	memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

static char *
th_buf_finish(struct th_buf *b)
{
	if (b->data == NULL)
		th_buf_add(b, "", 0);
	return (b->data);
}

/* A path under th_tmp unless absolute. */
static void
th_path(char *buf, size_t len, const char *path)
{
	int	 r;

	if (path[0] == '/')
		r = snprintf(buf, len, "%s", path);
	else
		r = snprintf(buf, len, "%s/%s", th_tmp, path);
	cr_assert(r > 0 && (size_t)r < len, "path too long: %s", path);
}

static int
th_status(int wstatus)
{
	if (WIFEXITED(wstatus))
		return (WEXITSTATUS(wstatus));
	if (WIFSIGNALED(wstatus))
		return (128 + WTERMSIG(wstatus));
	return (-1);
}

static const char *
th_env(const char *name)
{
	const char	*v = getenv(name);

	cr_assert(v != NULL && *v != '\0', "%s is not set: run the suite "
	    "through tests/with-pg.sh (make check)", name);
	return (v);
}

/*
 * In the child, before exec: own process group (so a hung command and its
 * children can be killed together), killed if the test process dies, and
 * the signal state of a fresh process.
 */
static void
th_child_setup(pid_t parent)
{
	sigset_t	 none;

	setpgid(0, 0);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent)
		_exit(127);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
}

static void
th_child_exec(const char *const argv[])
{
	execvp(argv[0], (char *const *)argv);
	dprintf(STDERR_FILENO, "th: cannot execute %s: %s\n", argv[0],
	    strerror(errno));
	_exit(127);
}

static void
th_lock(bool exclusive)
{
	char	 path[PATH_MAX];

	snprintf(path, sizeof path, "%s/th.lock", th_env("PGHOST"));
	th_lockfd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0666);
	cr_assert(th_lockfd != -1, "%s: %s", path, strerror(errno));
	while (flock(th_lockfd, exclusive ? LOCK_EX : LOCK_SH) == -1)
		cr_assert(errno == EINTR, "%s: flock: %s", path,
		    strerror(errno));
	th_exclusive = exclusive;
}

/* A connection to the maintenance database, for CREATE/DROP DATABASE. */
static PGconn *
th_connect_admin(void)
{
	PGconn	*conn;

	conn = PQconnectdb("dbname=postgres user=postgres");
	if (PQstatus(conn) != CONNECTION_OK) {
		char	 msg[512];

		snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
		PQfinish(conn);
		cr_assert_fail("cannot connect to the test server "
		    "(PGHOST=%s PGPORT=%s): %s", getenv("PGHOST"),
		    getenv("PGPORT"), msg);
	}
	return (conn);
}

static void
th_setup_common(bool exclusive)
{
	const char	*tmpdir = getenv("TMPDIR"), *host, *port;
	PGconn		*conn;
	int		 r;

	host = th_env("PGHOST");
	port = th_env("PGPORT");
	th_lock(exclusive);

	if (tmpdir == NULL || *tmpdir == '\0')
		tmpdir = "/tmp";
	r = snprintf(th_tmp, sizeof th_tmp, "%s/qsched-test.XXXXXX", tmpdir);
	cr_assert(r > 0 && (size_t)r < sizeof th_tmp, "TMPDIR too long");
	cr_assert(mkdtemp(th_tmp) != NULL, "mkdtemp %s: %s", th_tmp,
	    strerror(errno));

	/* The pid keeps parallel tests apart, the count repeated setups. */
	snprintf(th_dbname, sizeof th_dbname, "qt_%ld_%u_%lld", (long)getpid(),
	    th_dbcount++, th_mono_ms() % 1000000);
	r = snprintf(th_conninfo, sizeof th_conninfo,
	    "host='%s' port='%s' dbname='%s' user='postgres'", host, port,
	    th_dbname);
	cr_assert(r > 0 && (size_t)r < sizeof th_conninfo, "PGHOST too long");

	conn = th_connect_admin();
	th_exec(conn, "CREATE DATABASE %s TEMPLATE template0", th_dbname);
	PQfinish(conn);
}

void
th_setup(void)
{
	th_setup_common(false);
}

void
th_setup_exclusive(void)
{
	th_setup_common(true);
}

static int
th_rm_one(const char *path, const struct stat *sb, int type, struct FTW *ftw)
{
	(void)sb;
	(void)type;
	(void)ftw;
	if (remove(path) == -1 && errno != ENOENT)
		cr_log_warn("th: cannot remove %s: %s", path, strerror(errno));
	return (0);
}

static void
th_reap_all(void)
{
	int	 i, wstatus;

	for (i = 0; i < th_nprocs; i++) {
		if (th_procs[i].reaped)
			continue;
		kill(-th_procs[i].pid, SIGKILL);
		kill(th_procs[i].pid, SIGKILL);
		while (waitpid(th_procs[i].pid, &wstatus, 0) == -1 &&
		    errno == EINTR)
			;
		th_procs[i].reaped = true;
	}
	th_nprocs = 0;
}

static bool
th_server_up(void)
{
	return (PQping("dbname=postgres user=postgres") == PQPING_OK);
}

void
th_teardown(void)
{
	PGconn		*conn;
	PGresult	*res;
	char		*sql;

	th_reap_all();

	if (th_exclusive && !th_server_up())
		th_pg_start();
	if (th_dbname[0] != '\0') {
		conn = PQconnectdb("dbname=postgres user=postgres");
		if (PQstatus(conn) == CONNECTION_OK &&
		    asprintf(&sql, "DROP DATABASE IF EXISTS %s WITH (FORCE)",
		    th_dbname) != -1) {
			res = PQexec(conn, sql);
			if (PQresultStatus(res) != PGRES_COMMAND_OK)
				cr_log_warn("th: %s: %s", sql,
				    PQresultErrorMessage(res));
			PQclear(res);
			free(sql);
		} else
			cr_log_warn("th: cannot drop %s: %s", th_dbname,
			    PQerrorMessage(conn));
		PQfinish(conn);
		th_dbname[0] = '\0';
		th_conninfo[0] = '\0';
	}

	if (th_tmp[0] != '\0') {
		const char	*keep = getenv("QSCHED_TEST_KEEP");

		if (keep != NULL && strcmp(keep, "1") == 0)
			cr_log_info("th: kept %s", th_tmp);
		else
			nftw(th_tmp, th_rm_one, 16, FTW_DEPTH | FTW_PHYS);
		th_tmp[0] = '\0';
	}
	th_confpath[0] = '\0';

	if (th_lockfd != -1) {
		close(th_lockfd);
		th_lockfd = -1;
	}
	th_exclusive = false;
}

PGconn *
th_connect(void)
{
	PGconn	*conn;

	cr_assert(th_conninfo[0] != '\0', "th_connect before th_setup");
	conn = PQconnectdb(th_conninfo);
	if (PQstatus(conn) != CONNECTION_OK) {
		char	 msg[512];

		snprintf(msg, sizeof msg, "%s", PQerrorMessage(conn));
		PQfinish(conn);
		cr_assert_fail("cannot connect to %s: %s", th_conninfo, msg);
	}
	return (conn);
}

/*
 * Run SQL; assert it succeeds, naming WHAT (the SQL itself when NULL); the
 * caller PQclears the result.
 */
static PGresult *
th_query(PGconn *conn, const char *sql, const char *what)
{
	PGresult	*res;
	const char	*state;
	char		 msg[1024];
	size_t		 len;

	res = PQexec(conn, sql);
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		return (res);
	default:
		break;
	}
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(msg, sizeof msg, "%s", res == NULL ? PQerrorMessage(conn) :
	    PQresultErrorMessage(res));
	for (len = strlen(msg); len > 0 && (msg[len - 1] == '\n' ||
	    msg[len - 1] == ' '); len--)
		msg[len - 1] = '\0';
	snprintf(msg + strlen(msg), sizeof msg - strlen(msg), " (SQLSTATE %s)",
	    state == NULL ? "none" : state);
	PQclear(res);
	cr_assert_fail("SQL failed: %s\n    in: %s", msg,
	    what == NULL ? sql : what);
	return (NULL);
}

void
th_exec(PGconn *conn, const char *fmt, ...)
{
	va_list		 ap;
	char		*sql;

	va_start(ap, fmt);
	sql = th_vasprintf(fmt, ap);
	va_end(ap);
	PQclear(th_query(conn, sql, NULL));
	free(sql);
}

void
th_exec_file(PGconn *conn, const char *path)
{
	char	 full[PATH_MAX], *sql;
	int	 r;

	if (path[0] == '/')
		r = snprintf(full, sizeof full, "%s", path);
	else
		r = snprintf(full, sizeof full, "%s/%s",
		    th_env("QSCHED_SRCDIR"), path);
	cr_assert(r > 0 && (size_t)r < sizeof full, "path too long: %s", path);
	sql = th_read(full);
	PQclear(th_query(conn, sql, full));
	free(sql);
}

static char *
th_vvalue(PGconn *conn, const char *fmt, va_list ap)
{
	PGresult	*res;
	char		*sql, *v = NULL;

	sql = th_vasprintf(fmt, ap);
	res = th_query(conn, sql, NULL);
	if (PQntuples(res) < 1 || PQnfields(res) < 1) {
		PQclear(res);
		cr_assert_fail("SQL returned no value\n    in: %s", sql);
	}
	if (!PQgetisnull(res, 0, 0) &&
	    (v = strdup(PQgetvalue(res, 0, 0))) == NULL)
		cr_assert_fail("out of memory");
	PQclear(res);
	free(sql);
	return (v);
}

char *
th_value(PGconn *conn, const char *fmt, ...)
{
	va_list	 ap;
	char	*v;

	va_start(ap, fmt);
	v = th_vvalue(conn, fmt, ap);
	va_end(ap);
	return (v);
}

long long
th_int(PGconn *conn, const char *fmt, ...)
{
	va_list		 ap;
	char		*v, *end;
	long long	 n;

	va_start(ap, fmt);
	v = th_vvalue(conn, fmt, ap);
	va_end(ap);
	cr_assert(v != NULL, "th_int: the query returned NULL");
	errno = 0;
	n = strtoll(v, &end, 10);
	cr_assert(errno == 0 && end != v && *end == '\0',
	    "th_int: \"%s\" is not an integer", v);
	free(v);
	return (n);
}

bool
th_wait_until(PGconn *conn, const char *sql, int timeout_ms)
{
	long long	 deadline = th_mono_ms() + timeout_ms;
	PGresult	*res;
	bool		 yes;

	for (;;) {
		if (PQstatus(conn) != CONNECTION_OK)
			PQreset(conn);
		if (PQstatus(conn) == CONNECTION_OK) {
			res = PQexec(conn, sql);
			if (PQresultStatus(res) == PGRES_TUPLES_OK) {
				yes = PQntuples(res) > 0 && PQnfields(res) > 0 &&
				    strcmp(PQgetvalue(res, 0, 0), "t") == 0;
				PQclear(res);
				if (yes)
					return (true);
			} else if (PQstatus(conn) == CONNECTION_OK) {
				char	 msg[512];

				snprintf(msg, sizeof msg, "%s",
				    PQresultErrorMessage(res));
				PQclear(res);
				cr_assert_fail("SQL failed: %s\n    in: %s",
				    msg, sql);
			} else
				PQclear(res);
		}
		if (th_mono_ms() >= deadline)
			return (false);
		th_sleep_ms(20);
	}
}

void
th_out_free(struct th_out *out)
{
	free(out->out);
	free(out->err);
	out->out = out->err = NULL;
}

/*
 * In a sanitizer build a report from the command under test must fail the
 * test even when its exit status is the one the test expects (ASan exits 1,
 * the same as a failed job).
 */
static const char *const th_sanitizer_marks[] = {
	"ERROR: AddressSanitizer",
	"ERROR: LeakSanitizer",
	"SUMMARY: UndefinedBehaviorSanitizer",
	": runtime error: ",
};

static void
th_check_sanitizers(const char *what, const char *err)
{
	size_t	 i;

	for (i = 0; i < sizeof th_sanitizer_marks /
	    sizeof th_sanitizer_marks[0]; i++)
		if (err != NULL && strstr(err, th_sanitizer_marks[i]) != NULL)
			cr_assert_fail("%s: sanitizer report:\n%s", what, err);
}

/* Read both pipes to their end; false if the deadline passed first. */
static bool
th_drain(int outfd, int errfd, struct th_out *out, long long deadline)
{
	struct th_buf	 b[2] = { { NULL, 0, 0 }, { NULL, 0, 0 } };
	struct pollfd	 pfd[2];
	char		 chunk[8192];
	ssize_t		 n;
	int		 i, left;
	bool		 ok = true;

	pfd[0].fd = outfd;
	pfd[1].fd = errfd;
	pfd[0].events = pfd[1].events = POLLIN;
	while (pfd[0].fd != -1 || pfd[1].fd != -1) {
		left = (int)(deadline - th_mono_ms());
		if (left <= 0) {
			ok = false;
			break;
		}
		if (poll(pfd, 2, left) == -1) {
			if (errno == EINTR)
				continue;
			cr_assert_fail("poll: %s", strerror(errno));
		}
		for (i = 0; i < 2; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			n = read(pfd[i].fd, chunk, sizeof chunk);
			if (n > 0)
				th_buf_add(&b[i], chunk, (size_t)n);
			else if (n == 0 || errno != EINTR) {
				close(pfd[i].fd);
				pfd[i].fd = -1;
			}
		}
	}
	for (i = 0; i < 2; i++)
		if (pfd[i].fd != -1)
			close(pfd[i].fd);
	out->out = th_buf_finish(&b[0]);
	out->err = th_buf_finish(&b[1]);
	return (ok);
}

static bool
th_waitpid_until(pid_t pid, int *wstatus, long long deadline)
{
	pid_t	 r;

	for (;;) {
		r = waitpid(pid, wstatus, WNOHANG);
		if (r == pid)
			return (true);
		if (r == -1 && errno != EINTR)
			cr_assert_fail("waitpid %ld: %s", (long)pid,
			    strerror(errno));
		if (th_mono_ms() >= deadline)
			return (false);
		th_sleep_ms(10);
	}
}

int
th_run(struct th_out *out, const char *const argv[])
{
	long long	 deadline = th_mono_ms() + th_run_timeout_ms;
	int		 po[2], pe[2], wstatus, nullfd;
	pid_t		 pid, parent = getpid();
	bool		 done;
	struct th_out	 discard;

	cr_assert(argv != NULL && argv[0] != NULL, "th_run: empty argv");
	if (out != NULL) {
		cr_assert(pipe2(po, O_CLOEXEC) == 0 && pipe2(pe, O_CLOEXEC) == 0,
		    "pipe: %s", strerror(errno));
	}
	fflush(NULL);
	pid = fork();
	cr_assert(pid != -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		th_child_setup(parent);
		if ((nullfd = open("/dev/null", O_RDONLY)) != -1) {
			dup2(nullfd, STDIN_FILENO);
			close(nullfd);
		}
		if (out != NULL) {
			dup2(po[1], STDOUT_FILENO);
			dup2(pe[1], STDERR_FILENO);
		}
		th_child_exec(argv);
	}

	if (out != NULL) {
		close(po[1]);
		close(pe[1]);
		done = th_drain(po[0], pe[0], out, deadline);
	} else {
		out = &discard;
		out->out = out->err = NULL;
		done = true;
	}
	if (!done || !th_waitpid_until(pid, &wstatus, deadline)) {
		kill(-pid, SIGKILL);
		kill(pid, SIGKILL);
		waitpid(pid, &wstatus, 0);
		cr_assert_fail("%s: still running after %d ms, killed; "
		    "stderr: %s", argv[0], th_run_timeout_ms,
		    out->err == NULL ? "" : out->err);
	}
	th_check_sanitizers(argv[0], out->err);
	return (th_status(wstatus));
}

/* argv for qsched: QSCHED_BIN [-c CONF] ARG... NULL. */
static void
th_qsched_argv(const char *argv[], const char *conf, const char *arg,
    va_list ap)
{
	int	 n = 0;

	argv[n++] = th_env("QSCHED_BIN");
	if (conf != NULL) {
		argv[n++] = "-c";
		argv[n++] = conf;
	}
	for (; arg != NULL; arg = va_arg(ap, const char *)) {
		cr_assert(n < TH_MAXARGS - 1, "th_qsched: too many arguments");
		argv[n++] = arg;
	}
	argv[n] = NULL;
}

int
th_qsched(struct th_out *out, const char *conf, const char *arg, ...)
{
	const char	*argv[TH_MAXARGS];
	va_list		 ap;

	va_start(ap, arg);
	th_qsched_argv(argv, conf, arg, ap);
	va_end(ap);
	return (th_run(out, argv));
}

static struct th_proc *
th_proc_find(pid_t pid)
{
	int	 i;

	for (i = 0; i < th_nprocs; i++)
		if (th_procs[i].pid == pid)
			return (&th_procs[i]);
	cr_assert_fail("pid %ld was not started by th_spawn", (long)pid);
	return (NULL);
}

pid_t
th_spawn(const char *const argv[])
{
	struct th_proc	*p;
	int		 fdo, fde, nullfd;
	pid_t		 pid, parent = getpid();

	cr_assert(argv != NULL && argv[0] != NULL, "th_spawn: empty argv");
	cr_assert(th_tmp[0] != '\0', "th_spawn before th_setup");
	cr_assert(th_nprocs < TH_MAXSPAWN, "th_spawn: too many processes");
	p = &th_procs[th_nprocs];
	snprintf(p->out, sizeof p->out, "%s/spawn-%d.out", th_tmp, th_nprocs);
	snprintf(p->err, sizeof p->err, "%s/spawn-%d.err", th_tmp, th_nprocs);
	fdo = open(p->out, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	fde = open(p->err, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	cr_assert(fdo != -1 && fde != -1, "%s: %s", p->out, strerror(errno));

	fflush(NULL);
	pid = fork();
	cr_assert(pid != -1, "fork: %s", strerror(errno));
	if (pid == 0) {
		th_child_setup(parent);
		if ((nullfd = open("/dev/null", O_RDONLY)) != -1) {
			dup2(nullfd, STDIN_FILENO);
			close(nullfd);
		}
		dup2(fdo, STDOUT_FILENO);
		dup2(fde, STDERR_FILENO);
		th_child_exec(argv);
	}
	/* Both sides call setpgid, so th_kill(-pid) works right away. */
	setpgid(pid, pid);
	close(fdo);
	close(fde);
	p->pid = pid;
	p->reaped = false;
	th_nprocs++;
	return (pid);
}

pid_t
th_qsched_spawn(const char *conf, const char *arg, ...)
{
	const char	*argv[TH_MAXARGS];
	va_list		 ap;

	va_start(ap, arg);
	th_qsched_argv(argv, conf, arg, ap);
	va_end(ap);
	return (th_spawn(argv));
}

int
th_wait(pid_t pid, int timeout_ms)
{
	struct th_proc	*p = th_proc_find(pid);
	char		*err;
	int		 wstatus;

	if (!p->reaped) {
		if (!th_waitpid_until(pid, &wstatus,
		    th_mono_ms() + timeout_ms))
			return (-1);
		p->reaped = true;
		p->status = th_status(wstatus);
		err = th_read(p->err);
		th_check_sanitizers(p->err, err);
		free(err);
	}
	return (p->status);
}

void
th_kill(pid_t pid, int sig)
{
	struct th_proc	*p = th_proc_find(pid);

	cr_assert(!p->reaped, "th_kill: pid %ld has already ended", (long)pid);
	cr_assert(kill(pid, sig) == 0, "kill %ld: %s", (long)pid,
	    strerror(errno));
}

void
th_output(pid_t pid, struct th_out *out)
{
	struct th_proc	*p = th_proc_find(pid);

	out->out = th_read(p->out);
	out->err = th_read(p->err);
}

void
th_write(const char *path, const char *content)
{
	char	 full[PATH_MAX];
	FILE	*f;
	size_t	 len = strlen(content);

	th_path(full, sizeof full, path);
	f = fopen(full, "w");
	cr_assert(f != NULL, "%s: %s", full, strerror(errno));
	if (fwrite(content, 1, len, f) != len || fclose(f) != 0)
		cr_assert_fail("%s: write failed: %s", full, strerror(errno));
}

void
th_writef(const char *path, const char *fmt, ...)
{
	va_list	 ap;
	char	*content;

	va_start(ap, fmt);
	content = th_vasprintf(fmt, ap);
	va_end(ap);
	th_write(path, content);
	free(content);
}

char *
th_read(const char *path)
{
	char		 full[PATH_MAX], chunk[8192];
	struct th_buf	 b = { NULL, 0, 0 };
	ssize_t		 n;
	int		 fd;

	th_path(full, sizeof full, path);
	fd = open(full, O_RDONLY | O_CLOEXEC);
	cr_assert(fd != -1, "%s: %s", full, strerror(errno));
	while ((n = read(fd, chunk, sizeof chunk)) != 0) {
		if (n == -1) {
			if (errno == EINTR)
				continue;
			cr_assert_fail("%s: %s", full, strerror(errno));
		}
		th_buf_add(&b, chunk, (size_t)n);
	}
	close(fd);
	return (th_buf_finish(&b));
}

static const char th_default_flags[] =
    "[queue_migration]\n"
    "use_new_queues            = true\n"
    "populate_separated_tables = true\n"
    "fallback_to_legacy        = true\n"
    "populate_legacy_queue     = true\n";

/*
 * The migration flags, declared in jobs.conf as the shipped file declares
 * the application's (and with the defaults queue_population declares its
 * own), so tests of any plugin may read them.
 */
static const char th_flag_decls[] =
    "flag \"use_new_queues\" { section = \"queue_migration\" }\n"
    "flag \"fallback_to_legacy\" { section = \"queue_migration\" "
    "default = true }\n"
    "flag \"populate_separated_tables\" { section = \"queue_migration\" "
    "default = true }\n"
    "flag \"populate_legacy_queue\" { section = \"queue_migration\" }\n";

static const char *
th_conf_in(const char *plugin_dir, const char *jobs)
{
	char	 flags[PATH_MAX];

	cr_assert(th_tmp[0] != '\0', "th_conf before th_setup");
	th_path(flags, sizeof flags, "flags.ini");
	if (access(flags, F_OK) == -1)
		th_write(flags, th_default_flags);
	th_path(th_confpath, sizeof th_confpath, "jobs.conf");
	th_writef(th_confpath,
	    "# jobs.conf for test database %s\n"
	    "database   = \"%s\"\n"
	    "plugin_dir = \"%s\"\n"
	    "flags_file = \"%s\"\n"
	    "%s\n%s\n", th_dbname, th_conninfo, plugin_dir, flags,
	    th_flag_decls, jobs == NULL ? "" : jobs);
	return (th_confpath);
}

const char *
th_conf(const char *jobs)
{
	return (th_conf_in(th_env("QSCHED_TEST_PLUGINDIR"), jobs));
}

const char *
th_conf_shipped(const char *jobs)
{
	return (th_conf_in(th_env("QSCHED_PLUGIN_BUILDDIR"), jobs));
}

static void
th_pg_ctl(const char *action)
{
	const char	*argv[10];
	struct th_out	 out;
	int		 n = 0, status;

	cr_assert(th_exclusive, "th_pg_%s: the test must use "
	    "th_setup_exclusive, other tests share the server", action);
	argv[n++] = "/bin/sh";
	argv[n++] = th_env("QSCHED_TEST_PGCTL");
	argv[n++] = action;
	if (strcmp(action, "start") != 0) {
		argv[n++] = "-m";
		argv[n++] = "fast";
	}
	argv[n++] = "-w";
	argv[n++] = "-t";
	argv[n++] = "60";
	argv[n] = NULL;
	status = th_run(&out, argv);
	cr_assert(status == 0, "pg_ctl %s exited %d: %s%s", action, status,
	    out.out, out.err);
	th_out_free(&out);
}

static void
th_pg_wait_up(void)
{
	long long	 deadline = th_mono_ms() + TH_SERVER_WAIT_MS;

	while (!th_server_up()) {
		cr_assert(th_mono_ms() < deadline, "the server does not accept "
		    "connections %d s after start", TH_SERVER_WAIT_MS / 1000);
		th_sleep_ms(20);
	}
}

void
th_pg_stop(void)
{
	th_pg_ctl("stop");
}

void
th_pg_start(void)
{
	th_pg_ctl("start");
	th_pg_wait_up();
}

void
th_pg_restart(void)
{
	th_pg_ctl("restart");
	th_pg_wait_up();
}
