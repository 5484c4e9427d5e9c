/*
 * apply.c - apply one migration file.
 *
 * DDL runs under a short lock_timeout: when it cannot get its lock in time
 * (SQLSTATE 55P03) it gives up, so the application's queries queued behind
 * it are released, and tries again later, a bounded number of times.
 *
 * A transactional file runs whole in one transaction together with its
 * ledger rows.  A no-transaction file runs statement by statement in
 * autocommit; its statements must be safe to run again.  A concurrent
 * index build that fails, or that a killed migrator left half done, leaves
 * an INVALID index behind: those named by the file are dropped before the
 * file runs and after a statement fails, so none survives.
 */
#include <config.h>

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "migrate.h"

/* Backoff before lock retry N (1..): 100 ms doubling, at most 5 s. */
static void
apply_backoff(int n)
{
	int64_t		 ms = 100;
	struct timespec	 ts;

	while (--n > 0 && ms < 5000)
		ms *= 2;
	if (ms > 5000)
		ms = 5000;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	nanosleep(&ts, NULL);
}

/* The line of byte OFFSET in TEXT, 1-based. */
static int
apply_line(const char *text, size_t offset)
{
	int	 line = 1;

	for (size_t i = 0; i < offset && text[i] != '\0'; i++)
		if (text[i] == '\n')
			line++;
	return (line);
}

/* Record a failure of M at byte BASE of its file (plus the error's own
 * position within the statement when the server gives one). */
static void
apply_fail(const struct qsched_host *host, struct qsched_run *run,
    const struct migration *m, const PGresult *res, size_t base)
{
	const char	*pos = res == NULL ? NULL :
	    PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
	size_t		 off = base;

	if (pos != NULL && atoi(pos) > 0)
		off += (size_t)atoi(pos) - 1;
	host->fail(run, res, "%s:%d", m->file, apply_line(m->sql, off));
}

/* The next blank-separated word of [*P, END), as a C string in BUF
 * (lower-cased when FOLD); "" at the end. */
static const char *
apply_word(const char **p, const char *end, char *buf, size_t len, bool fold)
{
	size_t	 n = 0;

	while (*p < end && isspace((unsigned char)**p))
		(*p)++;
	for (; *p < end && !isspace((unsigned char)**p); (*p)++)
		if (n < len - 1)
			buf[n++] = fold ? (char)tolower((unsigned char)**p) :
			    **p;
	buf[n] = '\0';
	return (buf);
}

/*
 * The index a statement creates concurrently: "CREATE [UNIQUE] INDEX
 * CONCURRENTLY [IF NOT EXISTS] name", the name as written; NULL otherwise.
 */
static char *
apply_cic_name(const char *stmt, size_t len)
{
	const char	*p = stmt, *end = stmt + len;
	char		 w[256];

	if (strcmp(apply_word(&p, end, w, sizeof w, true), "create") != 0)
		return (NULL);
	if (strcmp(apply_word(&p, end, w, sizeof w, true), "unique") == 0)
		apply_word(&p, end, w, sizeof w, true);
	if (strcmp(w, "index") != 0 ||
	    strcmp(apply_word(&p, end, w, sizeof w, true), "concurrently") != 0)
		return (NULL);
	if (strcmp(apply_word(&p, end, w, sizeof w, true), "if") == 0) {
		if (strcmp(apply_word(&p, end, w, sizeof w, true), "not") != 0 ||
		    strcmp(apply_word(&p, end, w, sizeof w, true), "exists") != 0)
			return (NULL);
		apply_word(&p, end, w, sizeof w, true);
	}
	if (*w == '\0' || strcmp(w, "on") == 0)
		return (NULL);		/* unnamed: nothing to look for */
	/* The name as written: quoted names keep their case. */
	p -= strlen(w);
	apply_word(&p, end, w, sizeof w, false);
	return (strdup(w));
}

/* Drop the index NAME if it exists and is INVALID; 0, or -1 (failed). */
static int
apply_drop_invalid(const struct qsched_host *host, struct qsched_run *run,
    const char *name)
{
	const char	*params[1] = { name };
	PGresult	*res;
	char		*sql;
	bool		 invalid;

	res = PQexecParams(host->conn(run), "SELECT EXISTS (SELECT 1 FROM "
	    "pg_index WHERE indexrelid = to_regclass($1) AND NOT indisvalid)",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		host->fail(run, res, "checking index %s", name);
		PQclear(res);
		return (-1);
	}
	invalid = *PQgetvalue(res, 0, 0) == 't';
	PQclear(res);
	if (!invalid)
		return (0);
	host->log(run, QSCHED_LOG_WARNING, "index %s is INVALID (a concurrent "
	    "build failed or was interrupted): dropping it", name);
	if (asprintf(&sql, "DROP INDEX CONCURRENTLY IF EXISTS %s", name) == -1)
		return (-1);
	res = PQexec(host->conn(run), sql);
	free(sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		host->fail(run, res, "dropping INVALID index %s", name);
		PQclear(res);
		return (-1);
	}
	PQclear(res);
	host->counter(run, "invalid_indexes_dropped", 1);
	return (0);
}

/* Drop every INVALID index the statements of M create concurrently. */
static int
apply_repair(const struct qsched_host *host, struct qsched_run *run,
    const struct migration *m)
{
	size_t	 pos = 0, start, len;
	char	*name;
	int	 rc = 0;

	while (rc == 0 && split_next(m->sql, &pos, &start, &len)) {
		if ((name = apply_cic_name(m->sql + start, len)) == NULL)
			continue;
		rc = apply_drop_invalid(host, run, name);
		free(name);
	}
	return (rc);
}

static bool
apply_command(const struct qsched_host *host, struct qsched_run *run,
    const char *sql)
{
	PGresult	*res = PQexec(host->conn(run), sql);
	bool		 ok = PQresultStatus(res) == PGRES_COMMAND_OK ||
	    PQresultStatus(res) == PGRES_TUPLES_OK;

	if (!ok)
		host->fail(run, res, "%s", sql);
	PQclear(res);
	return (ok);
}

/* 1 applied, 0 lock timeout (retry), -1 failed. */
static int
apply_transaction(const struct qsched_host *host, struct qsched_run *run,
    const struct migration *m, const struct apply_opts *o, int64_t t0)
{
	char		 lt[64];
	PGresult	*res;
	const char	*state;

	snprintf(lt, sizeof lt, "SET LOCAL lock_timeout = %lld",
	    (long long)o->lock_timeout_ms);
	if (!apply_command(host, run, "BEGIN") ||
	    !apply_command(host, run, lt))
		goto fail;
	res = PQexec(host->conn(run), m->sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK &&
	    PQresultStatus(res) != PGRES_EMPTY_QUERY) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && strcmp(state, "55P03") == 0) {
			PQclear(res);
			PQclear(PQexec(host->conn(run), "ROLLBACK"));
			return (0);
		}
		apply_fail(host, run, m, res, 0);
		PQclear(res);
		goto fail;
	}
	PQclear(res);
	if (ledger_record(host, run, m, host->mono_us() / 1000 - t0) == -1 ||
	    (o->prisma && prisma_record(host, run, m) == -1) ||
	    !apply_command(host, run, "COMMIT"))
		goto fail;
	return (1);
fail:
	PQclear(PQexec(host->conn(run), "ROLLBACK"));
	return (-1);
}

/* One statement of a no-transaction file; 1 done, 0 lock timeout, -1. */
static int
apply_statement(const struct qsched_host *host, struct qsched_run *run,
    const struct migration *m, size_t start, size_t len)
{
	char		*stmt = strndup(m->sql + start, len), *name;
	PGresult	*res;
	const char	*state;
	int		 rc = 1;

	if (stmt == NULL)
		return (-1);
	res = PQexec(host->conn(run), stmt);
	if (PQresultStatus(res) != PGRES_COMMAND_OK &&
	    PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		rc = state != NULL && strcmp(state, "55P03") == 0 ? 0 : -1;
		if (rc == -1)
			apply_fail(host, run, m, res, start);
		/* A failed concurrent build leaves its index INVALID. */
		if ((name = apply_cic_name(stmt, len)) != NULL) {
			PQclear(res);
			res = NULL;
			if (apply_drop_invalid(host, run, name) == -1)
				rc = -1;
			free(name);
		}
	}
	PQclear(res);
	free(stmt);
	return (rc);
}

static int
apply_autocommit(const struct qsched_host *host, struct qsched_run *run,
    const struct migration *m, const struct apply_opts *o, int64_t t0)
{
	char		 lt[64], restore[96];
	size_t		 pos = 0, start, len;
	int		 rc, tries;
	PGresult	*res;

	if (apply_repair(host, run, m) == -1)
		return (-1);
	/* The job's own lock_timeout comes back afterwards. */
	res = PQexec(host->conn(run), "SHOW lock_timeout");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		host->fail(run, res, "SHOW lock_timeout");
		PQclear(res);
		return (-1);
	}
	snprintf(restore, sizeof restore, "SET lock_timeout = '%s'",
	    PQgetvalue(res, 0, 0));
	PQclear(res);
	snprintf(lt, sizeof lt, "SET lock_timeout = %lld",
	    (long long)o->lock_timeout_ms);
	if (!apply_command(host, run, lt))
		return (-1);
	while (split_next(m->sql, &pos, &start, &len)) {
		for (tries = 1;; tries++) {
			if (host->cancelled(run)) {
				host->message(run, "%s: cancelled", m->file);
				return (-1);
			}
			if ((rc = apply_statement(host, run, m, start, len)) !=
			    0)
				break;
			if (tries > o->lock_retries) {
				host->message(run, "%s:%d: lock not granted "
				    "within lock_timeout after %d tries",
				    m->file, apply_line(m->sql, start), tries);
				return (-1);
			}
			host->log(run, QSCHED_LOG_NOTICE, "%s:%d: lock not "
			    "granted within %lld ms, retrying (%d of %lld)",
			    m->file, apply_line(m->sql, start),
			    (long long)o->lock_timeout_ms, tries,
			    (long long)o->lock_retries);
			apply_backoff(tries);
		}
		if (rc == -1)
			return (-1);
	}
	if (!apply_command(host, run, restore))
		return (-1);
	/* Both ledgers at once: a claim in Prisma's is never left behind
	 * for a migration qsched's own ledger records as applied. */
	if (!apply_command(host, run, "BEGIN"))
		return (-1);
	if (ledger_record(host, run, m, host->mono_us() / 1000 - t0) == -1 ||
	    (o->prisma && prisma_record(host, run, m) == -1) ||
	    !apply_command(host, run, "COMMIT")) {
		PQclear(PQexec(host->conn(run), "ROLLBACK"));
		return (-1);
	}
	return (0);
}

int
apply_one(const struct qsched_host *host, struct qsched_run *run,
    const struct migration *m, const struct apply_opts *o)
{
	int64_t	 t0 = host->mono_us() / 1000;
	int	 rc;

	host->log(run, QSCHED_LOG_INFO, "applying %s (%s)", m->file,
	    m->no_transaction ? "no transaction" : "one transaction");
	if (m->no_transaction)
		return (apply_autocommit(host, run, m, o, t0));
	for (int tries = 1;; tries++) {
		if ((rc = apply_transaction(host, run, m, o, t0)) != 0)
			return (rc == 1 ? 0 : -1);
		if (tries > o->lock_retries) {
			host->message(run, "%s: lock not granted within "
			    "lock_timeout after %d tries", m->file, tries);
			return (-1);
		}
		if (host->cancelled(run)) {
			host->message(run, "%s: cancelled", m->file);
			return (-1);
		}
		host->log(run, QSCHED_LOG_NOTICE, "%s: lock not granted within "
		    "%lld ms, retrying (%d of %lld)", m->file,
		    (long long)o->lock_timeout_ms, tries,
		    (long long)o->lock_retries);
		apply_backoff(tries);
	}
}
