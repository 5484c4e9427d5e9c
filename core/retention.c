/*
 * retention.c - old history goes in small batches: each batch is one short
 * statement in its own transaction, so deleting a large backlog never
 * holds many row locks, never bloats one transaction, and lets the daemon
 * dispatch fires between batches.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>

int
retention_step(PGconn *book, int64_t retention_ms, char *err, size_t errlen)
{
	char		 ms[32], batch[16], e[QSCHED_ERRLEN];
	const char	*params[2] = { ms, batch };
	PGresult	*res;
	int		 n;

	snprintf(ms, sizeof ms, "%lld", (long long)retention_ms);
	snprintf(batch, sizeof batch, "%d", RETENTION_BATCH);
	/*
	 * Oldest first, by the started_at index; a run still going is never
	 * deleted, however old, nor is one not yet folded into the per-job
	 * totals (so deleted history stays counted).  SKIP LOCKED: several daemons on one database
	 * share the work rather than wait for each other.
	 */
	res = db_query(book, "DELETE FROM qsched.runs WHERE id IN ("
	    "SELECT id FROM qsched.runs WHERE started_at < clock_timestamp() - "
	    "$1::bigint * interval '1 millisecond' AND status <> 'running' "
	    "AND id <= (SELECT folded_through FROM qsched.job_totals_mark) "
	    "ORDER BY started_at LIMIT $2::int FOR UPDATE SKIP LOCKED)",
	    2, params, e, sizeof e);
	if (res == NULL) {
		snprintf(err, errlen, "deleting runs older than "
		    "history_retention: %s", e);
		return (-1);
	}
	n = atoi(PQcmdTuples(res));
	PQclear(res);
	return (n);
}
