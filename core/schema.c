/*
 * schema.c - qsched creates and upgrades its own schema, "qsched", from the
 * versioned files of sql/core (built into the binary by embed-sql.sh).
 *
 * The common case, an up-to-date schema, costs one query and takes no lock.
 * Otherwise one transaction takes an advisory lock, re-reads the version
 * and applies the missing files, so two processes starting at once on a
 * new database serialise instead of racing on CREATE.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>


static int
schema_latest(void)
{
	int	 v = 0;

	for (size_t i = 0; i < schema_nfiles; i++)
		if (schema_files[i].version > v)
			v = schema_files[i].version;
	return (v);
}

/*
 * The applied version: 0 when there is no schema yet, -1 on error.  One
 * query in the common case; a database without the schema answers with an
 * error, which only a first start sees.
 */
static int
schema_current(PGconn *conn, char *err, size_t errlen)
{
	PGresult	*res;
	const char	*state;
	int		 v;

	res = PQexec(conn, "SELECT coalesce(max(version), 0) FROM "
	    "qsched.core_schema");
	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		v = atoi(PQgetvalue(res, 0, 0));
		PQclear(res);
		return (v);
	}
	state = db_sqlstate(res, conn);
	if (strcmp(state, "42P01") == 0 || strcmp(state, "3F000") == 0) {
		PQclear(res);
		return (0);
	}
	db_error(res, conn, err, errlen);
	PQclear(res);
	return (-1);
}

static int
schema_upgrade(PGconn *conn, char *err, size_t errlen)
{
	char		 e[QSCHED_ERRLEN], vbuf[16], *begin;
	const char	*params[3];
	PGresult	*res;
	int		 current, rc;

	xasprintf(&begin, "BEGIN; SET LOCAL client_min_messages = warning; "
	    "SELECT pg_advisory_xact_lock(%lld); "
	    "CREATE SCHEMA IF NOT EXISTS qsched; "
	    "CREATE TABLE IF NOT EXISTS qsched.core_schema ("
	    "version integer PRIMARY KEY, name text NOT NULL, "
	    "applied_at timestamptz NOT NULL DEFAULT now(), "
	    "qsched_version text NOT NULL)", (long long)lock_key(
	    LOCK_CLASS_CORE, "schema"));
	rc = db_exec(conn, begin, e, sizeof e);
	free(begin);
	if (rc == -1)
		goto fail;
	if ((current = schema_current(conn, e, sizeof e)) == -1)
		goto fail;
	for (size_t i = 0; i < schema_nfiles; i++) {
		const struct schema_file *f = &schema_files[i];

		if (f->version <= current)
			continue;
		if (db_exec(conn, f->sql, e, sizeof e) == -1) {
			char	 e2[QSCHED_ERRLEN];

			snprintf(e2, sizeof e2, "%s: %s", f->name, e);
			snprintf(e, sizeof e, "%s", e2);
			goto fail;
		}
		snprintf(vbuf, sizeof vbuf, "%d", f->version);
		params[0] = vbuf;
		params[1] = f->name;
		params[2] = PACKAGE_VERSION;
		res = db_query(conn, "INSERT INTO qsched.core_schema "
		    "(version, name, qsched_version) VALUES ($1, $2, $3)",
		    3, params, e, sizeof e);
		if (res == NULL)
			goto fail;
		PQclear(res);
		log_info("qsched schema: applied %s", f->name);
	}
	if (db_exec(conn, "COMMIT", e, sizeof e) == -1)
		goto fail;
	return (0);
fail:
	snprintf(err, errlen, "creating the qsched schema: %s", e);
	(void)db_exec(conn, "ROLLBACK", e, sizeof e);
	return (-1);
}

int
schema_version(PGconn *conn, char *err, size_t errlen)
{
	char	 e[QSCHED_ERRLEN];
	int	 v;

	if ((v = schema_current(conn, e, sizeof e)) == -1)
		snprintf(err, errlen, "reading the qsched schema version: %s",
		    e);
	return (v);
}

int
schema_ensure(PGconn *conn, char *err, size_t errlen)
{
	char	 e[QSCHED_ERRLEN];
	int	 current, latest = schema_latest();

	if ((current = schema_current(conn, e, sizeof e)) == -1) {
		snprintf(err, errlen, "reading the qsched schema version: %s",
		    e);
		return (-1);
	}
	if (current > latest)
		log_warn("the qsched schema is at version %d, newer than this "
		    "qsched knows (%d): upgrade qsched on this host", current,
		    latest);
	if (current >= latest)
		return (0);
	return (schema_upgrade(conn, err, errlen));
}
