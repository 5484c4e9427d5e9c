/*
 * db.c - libpq helpers shared by the parent and the worker.
 */
#include "qsched.h"

#include <stdio.h>
#include <string.h>

PGconn *
db_connect(const char *conninfo, const char *appname, char *err,
    size_t errlen)
{
	/*
	 * Keywords later in the array win: the conninfo may override our
	 * connect_timeout, but application_name is always ours, because
	 * qsched status and lock_holder() find workers by it.
	 */
	const char	*keys[] = { "connect_timeout", "dbname",
	    "application_name", NULL };
	const char	*vals[] = { "10", conninfo, appname, NULL };
	PGconn		*conn;

	conn = PQconnectdbParams(keys, vals, 1);
	if (conn == NULL) {
		snprintf(err, errlen, "out of memory connecting");
		return (NULL);
	}
	if (PQstatus(conn) != CONNECTION_OK) {
		db_error(NULL, conn, err, errlen);
		PQfinish(conn);
		return (NULL);
	}
	return (conn);
}

const char *
db_sqlstate(const PGresult *res, const PGconn *conn)
{
	const char	*s = NULL;

	if (res != NULL)
		s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (s != NULL && *s != '\0')
		return (s);
	if (conn == NULL || PQstatus(conn) != CONNECTION_OK)
		return ("08006");
	return ("");
}

bool
db_transient(const char *s)
{
	if (s == NULL || strlen(s) != 5)
		return (false);
	if (strncmp(s, "08", 2) == 0)
		return (true);
	return (strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0 ||
	    strcmp(s, "55P03") == 0 || strcmp(s, "57P01") == 0 ||
	    strcmp(s, "57P02") == 0 || strcmp(s, "57P03") == 0 ||
	    strcmp(s, "53300") == 0);
}

char *
db_error(const PGresult *res, const PGconn *conn, char *buf, size_t len)
{
	const char	*msg = NULL, *state;
	size_t		 n;

	if (res != NULL)
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (msg == NULL && conn != NULL)
		msg = PQerrorMessage(conn);
	if (msg == NULL || *msg == '\0')
		msg = "unknown error";
	state = db_sqlstate(res, conn);
	if (*state != '\0')
		snprintf(buf, len, "%s: %s", state, msg);
	else
		snprintf(buf, len, "%s", msg);
	/* libpq messages end in newlines and may span lines. */
	for (n = 0; buf[n] != '\0'; n++)
		if (buf[n] == '\n' || buf[n] == '\t')
			buf[n] = ' ';
	while (n > 0 && buf[n - 1] == ' ')
		buf[--n] = '\0';
	return (buf);
}

PGresult *
db_query(PGconn *conn, const char *sql, int nparams,
    const char *const *params, char *err, size_t errlen)
{
	PGresult	*res;

	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		return (res);
	default:
		db_error(res, conn, err, errlen);
		PQclear(res);
		return (NULL);
	}
}

int
db_exec(PGconn *conn, const char *sql, char *err, size_t errlen)
{
	PGresult	*res;
	int		 rc = 0;

	/* PQexec, not PQexecParams: SQL may hold several statements. */
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(res, conn, err, errlen);
		rc = -1;
	}
	PQclear(res);
	return (rc);
}
