/*
 * query.c - SQL text shared by the plan, the batches and the proof, so
 * the mapping of a legacy row is written once: what a batch inserts is
 * exactly what the proof expects to find.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"

#define QUERY_COMMON_COLUMNS						\
	"id, user_id, claim_id, priority_score, queue_position, status, "	\
	"queue_reason, available_from, assigned_to_agent, assigned_at, "	\
	"callback_id, created_at, updated_at"

static const char query_columns_u[] = QUERY_COMMON_COLUMNS
    ", signature_missing_since, signature_type";
static const char query_columns_o[] = QUERY_COMMON_COLUMNS
    ", requirement_types, total_requirements, pending_requirements, "
    "completed_requirements, oldest_requirement_date";

const char *
query_table(const char *type)
{
	return (strcmp(type, "unsigned_users") == 0 ?
	    "unsigned_users_queue" : "outstanding_requests_queue");
}

const char *
query_columns(const char *type)
{
	return (strcmp(type, "unsigned_users") == 0 ? query_columns_u :
	    query_columns_o);
}

void
query_prefixed(FILE *f, const char *alias, const char *list)
{
	const char	*p = list, *comma;

	for (;;) {
		while (*p == ' ')
			p++;
		comma = strchr(p, ',');
		fprintf(f, "%s.%.*s", alias, comma == NULL ? (int)strlen(p) :
		    (int)(comma - p), p);
		if (comma == NULL)
			break;
		fputs(", ", f);
		p = comma + 1;
	}
}

/*
 * The 64-bit transaction id (xid8) that wrote row version ALIAS.
 *
 * A row's xmin is a 32-bit xid that wraps around; the snapshot functions
 * speak xid8, which does not.  Every xid a visible, unfrozen row can
 * carry lies within 2^31 before the statement's snapshot xmax, so the
 * row's xid8 is the latest value at or below xmax with the same low 32
 * bits.  pg_current_snapshot() is the statement's own snapshot, so no
 * row the statement sees is newer than its xmax (the subquery runs once
 * per statement).  A frozen row whose raw xmin happens to fall in the
 * last few transactions (2^32 of them after it was written), or a
 * permanent xid at the start of an epoch, would look recent: it would
 * only be examined again, which changes nothing.
 *
 */
void
query_xid8(FILE *f, const char *alias)
{
	static const char cur[] =
	    "(SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint)";

	fprintf(f, "(%s - ((%s - %s.xmin::text::bigint) %% 4294967296 + "
	    "4294967296) %% 4294967296)", cur, cur, alias);
}

/*
 * Plain comparisons, and an absent lower bound left out: the planner
 * estimates each at a third of the rows, so it keeps walking the primary
 * key in order for a batch, stopping after it, and hashes the joins of a
 * full scan.  A rarer-looking test (a range, say) would make it sort the
 * whole rest of the table for every batch, and probe row by row in the
 * proof.
 */
void
query_scope(FILE *f, const char *alias, int h, int p)
{
	fputs(" AND ", f);
	query_xid8(f, alias);
	fprintf(f, " < $%d::bigint", h);
	if (p > 0) {
		fputs(" AND ", f);
		query_xid8(f, alias);
		fprintf(f, " >= $%d::bigint", p);
	}
}

/*
 * The mapping (qsched-plugins(7), legacy_backfill): the legacy id stays
 * the id, so call_sessions.call_queue_id still joins; statuses map
 * pending, assigned, completed as they are and invalid to inactive
 * (anything else is NULL: a conflict); a NULL available_from becomes
 * created_at and a NULL queue_position the one planned for the row.  Both
 * queue types' extra columns are produced; each table takes its own.
 */
void
query_mapped(FILE *f)
{
	fputs("c.id, c.queue_type, c.status AS legacy_status, c.user_id, "
	    "c.claim_id, c.priority_score, "
	    "coalesce(c.queue_position, p.queue_position) AS queue_position, "
	    "CASE c.status WHEN 'pending' THEN 'pending' "
	    "WHEN 'assigned' THEN 'assigned' "
	    "WHEN 'completed' THEN 'completed' "
	    "WHEN 'invalid' THEN 'inactive' END AS status, "
	    "c.queue_reason, "
	    "coalesce(c.available_from, c.created_at) AS available_from, "
	    "c.assigned_to_agent_id AS assigned_to_agent, c.assigned_at, "
	    "c.callback_id, c.created_at, c.updated_at, "
	    "u.created_at AS signature_missing_since, "
	    "'initial'::text AS signature_type, "
	    "'[\"document\"]'::jsonb AS requirement_types, "
	    "1 AS total_requirements, 1 AS pending_requirements, "
	    "0 AS completed_requirements, "
	    "u.created_at AS oldest_requirement_date, "
	    "u.user_id IS NOT NULL AS has_user", f);
}

/*
 * A row as a record, the input of the digests and of "has the copy
 * changed": the same columns in the same order and types on both sides,
 * compared and hashed column by column with each type's own functions
 * (no text conversion, which would cost more than the copy).
 */
void
query_row(FILE *f, const char *alias, const char *type)
{
	if (type != NULL) {
		fputs("ROW(", f);
		query_prefixed(f, alias, query_columns(type));
		fputs(")", f);
		return;
	}
	fprintf(f, "CASE %s.queue_type WHEN 'unsigned_users' THEN ", alias);
	query_row(f, alias, "unsigned_users");
	fputs(" ELSE ", f);
	query_row(f, alias, "outstanding_requests");
	fputs(" END", f);
}

/*
 * An order-independent digest: the sum of a 64-bit hash of each row's
 * columns, mod 2^64, so the source and the copies can be summed in any
 * order and in pieces (the checkpoint carries a running one).
 */
void
query_digest(FILE *f, const char *expr, const char *filter)
{
	fprintf(f, "((coalesce(sum(hash_record_extended(%s, 0)::numeric)%s%s%s, "
	    "0) %% 18446744073709551616 + 18446744073709551616) %% "
	    "18446744073709551616)::text", expr,
	    filter != NULL ? " FILTER (WHERE " : "",
	    filter != NULL ? filter : "", filter != NULL ? ")" : "");
}

FILE *
query_open(const struct qsched_host *host, struct qsched_run *run,
    char **bufp, size_t *lenp)
{
	FILE	*f;

	*bufp = NULL;
	if ((f = open_memstream(bufp, lenp)) == NULL)
		host->message(run, "building a query: out of memory");
	return (f);
}

char *
query_finish(const struct qsched_host *host, struct qsched_run *run,
    FILE *f, char **bufp)
{
	bool	 bad = ferror(f) != 0;

	/* The stream's buffer is only final after fclose(). */
	if (fclose(f) != 0 || bad) {
		free(*bufp);
		*bufp = NULL;
		host->message(run, "building a query: out of memory");
		return (NULL);
	}
	return (*bufp);
}

PGresult *
query_exec(const struct qsched_host *host, struct qsched_run *run,
    const char *what, const char *sql, int n, const Oid *types,
    const char *const *params)
{
	PGresult	*res;
	ExecStatusType	 st;

	res = PQexecParams(host->conn(run), sql, n, types, params, NULL, NULL,
	    0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		host->fail(run, res, "%s", what);
		PQclear(res);
		return (NULL);
	}
	return (res);
}

/* Simple protocol: SQL may hold several statements. */
int
query_command(const struct qsched_host *host, struct qsched_run *run,
    const char *what, const char *sql)
{
	PGresult	*res = PQexec(host->conn(run), sql);
	ExecStatusType	 st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		host->fail(run, res, "%s", what);
		PQclear(res);
		return (-1);
	}
	PQclear(res);
	return (0);
}

static const char *const query_known_statuses[] = {
	"pending", "assigned", "completed", "invalid",
};

/* "all", or statuses separated by commas or blanks, each known. */
int
query_statuses_valid(const char *text, char *err, size_t len)
{
	const char	*p = text;
	size_t		 n, words = 0;
	bool		 known;

	if (strcmp(text, "all") == 0)
		return (0);
	for (;;) {
		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, ", ");
		known = false;
		for (size_t i = 0; i < sizeof query_known_statuses /
		    sizeof query_known_statuses[0]; i++)
			if (strlen(query_known_statuses[i]) == n &&
			    strncmp(p, query_known_statuses[i], n) == 0)
				known = true;
		if (!known) {
			snprintf(err, len, "statuses: \"%.*s\" is not a legacy "
			    "status (pending, assigned, completed, invalid) "
			    "nor \"all\"", (int)n, p);
			return (-1);
		}
		words++;
		p += n;
	}
	if (words == 0) {
		snprintf(err, len, "statuses: empty; say \"all\" or list "
		    "statuses");
		return (-1);
	}
	return (0);
}

int
query_statuses(const struct qsched_host *host, struct qsched_run *run,
    char *buf, size_t len)
{
	const char	*p = host->opt_string(run, "statuses");
	char		 err[256];
	size_t		 n, used = 1;

	buf[0] = '\0';
	if (query_statuses_valid(p, err, sizeof err) == -1) {
		host->message(run, "%s", err);
		return (-1);
	}
	if (strcmp(p, "all") == 0)
		return (0);
	/* Validated: only known words, so a text[] literal needs no quotes. */
	buf[0] = '{';
	for (;;) {
		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		n = strcspn(p, ", ");
		if (used + n + 3 > len) {
			host->message(run, "statuses: too long");
			return (-1);
		}
		if (used > 1)
			buf[used++] = ',';
		memcpy(buf + used, p, n);
		used += n;
		p += n;
	}
	buf[used++] = '}';
	buf[used] = '\0';
	return (0);
}
