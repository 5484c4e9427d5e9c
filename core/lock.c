/*
 * lock.c - qsched's PostgreSQL advisory locks, in one place.
 *
 * Every lock qsched or a plugin takes is a session or transaction
 * advisory lock on one 64-bit key, pg_advisory_lock(bigint), derived from
 * a lock class and a name.  The classes:
 *
 *	"job"		a job's lock (the job's lock = name, default the job
 *			name), held by its worker while it runs
 *	"qsched"	the core's own: "schema" serialises schema upgrades,
 *			"job_totals_fold" the fold of the per-job totals
 *			(taken in SQL, through qsched.lock_key(), core
 *			schema 5)
 *	<plugin name>	a plugin's own locks (legacy_backfill, ...), through
 *			host->lock_key()
 *
 * Keys are FNV-1a 64 of "class/name": stable across hosts, versions and
 * PostgreSQL releases (unlike hashtext()), and 64 bits, so two names of a
 * class collide with probability about n^2 / 2^65.  pg_locks shows a key
 * as classid (high half), objid (low half), objsubid 1; the view
 * qsched.job_locks puts the halves back together and names the run.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t
lock_fnv(uint64_t h, const char *s)
{
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 1099511628211ULL;
	}
	return (h);
}

int64_t
lock_key(const char *lock_class, const char *name)
{
	uint64_t	 h = 14695981039346656037ULL;

	h = lock_fnv(h, lock_class != NULL ? lock_class : "");
	h = lock_fnv(h, "/");
	h = lock_fnv(h, name != NULL ? name : "");
	return ((int64_t)h);
}

int64_t
lock_job_key(const struct job *job)
{
	return (lock_key(LOCK_CLASS_JOB, job->lock));
}

/*
 * One round trip when overlap = skip: name the connection, set the job's
 * timeouts, try the lock.  client_connection_check_interval makes the
 * server notice a dead worker during a long query and release its lock at
 * once.  overlap = wait takes the lock before the timeouts are set, which
 * would otherwise end the wait.
 */
int
lock_take_job(PGconn *conn, const struct job *job, const char *app,
    PGresult **failed)
{
	char		 key[32], st[24], lt[24];
	const char	*params[4] = { app, st, lt, key };
	PGresult	*res;
	bool		 wait = (job->overlap == OVERLAP_WAIT);
	int		 got = 1;

	snprintf(key, sizeof key, "%lld", (long long)lock_job_key(job));
	snprintf(st, sizeof st, "%lld", (long long)job->statement_timeout_ms);
	snprintf(lt, sizeof lt, "%lld", (long long)job->lock_timeout_ms);
	if (wait) {
		params[1] = key;
		res = PQexecParams(conn, "SELECT set_config("
		    "'application_name', $1, false), set_config("
		    "'client_connection_check_interval', '1000', false), "
		    "pg_advisory_lock($2::bigint)", 2, NULL, params, NULL,
		    NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			*failed = res;
			return (-1);
		}
		PQclear(res);
		params[1] = st;
		res = PQexecParams(conn, "SELECT set_config("
		    "'statement_timeout', $1, false), set_config("
		    "'lock_timeout', $2, false)", 2, NULL, params + 1, NULL,
		    NULL, 0);
	} else
		res = PQexecParams(conn, "SELECT set_config("
		    "'application_name', $1, false), set_config("
		    "'statement_timeout', $2, false), set_config("
		    "'lock_timeout', $3, false), set_config("
		    "'client_connection_check_interval', '1000', false), "
		    "pg_try_advisory_lock($4::bigint)", 4, NULL, params, NULL,
		    NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		/* After a wait the lock is held: the worker's exit ends it. */
		*failed = res;
		return (-1);
	}
	if (!wait)
		got = (*PQgetvalue(res, 0, 4) == 't') ? 1 : 0;
	PQclear(res);
	return (got);
}

void
lock_release(PGconn *conn, int64_t key)
{
	char		 k[32];
	const char	*params[1] = { k };

	snprintf(k, sizeof k, "%lld", (long long)key);
	PQclear(PQexecParams(conn, "SELECT pg_advisory_unlock($1::bigint)", 1,
	    NULL, params, NULL, NULL, 0));
}

int
lock_holder(PGconn *conn, const char *name, char *buf, size_t len)
{
	char		 key[32], e[QSCHED_ERRLEN];
	const char	*params[1] = { key };
	PGresult	*res;

	snprintf(key, sizeof key, "%lld", (long long)lock_key(LOCK_CLASS_JOB,
	    name));
	res = db_query(conn, "SELECT backend_pid, application_name, run_id, "
	    "job, host, qsched_pid FROM qsched.job_locks "
	    "WHERE lock_key = $1::bigint AND granted LIMIT 1", 1, params, e,
	    sizeof e);
	if (res == NULL) {
		snprintf(buf, len, "lock \"%s\" is held (holder unknown: %s)",
		    name, e);
		return (-1);
	}
	if (PQntuples(res) == 0)
		snprintf(buf, len, "lock \"%s\" is held (holder gone since)",
		    name);
	else if (!PQgetisnull(res, 0, 2))
		snprintf(buf, len, "lock \"%s\" is held by run %s of job \"%s\" "
		    "on host %s (pid %s)", name, PQgetvalue(res, 0, 2),
		    PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4),
		    PQgetvalue(res, 0, 5));
	else
		snprintf(buf, len, "lock \"%s\" is held by backend %s "
		    "(application \"%s\")", name, PQgetvalue(res, 0, 0),
		    PQgetvalue(res, 0, 1));
	PQclear(res);
	return (0);
}

/* application_name holds 63 bytes: shorten the job name, keep the id. */
void
lock_appname(const char *job, int64_t run_id, int n, char *app, size_t len)
{
	char	 tail[48];
	int	 room;

	if (n > 0)
		snprintf(tail, sizeof tail, "/%lld/%d", (long long)run_id, n);
	else
		snprintf(tail, sizeof tail, "/%lld", (long long)run_id);
	room = 63 - (int)strlen("qsched/") - (int)strlen(tail);
	snprintf(app, len, "qsched/%.*s%s", room, job, tail);
}
