/*
 * lock.c - job locks are PostgreSQL session advisory locks with the two-key
 * form (LOCK_CLASS, lock_key(name)), so they show in pg_locks as classid
 * 29043 and objsubid 2, and die with the worker's connection.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* FNV-1a: stable across hosts, versions and PostgreSQL releases, unlike
 * hashtext().  0 is kept for the schema lock. */
int32_t
lock_key(const char *name)
{
	uint32_t	 h = 2166136261u;

	for (const unsigned char *p = (const unsigned char *)name; *p; p++) {
		h ^= *p;
		h *= 16777619u;
	}
	if (h == 0)
		h = 1;
	return ((int32_t)h);
}

int
lock_holder(PGconn *conn, const char *name, char *buf, size_t len)
{
	char		 key[16], e[QSCHED_ERRLEN];
	const char	*params[1] = { key };
	PGresult	*res;

	snprintf(key, sizeof key, "%d", lock_key(name));
	/*
	 * Workers name their connection qsched/<job>/<run id>; the run row
	 * then says which host and process own it.
	 */
	res = db_query(conn,
	    "SELECT a.pid, a.application_name, r.id, r.job, r.host, r.pid "
	    "FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid "
	    "LEFT JOIN qsched.runs r ON a.application_name LIKE 'qsched/%' "
	    " AND r.id::text = split_part(a.application_name, '/', 3) "
	    "WHERE l.locktype = 'advisory' AND l.granted "
	    " AND l.classid = 29043 AND l.objid = ($1::int4)::oid "
	    " AND l.objsubid = 2 LIMIT 1", 1, params, e, sizeof e);
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
