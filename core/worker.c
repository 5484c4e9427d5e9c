/*
 * worker.c - the forked process that runs one attempt of one job.
 *
 * The worker opens its own connection (libpq connections must not cross
 * fork), names it qsched/<job>/<run id>, takes the job's advisory lock,
 * sets the job's timeouts, calls the plugin's check() and run(), and
 * reports to the parent through a pipe.  It dies with its parent
 * (PR_SET_PDEATHSIG), and on SIGTERM it raises the cancel flag and cancels
 * the query in flight, so a timeout or a stop reaches even a plugin blocked
 * in the server.
 */
#include "qsched.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#define WORKER_FD	3	/* the report pipe, in the worker */
#define WORKER_GO_FD	4	/* the start pipe of a waiting worker */

static PGcancel	*worker_cancel;

static void
worker_sigterm(int sig)
{
	char	 errbuf[256];

	(void)sig;
	host_cancelled = 1;
	/* PQcancel is safe in a signal handler; PGcancel is immutable. */
	if (worker_cancel != NULL)
		(void)PQcancel(worker_cancel, errbuf, sizeof errbuf);
}

/* Server NOTICEs (a migration's counts, say) go to the log, with the run. */
static void
worker_notice(void *arg, const char *message)
{
	const struct qsched_run *qr = arg;

	log_run(QSCHED_LOG_NOTICE, qr->run->job->name, qr->run->id, "server: %s",
	    message);
}

/* Signals as a fresh process has them, except the ones the worker uses. */
static void
worker_signals(void)
{
	struct sigaction sa;
	sigset_t	 none;

	memset(&sa, 0, sizeof sa);
	sigemptyset(&sa.sa_mask);
	sa.sa_handler = SIG_DFL;
	for (int s = 1; s < NSIG; s++)
		(void)sigaction(s, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = worker_sigterm;
	sigaction(SIGTERM, &sa, NULL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
}

static void
worker_result(struct qsched_run *qr, enum run_status status, bool lock_busy,
    bool retryable)
{
	char	 p[128], *metrics;

	metrics = host_metrics_json(qr);
	(void)report_send(qr->fd, REPORT_METRICS, metrics);
	free(metrics);
	if (qr->message != NULL)
		(void)report_send(qr->fd, REPORT_MESSAGE, qr->message);
	snprintf(p, sizeof p, "%d %d %d %lld %s", (int)status, lock_busy,
	    retryable, (long long)qr->rows,
	    qr->sqlstate[0] != '\0' ? qr->sqlstate : "-");
	(void)report_send(qr->fd, REPORT_RESULT, p);
}

static void
worker_set_message(struct qsched_run *qr, const char *msg)
{
	free(qr->message);
	qr->message = xstrdup(msg);
}

/*
 * Name the connection, set the job's timeouts and take its lock (lock.c).
 * Returns 1 when the lock is taken, 0 when it is held elsewhere (the
 * message names the holder), -1 on error (recorded).
 */
static int
worker_prepare(struct qsched_run *qr, const char *app)
{
	const struct job *job = qr->run->job;
	char		 holder[QSCHED_ERRLEN];
	PGresult	*res = NULL;
	int		 got;

	got = lock_take_job(qr->conn, job, app, &res);
	if (got == -1) {
		if (job->overlap == OVERLAP_WAIT)
			host_services.fail(qr, res, "waiting for lock \"%s\"",
			    job->lock);
		else
			host_services.fail(qr, res, "preparing the session");
		PQclear(res);
		return (-1);
	}
	if (got == 1)
		return (1);
	(void)lock_holder(qr->conn, job->lock, holder, sizeof holder);
	worker_set_message(qr, holder);
	return (0);
}

static enum run_status
worker_call_plugin(struct qsched_run *qr, bool *retryable)
{
	const struct qsched_plugin *p = qr->run->job->plugin->desc;
	enum qsched_result res;

	*retryable = false;
	if (p->check != NULL && p->check(&host_services, qr) != 0) {
		if (qr->message == NULL)
			worker_set_message(qr, "the plugin's check failed");
		*retryable = db_transient(qr->sqlstate);
		return (RUN_FAILED);
	}
	res = p->run(&host_services, qr);
	if (PQtransactionStatus(qr->conn) == PQTRANS_INTRANS ||
	    PQtransactionStatus(qr->conn) == PQTRANS_INERROR) {
		PQclear(PQexec(qr->conn, "ROLLBACK"));
		if (res == QSCHED_OK) {
			worker_set_message(qr, "the plugin left a transaction "
			    "open; it was rolled back");
			return (RUN_FAILED);
		}
	}
	switch (res) {
	case QSCHED_OK:
		/* A failure the plugin recovered from is not the outcome. */
		qr->sqlstate[0] = '\0';
		return (RUN_SUCCEEDED);
	case QSCHED_SKIP:
		return (RUN_SKIPPED);
	case QSCHED_CANCELLED:
		return (RUN_CANCELLED);
	case QSCHED_RETRY:
		*retryable = true;
		return (RUN_FAILED);
	case QSCHED_FAIL:
		/* A query cancelled by our own SIGTERM is a cancellation. */
		if (host_cancelled)
			return (RUN_CANCELLED);
		*retryable = db_transient(qr->sqlstate);
		return (RUN_FAILED);
	}
	if (qr->message == NULL)
		xasprintf(&qr->message, "the plugin returned %d, not a "
		    "qsched_result", (int)res);
	return (RUN_FAILED);
}

/*
 * A worker forked before its run was recorded waits here, connected, for
 * its run id.  End of file: the run will not happen.
 */
static int64_t
worker_wait_go(void)
{
	char	 buf[32];
	size_t	 n = 0;
	ssize_t	 got;

	while (n < sizeof buf - 1) {
		got = read(WORKER_GO_FD, buf + n, sizeof buf - 1 - n);
		if (got == -1 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		n += (size_t)got;
		if (buf[n - 1] == '\n')
			break;
	}
	buf[n] = '\0';
	close(WORKER_GO_FD);
	return (n > 0 ? strtoll(buf, NULL, 10) : 0);
}

static void __attribute__((noreturn))
worker_main(struct run *r, const struct flags *flags, bool waiting)
{
	struct qsched_run qr;
	enum run_status	 status;
	char		 app[64], e[QSCHED_ERRLEN], pid[16];
	bool		 retryable = false;
	int		 taken;

	/* The parent's bookkeeping limits are not the plugin's. */
	db_set_limits(0, DB_BOOK_CONNECT_S);
	memset(&qr, 0, sizeof qr);
	qr.run = r;
	qr.flags = flags;
	qr.fd = WORKER_FD;

	lock_appname(r->job->name, r->id, 0, app, sizeof app);
	qr.conn = db_connect(r->cfg->database, app, NULL, e, sizeof e);
	if (waiting && (r->id = worker_wait_go()) == 0)
		_exit(0);
	if (qr.conn == NULL) {
		snprintf(qr.sqlstate, sizeof qr.sqlstate, "08001");
		xasprintf(&qr.message, "connecting: %s", e);
		worker_result(&qr, RUN_FAILED, false, true);
		_exit(0);
	}
	snprintf(pid, sizeof pid, "%d", PQbackendPID(qr.conn));
	(void)report_send(qr.fd, REPORT_BACKEND, pid);
	worker_cancel = PQgetCancel(qr.conn);
	PQsetNoticeProcessor(qr.conn, worker_notice, &qr);
	lock_appname(r->job->name, r->id, 0, app, sizeof app);

	taken = worker_prepare(&qr, app);
	if (taken == 1 && qr.message == NULL)
		status = worker_call_plugin(&qr, &retryable);
	else if (taken == 0)
		status = RUN_SKIPPED;
	else {
		status = host_cancelled ? RUN_CANCELLED : RUN_FAILED;
		retryable = db_transient(qr.sqlstate);
	}

	/*
	 * Release the lock before reporting, so the next run can take it the
	 * moment this one is recorded; closing alone releases it only when
	 * the backend gets round to exiting.
	 */
	if (taken == 1 && PQstatus(qr.conn) == CONNECTION_OK)
		lock_release(qr.conn, lock_job_key(r->job));
	worker_result(&qr, status, taken == 0, retryable);
	PQfreeCancel(worker_cancel);
	worker_cancel = NULL;
	PQfinish(qr.conn);
	host_run_free(&qr);
	_exit(0);
}

pid_t
worker_start(struct run *r, const struct flags *flags)
{
	sigset_t	 all, old;
	pid_t		 pid, parent = getpid();
	int		 p[2], go[2] = { -1, -1 }, devnull;
	bool		 waiting = (r->id == 0);

	if (pipe2(p, O_CLOEXEC) == -1 || (waiting && pipe2(go, O_CLOEXEC) ==
	    -1)) {
		log_err("job=%s: pipe: %s", r->job->name, strerror(errno));
		return (-1);
	}
	/* No signal may run a parent handler in the child before it resets. */
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid == 0) {
		worker_signals();
		(void)setpgid(0, 0);
		(void)prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(1);
		if (dup2(p[1], WORKER_FD) == -1 ||
		    (waiting && dup2(go[0], WORKER_GO_FD) == -1))
			_exit(1);
		if ((devnull = open("/dev/null", O_RDONLY)) != -1) {
			dup2(devnull, STDIN_FILENO);
			if (devnull != STDIN_FILENO)
				close(devnull);
		}
		/* The parent's database socket and every other descriptor. */
		close_range((waiting ? WORKER_GO_FD : WORKER_FD) + 1, ~0U, 0);
		worker_main(r, flags, waiting);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (waiting)
		close(go[0]);
	if (pid == -1) {
		log_err("job=%s: fork: %s", r->job->name, strerror(errno));
		close(p[0]);
		if (waiting)
			close(go[1]);
		return (-1);
	}
	(void)setpgid(pid, pid);	/* both sides: no race with kill(-pid) */
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	r->pid = pid;
	r->fd = p[0];
	r->gofd = waiting ? go[1] : -1;
	return (pid);
}

int
worker_go(struct run *r)
{
	char	 buf[32];
	int	 n, rc = 0;

	n = snprintf(buf, sizeof buf, "%lld\n", (long long)r->id);
	if (write(r->gofd, buf, (size_t)n) != n)
		rc = -1;
	close(r->gofd);
	r->gofd = -1;
	return (rc);
}

void
worker_abort(struct run *r)
{
	if (r->pid == 0 || r->gofd == -1)
		return;
	/* It has done nothing but connect: no need to be gentle. */
	(void)kill(r->pid, SIGKILL);
	(void)waitpid(r->pid, NULL, 0);
	close(r->gofd);
	r->gofd = -1;
	if (r->fd != -1)
		close(r->fd);
	r->fd = -1;
	r->pid = 0;
}
