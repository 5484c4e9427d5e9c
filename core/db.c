/*
 * db.c - libpq helpers shared by the parent and the worker.
 */
#include "qsched.h"

#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/*
 * TCP keepalives on both ends, so a vanished peer is noticed within
 * DB_KEEPALIVE_BOUND_S: libpq's for the client side (a dead server), the
 * server's tcp_keepalives_* and tcp_user_timeout (set per session through
 * the startup options) for the backend side, so a dead host's backend, and
 * the advisory lock it holds, goes away.  Both are ignored on Unix sockets.
 */
#define DB_KEEPALIVE_IDLE	"30"
#define DB_KEEPALIVE_INTERVAL	"10"
#define DB_KEEPALIVE_COUNT	"3"
#define DB_USER_TIMEOUT_MS	"60000"
#define DB_SERVER_KEEPALIVES						\
	"-c tcp_keepalives_idle=" DB_KEEPALIVE_IDLE			\
	" -c tcp_keepalives_interval=" DB_KEEPALIVE_INTERVAL		\
	" -c tcp_keepalives_count=" DB_KEEPALIVE_COUNT			\
	" -c tcp_user_timeout=" DB_USER_TIMEOUT_MS

/*
 * The parent's bookkeeping must not hang with the server (a frozen host,
 * a SIGSTOPped postmaster): its queries wait at most db_query_timeout_ms
 * for an answer.  Then the connection is shut down, so libpq and the
 * caller see it lost (PQstatus() CONNECTION_BAD) and the outage path
 * takes over.  0: no limit (the worker, whose plugins bound their own).
 */
static int64_t	db_query_timeout_ms;
static const char *db_connect_timeout_s = "10";

void
db_set_limits(int64_t query_timeout_ms, const char *connect_timeout_s)
{
	db_query_timeout_ms = query_timeout_ms;
	db_connect_timeout_s = connect_timeout_s;
}

/* The options the conninfo (or PGOPTIONS) gives, which ours must extend,
 * not replace: malloc()ed, "" when none. */
static char *
db_user_options(const char *conninfo)
{
	PQconninfoOption *opts, *o;
	const char	*env;
	char		*out = NULL;

	if (conninfo != NULL && *conninfo != '\0' &&
	    (opts = PQconninfoParse(conninfo, NULL)) != NULL) {
		for (o = opts; o->keyword != NULL; o++)
			if (strcmp(o->keyword, "options") == 0 &&
			    o->val != NULL)
				out = xstrdup(o->val);
		PQconninfoFree(opts);
	}
	if (out == NULL && (env = getenv("PGOPTIONS")) != NULL)
		out = xstrdup(env);
	return (out != NULL ? out : xstrdup(""));
}

PGconn *
db_connect(const char *conninfo, const char *appname, const char *options,
    char *err, size_t errlen)
{
	/*
	 * Keywords later in the array win: the conninfo may override our
	 * connect_timeout and keepalives, but application_name is always
	 * ours, because qsched status and the job lock view find workers by
	 * it, and options extend the conninfo's.
	 */
	const char	*keys[] = { "connect_timeout", "keepalives",
	    "keepalives_idle", "keepalives_interval", "keepalives_count",
	    "tcp_user_timeout", "dbname", "application_name", "options",
	    NULL };
	const char	*vals[10] = { db_connect_timeout_s, "1", DB_KEEPALIVE_IDLE,
	    DB_KEEPALIVE_INTERVAL, DB_KEEPALIVE_COUNT, DB_USER_TIMEOUT_MS,
	    conninfo, appname, NULL, NULL };
	PGconn		*conn;
	char		*user, *all;

	user = db_user_options(conninfo);
	xasprintf(&all, "%s%s" DB_SERVER_KEEPALIVES "%s%s", user,
	    *user ? " " : "", options != NULL && *options ? " " : "",
	    options != NULL ? options : "");
	free(user);
	vals[8] = all;
	conn = PQconnectdbParams(keys, vals, 1);
	free(all);
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

char *
db_target(const char *conninfo, char *buf, size_t len)
{
	static const char *const shown[] = { "host", "hostaddr", "port",
	    "dbname", "user", NULL };
	PQconninfoOption *opts, *o;
	size_t		 n = 0;

	if (conninfo == NULL || *conninfo == '\0') {
		snprintf(buf, len, "PG* environment");
		return (buf);
	}
	/* Never the conninfo itself: it may hold a password. */
	if ((opts = PQconninfoParse(conninfo, NULL)) == NULL) {
		snprintf(buf, len, "unparsable conninfo");
		return (buf);
	}
	buf[0] = '\0';
	for (const char *const *k = shown; *k != NULL; k++)
		for (o = opts; o->keyword != NULL; o++) {
			if (strcmp(o->keyword, *k) != 0 || o->val == NULL ||
			    *o->val == '\0')
				continue;
			if (n < len)
				n += (size_t)snprintf(buf + n, len - n,
				    "%s%s=%s", n ? " " : "", *k, o->val);
		}
	PQconninfoFree(opts);
	if (buf[0] == '\0')
		snprintf(buf, len, "defaults");
	return (buf);
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

static PGresult *
db_wait(PGconn *conn, char *err, size_t errlen)
{
	struct pollfd	 pfd;
	PGresult	*res, *last = NULL;
	int64_t		 until = clock_mono_ms() + db_query_timeout_ms, left;

	while (PQisBusy(conn)) {
		left = until - clock_mono_ms();
		pfd.fd = PQsocket(conn);
		pfd.events = POLLIN;
		if (left <= 0 || (poll(&pfd, 1, (int)left) == 0 &&
		    clock_mono_ms() >= until)) {
			/* No answer: treat the connection as lost. */
			(void)shutdown(PQsocket(conn), SHUT_RDWR);
			(void)PQconsumeInput(conn);
			snprintf(err, errlen, "08006: no answer from the server "
			    "within %lld ms", (long long)db_query_timeout_ms);
			while ((res = PQgetResult(conn)) != NULL)
				PQclear(res);
			return (NULL);
		}
		if (PQconsumeInput(conn) == 0)
			break;
	}
	while ((res = PQgetResult(conn)) != NULL) {
		PQclear(last);
		last = res;
	}
	if (last == NULL)
		db_error(NULL, conn, err, errlen);
	return (last);
}

PGresult *
db_query(PGconn *conn, const char *sql, int nparams,
    const char *const *params, char *err, size_t errlen)
{
	PGresult	*res;

	if (db_query_timeout_ms <= 0)
		res = PQexecParams(conn, sql, nparams, NULL, params, NULL,
		    NULL, 0);
	else if (!PQsendQueryParams(conn, sql, nparams, NULL, params, NULL,
	    NULL, 0)) {
		db_error(NULL, conn, err, errlen);
		return (NULL);
	} else if ((res = db_wait(conn, err, errlen)) == NULL)
		return (NULL);
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

	/* Simple protocol, not PQexecParams: SQL may hold several
	 * statements. */
	if (db_query_timeout_ms <= 0)
		res = PQexec(conn, sql);
	else if (!PQsendQuery(conn, sql)) {
		db_error(NULL, conn, err, errlen);
		return (-1);
	} else if ((res = db_wait(conn, err, errlen)) == NULL)
		return (-1);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		db_error(res, conn, err, errlen);
		rc = -1;
	}
	PQclear(res);
	return (rc);
}
