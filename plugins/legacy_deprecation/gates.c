/*
 * gates.c - the evidence gates, measured on every run (dry or not), each
 * one query returning whether it holds, one line with its numbers and
 * the same numbers as jsonb for the run's metrics and the state table:
 *
 *   healthy       the queue type's population job: no failed, timed out,
 *                 crashed or abandoned run in the window, at least one
 *                 that succeeded, and the separated queue non-empty
 *                 whenever eligible users exist
 *   agents        entries of the separated table claimed since the
 *                 freeze, and no call_queue row of the type created or
 *                 assigned since
 *   consistency   while dual-writing, the live (pending/assigned) users
 *                 of the type in call_queue equal those of the separated
 *                 table; differences counted and sampled
 *   independent   (the table) no foreign key references call_queue, no
 *                 row of another queue type written in the window, no
 *                 other session holds a lock on it
 *
 * Timestamps of the app's tables are "timestamp without time zone" in
 * the session's time zone, as the app's Prisma client and DEFAULT
 * CURRENT_TIMESTAMP write them; the window is cast to that.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deprecation.h"

const char *const gate_names[DEP_NGATES] = {
	"healthy", "agents", "consistency", "independent",
};

#define GATE_LIVE	"status IN ('pending', 'assigned')"
#define GATE_BAD	"status IN ('failed', 'timed_out', 'crashed', "	\
			"'abandoned') AND started_at >= $2::timestamptz"
#define GATE_RETIRED	"('unsigned_users', 'outstanding_requests')"

/*
 * $1 queue type, $2 window start (the monitoring clock), $3 population
 * job, $4 the freeze: no bad run since the clock started, at least one
 * good one since the freeze (a clock just reset has seen none yet).
 */
static const char gate_healthy_sql[] =
    "SELECT r.bad = 0 AND r.good > 0 AND (e.n = 0 OR l.n > 0), "
    "format('job %s: %s runs succeeded since %s, %s failed/timed out/"
    "crashed since %s%s; %s eligible users, %s live entries in %s', $3, "
    "r.good, $4::timestamptz(0), r.bad, $2::timestamptz(0), CASE WHEN r.bad > 0 THEN "
    "format(' (latest: run %s, %s)', r.last_bad, r.last_status) ELSE '' "
    "END, e.n, l.n, '@T'), "
    "jsonb_build_object('job', $3, 'since', $2::timestamptz, "
    "'frozen_at', $4::timestamptz, "
    "'succeeded', r.good, 'bad', r.bad, 'latest_bad_run', r.last_bad, "
    "'eligible', e.n, 'live', l.n) "
    "FROM (SELECT count(*) FILTER (WHERE status = 'succeeded') AS good, "
    "count(*) FILTER (WHERE " GATE_BAD ") AS bad, "
    "max(id) FILTER (WHERE " GATE_BAD ") AS last_bad, "
    "(array_agg(status ORDER BY id DESC) FILTER (WHERE " GATE_BAD "))[1] "
    "AS last_status "
    "FROM qsched.runs WHERE job = $3 AND started_at >= $4::timestamptz) "
    "AS r, "
    "(SELECT count(*) AS n FROM user_call_scores WHERE "
    "current_queue_type = $1 AND is_active AND (next_call_after IS NULL "
    "OR next_call_after <= localtimestamp)) AS e, "
    "(SELECT count(*) AS n FROM @T WHERE " GATE_LIVE ") AS l";

/* $1 queue type, $2 the freeze (or the window start). */
static const char gate_agents_sql[] =
    "SELECT c.n > 0 AND l.n = 0, "
    "format('%s entries of @T claimed since %s; %s call_queue rows "
    "of %s created or assigned since%s', c.n, $2::timestamptz(0), l.n, "
    "$1, CASE WHEN l.n > 0 THEN format(' (latest: %s at %s)', l.id, "
    "l.at) ELSE '' END), "
    "jsonb_build_object('since', $2::timestamptz, 'claimed', c.n, "
    "'legacy_written', l.n, 'latest_legacy_id', l.id, "
    "'latest_legacy_at', l.at) "
    "FROM (SELECT count(*) AS n FROM @T WHERE assigned_at >= "
    "$2::timestamptz::timestamp) AS c, "
    /* One scan of call_queue: the rows written since the freeze are
     * few (none, when the gate holds), so ordering them costs nothing. */
    "(SELECT count(*) AS n, (array_agg(id ORDER BY greatest(created_at, "
    "assigned_at) DESC))[1] AS id, max(greatest(created_at, "
    "assigned_at)) AS at FROM call_queue WHERE queue_type = $1 AND "
    "greatest(created_at, assigned_at) >= $2::timestamptz::timestamp) "
    "AS l";

/* $1 queue type. */
static const char gate_consistency_sql[] =
    "WITH l AS (SELECT DISTINCT user_id FROM call_queue WHERE queue_type = "
    "$1 AND " GATE_LIVE "), "
    "s AS (SELECT DISTINCT user_id FROM @T WHERE " GATE_LIVE "), "
    "a AS (SELECT user_id FROM l EXCEPT SELECT user_id FROM s), "
    "b AS (SELECT user_id FROM s EXCEPT SELECT user_id FROM l), "
    "n AS (SELECT (SELECT count(*) FROM l) AS l, (SELECT count(*) FROM s) "
    "AS s, (SELECT count(*) FROM a) AS a, (SELECT count(*) FROM b) AS b, "
    "(SELECT coalesce(jsonb_agg(user_id), '[]') FROM (SELECT user_id "
    "FROM a ORDER BY 1 LIMIT 5) AS x) AS sa, (SELECT coalesce("
    "jsonb_agg(user_id), '[]') FROM (SELECT user_id FROM b ORDER BY 1 "
    "LIMIT 5) AS x) AS sb) "
    "SELECT a = 0 AND b = 0, format('%s live users in call_queue, %s "
    "in @T: %s only in call_queue %s, %s only in @T %s', l, s, "
    "a, sa, b, sb), jsonb_build_object('live_legacy', l, 'live_new', s, "
    "'only_legacy', a, 'only_new', b, 'sample_only_legacy', sa, "
    "'sample_only_new', sb) FROM n";

/*
 * The foreign keys referencing call_queue: name, table, column, the
 * referenced column, and whether deleting a referenced row fails at
 * once (RESTRICT, or NO ACTION not deferred) rather than cascading or
 * waiting for the commit.
 */
#define GATE_FK_LIST							\
    "SELECT c.conname, format('%I.%I', n.nspname, r.relname) AS rel, "	\
    "a.attname AS col, f.attname AS ref, n.nspname, r.relname, "	\
    "c.confdeltype IN ('r', 'a') AND NOT c.condeferred AS fails "	\
    "FROM pg_constraint AS c JOIN pg_class AS r ON r.oid = c.conrelid "	\
    "JOIN pg_namespace AS n ON n.oid = r.relnamespace "			\
    "JOIN pg_attribute AS a ON a.attrelid = c.conrelid AND "		\
    "a.attnum = c.conkey[1] "						\
    "JOIN pg_attribute AS f ON f.attrelid = c.confrelid AND "		\
    "f.attnum = c.confkey[1] "						\
    "WHERE c.contype = 'f' AND c.confrelid = 'call_queue'::regclass"

/* The same, with the rows using each (one count per referencing table:
 * only the gate reports it). */
#define GATE_FKS							\
    "SELECT conname, rel, col, ref, "					\
    "(xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n "	\
    "FROM %I.%I WHERE %I IS NOT NULL', nspname, relname, col), "	\
    "false, true, '')))[1]::text::bigint AS rows "			\
    "FROM (" GATE_FK_LIST ") AS k"

/* $1 window start. */
static const char gate_independent_sql[] =
    "WITH fk AS (" GATE_FKS "), "
    "ot AS (SELECT count(*) AS n FROM call_queue WHERE queue_type NOT IN "
    GATE_RETIRED " AND created_at >= $1::timestamptz::timestamp), "
    "lt AS (SELECT queue_type, created_at FROM call_queue WHERE queue_type "
    "NOT IN " GATE_RETIRED " ORDER BY created_at DESC NULLS LAST LIMIT 1), "
    "lk AS (SELECT count(DISTINCT l.pid) AS n, string_agg(DISTINCT "
    "format('pid %s (%s)', l.pid, coalesce(nullif(s.application_name, ''), "
    "s.usename)), ', ') AS who FROM pg_locks AS l JOIN pg_stat_activity "
    "AS s ON s.pid = l.pid WHERE l.locktype = 'relation' AND l.relation = "
    "'call_queue'::regclass AND l.pid <> pg_backend_pid()) "
    "SELECT (SELECT count(*) FROM fk) = 0 AND ot.n = 0 AND lk.n = 0, "
    "concat_ws('; ', coalesce((SELECT 'foreign keys referencing "
    "call_queue: ' || string_agg(format('%s on %s(%s), %s rows', conname, "
    "rel, col, rows), ', ' ORDER BY conname) FROM fk), 'no foreign key "
    "references call_queue'), format('%s rows of other queue types "
    "written since %s%s', ot.n, $1::timestamptz(0), (SELECT format("
    "' (latest: %s at %s)', queue_type, created_at) FROM lt)), "
    "CASE WHEN lk.n > 0 THEN format('%s other sessions hold locks on "
    "call_queue: %s', lk.n, lk.who) ELSE 'no other session holds a lock "
    "on call_queue' END), "
    "jsonb_build_object('foreign_keys', (SELECT coalesce(jsonb_agg("
    "jsonb_build_object('name', conname, 'table', rel, 'column', col, "
    "'rows', rows) ORDER BY conname), '[]') FROM fk), "
    "'other_types_written', ot.n, 'since', $1::timestamptz, "
    "'latest_other', (SELECT jsonb_build_object('queue_type', queue_type, "
    "'created_at', created_at) FROM lt), 'sessions', lk.n, "
    "'session_list', lk.who) FROM ot, lk";

/* SQL with every "@T" replaced by TABLE (NULL: none); malloc'ed. */
static char *
gate_subst(const char *sql, const char *table)
{
	const char	*p;
	char		*buf = NULL;
	size_t		 len;
	FILE		*f;

	if ((f = open_memstream(&buf, &len)) == NULL)
		return (NULL);
	for (p = sql; *p != '\0'; p++) {
		if (table != NULL && p[0] == '@' && p[1] == 'T') {
			fputs(table, f);
			p++;
		} else
			fputc(*p, f);
	}
	if (fclose(f) != 0) {
		free(buf);
		return (NULL);
	}
	return (buf);
}

static int
gate_query(const struct qsched_host *host, struct qsched_run *run,
    struct gate *g, const char *fmt, const char *table, int n,
    const char *const *params)
{
	char		*sql;
	char		 what[64];
	PGresult	*res;

	if ((sql = gate_subst(fmt, table)) == NULL) {
		host->message(run, "out of memory");
		return (-1);
	}
	snprintf(what, sizeof what, "measuring gate %s", g->name);
	res = host->exec(run, what, sql, n, params);
	free(sql);
	if (res == NULL)
		return (-1);
	g->ok = *PQgetvalue(res, 0, 0) == 't';
	g->detail = strdup(PQgetvalue(res, 0, 1));
	g->evidence = strdup(PQgetvalue(res, 0, 2));
	PQclear(res);
	if (g->detail == NULL || g->evidence == NULL) {
		host->message(run, "out of memory");
		return (-1);
	}
	return (0);
}

static int
gate_na(const struct qsched_host *host, struct qsched_run *run,
    struct gate *g, const char *why)
{
	g->applies = false;
	g->ok = true;
	if ((g->detail = strdup(why)) == NULL ||
	    (g->evidence = strdup("null")) == NULL) {
		host->message(run, "out of memory");
		return (-1);
	}
	return (0);
}

/* The consistency gate after the freeze: the value measured then. */
static int
gate_at_freeze(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj)
{
	struct gate	*g = &obj->gates[2];
	char		*detail;

	if (asprintf(&detail, "%s at the freeze; now (no longer "
	    "dual-written): %s", obj->freeze_consistent ? "consistent" :
	    "NOT consistent", g->detail) == -1) {
		host->message(run, "out of memory");
		return (-1);
	}
	free(g->detail);
	g->detail = detail;
	g->ok = obj->freeze_consistent;
	return (0);
}

int
gates_measure(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj, const struct object *objs)
{
	const char	*p4[4] = { obj->name, obj->window, obj->job,
	    obj->frozen };
	const char	*pa[2] = { obj->name, obj->frozen };
	const char	*p1[1] = { obj->window };
	bool		 dropped = objs[DEP_TABLE].state == ST_DROPPED;

	for (int i = 0; i < DEP_NGATES; i++) {
		obj->gates[i].name = gate_names[i];
		obj->gates[i].applies = false;
	}
	if (dropped) {
		for (int i = 0; i < DEP_NGATES; i++)
			if (gate_na(host, run, &obj->gates[i],
			    "n/a: call_queue is dropped") == -1)
				return (-1);
		return (0);
	}
	if (obj->table == NULL) {
		for (int i = 0; i < 3; i++)
			if (gate_na(host, run, &obj->gates[i], "n/a: see the "
			    "queue types") == -1)
				return (-1);
		obj->gates[3].applies = obj->state >= ST_FROZEN &&
		    obj->state < ST_DROPPED;
		return (gate_query(host, run, &obj->gates[3],
		    gate_independent_sql, NULL, 1, p1));
	}
	if (gate_na(host, run, &obj->gates[3], "n/a: for the table") == -1)
		return (-1);
	if (gate_query(host, run, &obj->gates[0], gate_healthy_sql,
	    obj->table, 4, p4) == -1 ||
	    gate_query(host, run, &obj->gates[1], gate_agents_sql, obj->table,
	    2, pa) == -1 ||
	    gate_query(host, run, &obj->gates[2], gate_consistency_sql,
	    obj->table, 1, pa) == -1)
		return (-1);
	switch (obj->state) {
	case ST_DUAL_WRITE:
		obj->gates[2].applies = true;
		break;
	case ST_FROZEN:
		obj->gates[0].applies = obj->gates[1].applies = true;
		obj->gates[2].applies = true;
		return (gate_at_freeze(host, run, obj));
	case ST_MONITORING:
	case ST_ARCHIVED:
		obj->gates[0].applies = obj->gates[1].applies = true;
		return (gate_at_freeze(host, run, obj));
	default:
		break;
	}
	return (0);
}

bool
gates_hold(const struct object *obj, char *why, size_t len)
{
	for (int i = 0; i < DEP_NGATES; i++) {
		const struct gate *g = &obj->gates[i];

		if (g->applies && !g->ok) {
			snprintf(why, len, "gate %s failed: %s", g->name,
			    g->detail);
			return (false);
		}
	}
	return (true);
}

char *
gates_fk_clause(const struct qsched_host *host, struct qsched_run *run,
    bool probe, char **names, bool *fail)
{
	const char	*params[1] = { probe ? " OFFSET 0" : "" };

	PGresult	*res;
	char		*buf = NULL, *nbuf = NULL;
	size_t		 len, nlen;
	FILE		*f, *nf;

	if (names != NULL)
		*names = NULL;
	if (fail != NULL)
		*fail = true;
	res = host->exec(run, "listing the foreign keys to call_queue",
	    "SELECT format('AND NOT EXISTS (SELECT 1 FROM %s AS r WHERE "
	    "r.%I = c.%I%s) ', rel, col, ref, $1::text), format('%s on %s(%s)', "
	    "conname, rel, col), fails FROM (" GATE_FK_LIST ") AS k ORDER BY "
	    "conname", 1, params);
	if (res == NULL)
		return (NULL);
	for (int r = 0; fail != NULL && r < PQntuples(res); r++)
		if (*PQgetvalue(res, r, 2) != 't')
			*fail = false;
	f = open_memstream(&buf, &len);
	nf = open_memstream(&nbuf, &nlen);
	if (f == NULL || nf == NULL) {
		if (f != NULL)
			fclose(f);
		if (nf != NULL)
			fclose(nf);
		free(buf);
		free(nbuf);
		PQclear(res);
		host->message(run, "out of memory");
		return (NULL);
	}
	for (int r = 0; r < PQntuples(res); r++) {
		fputs(PQgetvalue(res, r, 0), f);
		fprintf(nf, "%s%s", r > 0 ? ", " : "", PQgetvalue(res, r, 1));
	}
	PQclear(res);
	if (fclose(f) != 0 || fclose(nf) != 0) {
		free(buf);
		free(nbuf);
		host->message(run, "out of memory");
		return (NULL);
	}
	if (names != NULL)
		*names = nbuf;
	else
		free(nbuf);
	return (buf);
}
