/*
 * metrics_pipe.c - the metrics refresh's round trip (metrics_pipe.h).
 */
#include "qsched.h"
#include "metrics_pipe.h"

#include <poll.h>
#include <stdio.h>
#include <sys/socket.h>

/*
 * Wait for the server until P->until: a server that does not answer at
 * all (stopped, or a dead host behind a live route) is given up, its
 * connection shut down, as db.c does; statement_timeout only bounds one
 * that runs.  False when given up.
 */
static bool
metrics_pipe_wait(struct metrics_pipe *p)
{
	struct pollfd	 pfd;
	int64_t		 left;

	while (PQisBusy(p->conn)) {
		left = p->until - clock_mono_ms();
		pfd.fd = PQsocket(p->conn);
		pfd.events = POLLIN;
		pfd.revents = 0;
		if (pfd.fd < 0 || left <= 0 || (poll(&pfd, 1, (int)left) == 0 &&
		    clock_mono_ms() >= p->until)) {
			if (pfd.fd >= 0)
				(void)shutdown(pfd.fd, SHUT_RDWR);
			(void)PQconsumeInput(p->conn);
			return (false);
		}
		if (PQconsumeInput(p->conn) == 0)
			return (false);
	}
	return (true);
}

static PGresult *
metrics_pipe_get(struct metrics_pipe *p)
{
	if (!metrics_pipe_wait(p)) {
		p->failed = true;
		return (NULL);
	}
	return (PQgetResult(p->conn));
}

/* Whether a send went out; if not, the pipe fails, saying why. */
static void
metrics_pipe_sent(struct metrics_pipe *p, const char *what, int ok)
{
	char	 e[QSCHED_ERRLEN];

	if (ok == 1)
		return;
	snprintf(p->err, p->errlen, "metrics: %s: %s", what,
	    db_error(NULL, p->conn, e, sizeof e));
	p->failed = true;
}

void
metrics_pipe_send(struct metrics_pipe *p, const char *what, const char *sql,
    int n, const char *const *params)
{
	if (!p->failed)
		metrics_pipe_sent(p, what, PQsendQueryParams(p->conn, sql, n,
		    NULL, params, NULL, NULL, 0));
}

void
metrics_pipe_prepare(struct metrics_pipe *p, const char *what,
    const char *name, const char *sql)
{
	if (!p->failed)
		metrics_pipe_sent(p, what, PQsendPrepare(p->conn, name, sql, 0,
		    NULL));
}

void
metrics_pipe_exec(struct metrics_pipe *p, const char *what,
    const char *name, int n, const char *const *params)
{
	if (!p->failed)
		metrics_pipe_sent(p, what, PQsendQueryPrepared(p->conn, name, n,
		    params, NULL, NULL, 0));
}

void
metrics_pipe_sync(struct metrics_pipe *p)
{
	char	 e[QSCHED_ERRLEN];

	if (p->failed)
		return;
	if (PQpipelineSync(p->conn) != 1) {
		snprintf(p->err, p->errlen, "metrics: sync: %s",
		    db_error(NULL, p->conn, e, sizeof e));
		p->failed = true;
		return;
	}
	p->syncs++;
}

PGresult *
metrics_pipe_result(struct metrics_pipe *p, const char *what, char *err,
    size_t errlen)
{
	char		 e[QSCHED_ERRLEN];
	PGresult	*res, *end;

	if ((res = metrics_pipe_get(p)) == NULL) {
		if (p->failed)
			snprintf(err, errlen, "metrics: %s: 08006: no answer "
			    "from the server in time", what);
		else
			snprintf(err, errlen, "metrics: %s: %s", what,
			    db_error(NULL, p->conn, e, sizeof e));
		return (NULL);
	}
	if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {	/* not expected */
		p->syncs--;
		PQclear(res);
		snprintf(err, errlen, "metrics: %s: no result", what);
		return (NULL);
	}
	while ((end = metrics_pipe_get(p)) != NULL)
		PQclear(end);
	if (PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "metrics: %s: %s", what,
		    PQresultStatus(res) == PGRES_PIPELINE_ABORTED ?
		    "not run (an earlier query failed)" :
		    db_error(res, p->conn, e, sizeof e));
		PQclear(res);
		return (NULL);
	}
	return (res);
}

bool
metrics_pipe_skip(struct metrics_pipe *p)
{
	PGresult	*res;
	int		 nulls = 0;

	while (p->syncs > 0) {
		if ((res = metrics_pipe_get(p)) == NULL) {
			if (p->failed || PQstatus(p->conn) != CONNECTION_OK ||
			    ++nulls > 2)
				return (false);
			continue;
		}
		nulls = 0;
		if (PQresultStatus(res) == PGRES_PIPELINE_SYNC) {
			p->syncs--;
			PQclear(res);
			return (true);
		}
		PQclear(res);
	}
	return (true);
}
