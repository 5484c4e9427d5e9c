/*
 * lock.c - migrators serialise on an advisory lock taken by polling a
 * pg_try_advisory_lock from autocommit.  Blocking in pg_advisory_lock
 * inside a transaction would deadlock with a concurrent index build,
 * which waits for every older transaction to end.
 */
#include <config.h>

#include <stdio.h>
#include <time.h>

#include "migrate.h"

#define LOCK_POLL_MS	100

int
lock_poll(const struct qsched_host *host, struct qsched_run *run,
    const char *try_sql, const char *what)
{
	struct timespec	 ts = { 0, LOCK_POLL_MS * 1000000L };
	char		 sql[128];
	bool		 said = false, got;
	PGresult	*res;

	snprintf(sql, sizeof sql, "SELECT %s", try_sql);
	for (;;) {
		res = PQexec(host->conn(run), sql);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			host->fail(run, res, "taking %s", what);
			PQclear(res);
			return (-1);
		}
		got = *PQgetvalue(res, 0, 0) == 't';
		PQclear(res);
		if (got)
			return (0);
		if (!said) {
			host->log(run, QSCHED_LOG_NOTICE, "waiting for %s, "
			    "held by another migrator", what);
			said = true;
		}
		if (host->cancelled(run)) {
			host->message(run, "cancelled while waiting for %s",
			    what);
			return (-1);
		}
		nanosleep(&ts, NULL);
	}
}

int
lock_release(const struct qsched_host *host, struct qsched_run *run,
    const char *unlock_sql)
{
	char		 sql[128];
	PGresult	*res;
	bool		 held;

	if (PQstatus(host->conn(run)) != CONNECTION_OK)
		return (-1);	/* the server released it with the session */
	snprintf(sql, sizeof sql, "SELECT %s", unlock_sql);
	res = PQexec(host->conn(run), sql);
	held = PQresultStatus(res) == PGRES_TUPLES_OK &&
	    *PQgetvalue(res, 0, 0) == 't';
	if (!held)
		host->log(run, QSCHED_LOG_WARNING, "%s: the lock was not held%s%s",
		    unlock_sql, PQresultStatus(res) == PGRES_TUPLES_OK ? "" :
		    ": ", PQresultStatus(res) == PGRES_TUPLES_OK ? "" :
		    PQresultErrorMessage(res));
	PQclear(res);
	return (held ? 0 : -1);
}
