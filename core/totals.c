/*
 * totals.c - the per-job totals are folded here, never as a run settles:
 * a trigger on qsched.runs cost every qsched run its fresh connection's
 * plpgsql load and plans.  The daemon folds in its heartbeat's statement
 * (history.c) and here, before history retention deletes; readers
 * (qsched metrics, GET /metrics) read the views, which add what settled
 * since (sql/core/0004_job_totals.sql).
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>

long long
totals_fold(PGconn *book, char *err, size_t errlen)
{
	char		 e[QSCHED_ERRLEN];
	PGresult	*res;
	long long	 mark;

	/* Its own statement, so its own transaction: the fold's SHARE lock
	 * on qsched.runs must not join a transaction that wrote runs. */
	res = db_query(book, "SELECT qsched.job_totals_fold()", 0, NULL, e,
	    sizeof e);
	if (res == NULL) {
		snprintf(err, errlen, "folding the per-job totals: %s", e);
		return (-1);
	}
	mark = atoll(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (mark);
}
