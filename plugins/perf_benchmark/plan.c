/*
 * plan.c - the plan of one operation, once per run: EXPLAIN (ANALYZE,
 * BUFFERS, FORMAT JSON) of each of its steps (or of the statement inside
 * the function a step calls), in a transaction that is rolled back like
 * the measured ones.  ANALYZE runs the statement, so the rows and buffers
 * are the real ones; store.c reads the scans, indexes, rows and buffers
 * out of the JSON.  A step whose value the next step needs (the legacy
 * claim's SELECT) is also run plainly first, to get that value.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

int
plan_params(const struct bench_cfg *cfg, const enum bench_param *kinds,
    int n, const char *user, const char *prev, const char **values)
{
	for (int i = 0; i < n; i++)
		switch (kinds[i]) {
		case BP_QUEUE:
			values[i] = cfg->queue;
			break;
		case BP_AGENT:
			values[i] = cfg->agent;
			break;
		case BP_USER:
			values[i] = user;
			break;
		case BP_PREV:
			values[i] = prev;
			break;
		default:
			values[i] = cfg->n_text;
			break;
		}
	return (n);
}

/* Run SQL on CONN; on error, R's note says what and the result is NULL. */
static PGresult *
plan_exec(PGconn *conn, const char *what, const char *sql, int n,
    const char *const *values, struct bench_result *r)
{
	PGresult	*res;
	const char	*state;

	res = PQexecParams(conn, sql, n, NULL, values, NULL, NULL, 0);
	if (PQresultStatus(res) == PGRES_TUPLES_OK ||
	    PQresultStatus(res) == PGRES_COMMAND_OK)
		return (res);
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	snprintf(r->note, sizeof r->note, "%s: %s: %s", what,
	    state != NULL ? state : "?", PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY) != NULL ? PQresultErrorField(res,
	    PG_DIAG_MESSAGE_PRIMARY) : PQerrorMessage(conn));
	PQclear(res);
	return (NULL);
}

static int
plan_append(struct bench_result *r, const char *json)
{
	size_t		 old = r->plans != NULL ? strlen(r->plans) : 0;
	char		*p;

	if ((p = realloc(r->plans, old + strlen(json) + 3)) == NULL)
		return (-1);
	if (old == 0)
		snprintf(p, strlen(json) + 3, "[%s]", json);
	else
		snprintf(p + old - 1, strlen(json) + 3, ",%s]", json);
	r->plans = p;
	return (0);
}

static int
plan_step(PGconn *conn, const struct bench_cfg *cfg,
    const struct bench_step *s, bool run_first, const char *user,
    char *prev, size_t prevlen, struct bench_result *r)
{
	const char	*values[BENCH_MAX_PARAMS];
	char		*sql = NULL, *ex = NULL;
	PGresult	*res;
	int		 n, rc = -1;

	if (run_first) {
		if ((sql = ops_sql(s->sql, cfg->table, cfg->have_sessions)) ==
		    NULL)
			goto out;
		n = plan_params(cfg, s->params, s->nparams, user, prev, values);
		if ((res = plan_exec(conn, "plan", sql, n, values, r)) == NULL)
			goto out;
		prev[0] = '\0';
		if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
			snprintf(prev, prevlen, "%s", PQgetvalue(res, 0, 0));
		PQclear(res);
		free(sql);
		sql = NULL;
	}
	if (s->explain != NULL)
		n = plan_params(cfg, s->eparams, s->nexplain, user, prev,
		    values);
	else
		n = plan_params(cfg, s->params, s->nparams, user, prev, values);
	if ((sql = ops_sql(s->explain != NULL ? s->explain : s->sql,
	    cfg->table, cfg->have_sessions)) == NULL ||
	    asprintf(&ex, "EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) %s",
	    sql) == -1) {
		ex = NULL;
		goto out;
	}
	if ((res = plan_exec(conn, "EXPLAIN", ex, n, values, r)) == NULL)
		goto out;
	rc = plan_append(r, PQgetvalue(res, 0, 0));
	PQclear(res);
out:
	free(sql);
	free(ex);
	return (rc);
}

/*
 * plan_explain - R->plans for OP, or R->note saying why there is none.
 * RETURN VALUE: 0, or -1 when the connection failed (recorded).
 */
int
plan_explain(const struct qsched_host *host, struct qsched_run *run,
    const struct bench_cfg *cfg, const struct bench_op *op,
    const struct bench_users *users, struct bench_result *r)
{
	PGconn		*conn = host->conn(run);
	PGresult	*res;
	char		 sql[160], prev[64] = "";
	const char	*user = users->n > 0 ? users->id[0] : "";

	snprintf(sql, sizeof sql, "BEGIN; SET LOCAL statement_timeout = %lld; "
	    "SET LOCAL lock_timeout = %lld",
	    (long long)cfg->statement_timeout_ms,
	    (long long)cfg->lock_timeout_ms);
	if ((res = host->exec(run, "plan: BEGIN", sql, 0, NULL)) == NULL)
		return (-1);
	PQclear(res);
	for (int i = 0; i < op->nsteps; i++) {
		bool	 next_needs = false;

		for (int k = 0; i + 1 < op->nsteps &&
		    k < op->steps[i + 1].nparams; k++)
			next_needs |= op->steps[i + 1].params[k] == BP_PREV;
		if (i > 0 && prev[0] == '\0')
			break;		/* nothing claimed: no UPDATE */
		if (plan_step(conn, cfg, &op->steps[i], next_needs, user, prev,
		    sizeof prev, r) == -1)
			break;
	}
	if ((res = host->exec(run, "plan: ROLLBACK", "ROLLBACK", 0,
	    NULL)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}
