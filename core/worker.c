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
#include <unistd.h>

#define WORKER_FD	3	/* the report pipe, in the worker */

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

/* Take the job's lock; 1 taken, 0 held elsewhere (message set), -1 error. */
static int
worker_lock(struct qsched_run *qr)
{
	const struct job *job = qr->run->job;
	char		 key[16], e[QSCHED_ERRLEN], holder[QSCHED_ERRLEN];
	const char	*params[1] = { key };
	PGresult	*res;
	bool		 got;

	snprintf(key, sizeof key, "%d", lock_key(job->lock));
	if (job->overlap == OVERLAP_WAIT) {
		res = PQexecParams(qr->conn, "SELECT pg_advisory_lock(29043, "
		    "$1::int4)", 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			host_services.fail(qr, res, "waiting for lock \"%s\"",
			    job->lock);
			PQclear(res);
			return (-1);
		}
		PQclear(res);
		return (1);
	}
	res = db_query(qr->conn, "SELECT pg_try_advisory_lock(29043, "
	    "$1::int4)", 1, params, e, sizeof e);
	if (res == NULL) {
		host_services.fail(qr, NULL, "taking lock \"%s\"", job->lock);
		return (-1);
	}
	got = (*PQgetvalue(res, 0, 0) == 't');
	PQclear(res);
	if (got)
		return (1);
	(void)lock_holder(qr->conn, job->lock, holder, sizeof holder);
	worker_set_message(qr, holder);
	return (0);
}

static int
worker_settings(struct qsched_run *qr)
{
	const struct job *job = qr->run->job;
	char		 sql[256];
	PGresult	*res;

	/*
	 * client_connection_check_interval makes the server notice a dead
	 * worker during a long query and release its locks at once.
	 */
	snprintf(sql, sizeof sql, "SET statement_timeout = %lld; "
	    "SET lock_timeout = %lld; "
	    "SET client_connection_check_interval = 1000",
	    (long long)job->statement_timeout_ms,
	    (long long)job->lock_timeout_ms);
	res = PQexec(qr->conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		host_services.fail(qr, res, "setting the job's timeouts");
		PQclear(res);
		return (-1);
	}
	PQclear(res);
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

static void __attribute__((noreturn))
worker_main(struct run *r, const struct flags *flags)
{
	struct qsched_run qr;
	enum run_status	 status;
	char		 app[64], e[QSCHED_ERRLEN], pid[16];
	bool		 retryable = false;
	int		 taken, room;

	memset(&qr, 0, sizeof qr);
	qr.run = r;
	qr.flags = flags;
	qr.fd = WORKER_FD;

	/* application_name holds 63 bytes: shorten the job, keep the id. */
	room = 63 - (int)strlen("qsched//") - snprintf(NULL, 0, "%lld",
	    (long long)r->id);
	snprintf(app, sizeof app, "qsched/%.*s/%lld", room, r->job->name,
	    (long long)r->id);
	qr.conn = db_connect(r->cfg->database, app, e, sizeof e);
	if (qr.conn == NULL) {
		snprintf(qr.sqlstate, sizeof qr.sqlstate, "08001");
		xasprintf(&qr.message, "connecting: %s", e);
		worker_result(&qr, RUN_FAILED, false, true);
		_exit(0);
	}
	snprintf(pid, sizeof pid, "%d", PQbackendPID(qr.conn));
	(void)report_send(qr.fd, REPORT_BACKEND, pid);
	worker_cancel = PQgetCancel(qr.conn);

	taken = worker_lock(&qr);
	if (taken == 1 && worker_settings(&qr) == 0)
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
	if (taken == 1 && PQstatus(qr.conn) == CONNECTION_OK) {
		char		 key[16];
		const char	*params[1] = { key };

		snprintf(key, sizeof key, "%d", lock_key(r->job->lock));
		PQclear(PQexecParams(qr.conn, "SELECT pg_advisory_unlock("
		    "29043, $1::int4)", 1, NULL, params, NULL, NULL, 0));
	}
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
	int		 p[2], devnull;

	if (pipe2(p, O_CLOEXEC) == -1) {
		log_run(QSCHED_LOG_ERR, r->job->name, r->id, "pipe: %s",
		    strerror(errno));
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
		if (dup2(p[1], WORKER_FD) == -1)
			_exit(1);
		if ((devnull = open("/dev/null", O_RDONLY)) != -1) {
			dup2(devnull, STDIN_FILENO);
			if (devnull != STDIN_FILENO)
				close(devnull);
		}
		/* The parent's database socket and every other descriptor. */
		close_range(WORKER_FD + 1, ~0U, 0);
		worker_main(r, flags);
	}
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(p[1]);
	if (pid == -1) {
		log_run(QSCHED_LOG_ERR, r->job->name, r->id, "fork: %s",
		    strerror(errno));
		close(p[0]);
		return (-1);
	}
	(void)setpgid(pid, pid);	/* both sides: no race with kill(-pid) */
	fcntl(p[0], F_SETFL, fcntl(p[0], F_GETFL) | O_NONBLOCK);
	r->pid = pid;
	r->fd = p[0];
	return (pid);
}
