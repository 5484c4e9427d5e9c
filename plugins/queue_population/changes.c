/*
 * changes.c - the change log of migration 0011 as the refresh uses it:
 * whether this refresh may compare only the users the log names (plus
 * the time boundaries passed since the last refresh), and the state it
 * leaves for the next one.  refresh.c consumes the log itself, in the
 * refresh statement's snapshot.
 *
 * The log can only be trusted for what the triggers saw.  A full
 * comparison runs instead when there is no log (0011 not applied), when
 * a trigger is missing or disabled now or was at the last refresh, when
 * the triggers were dropped and created again since (their oids
 * differ), on a queue's first refresh, when max_size, cooling_period or
 * the legacy dual-write differ from the last refresh's (the queue
 * follows the old rule everywhere, not only where users changed), when
 * the clock went back, when more users changed than a tenth of the
 * queue (at least CHANGES_FLOOR_S, at most CHANGES_MAX: comparing them
 * one by one, each between its neighbours, then costs about as much as
 * the full comparison), and when full_refresh_every has passed since
 * the last full one: the safety net for what no trigger sees (a trigger
 * disabled and enabled again between two refreshes,
 * session_replication_role = replica, an entry set back to pending by
 * hand).  The queue's own triggers mark its state dirty when entries
 * are moved or the queue truncated from outside: the next refresh is
 * full.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "population.h"

/* The nine triggers of 0011 this queue needs ($1 its table); all
 * must fire. */
#define CHANGES_TRIGGERS						\
	"FROM pg_trigger AS t WHERE (t.tgrelid = "			\
	"to_regclass('user_call_scores') AND t.tgname IN ("		\
	"'user_call_scores_population_changes_ins', "			\
	"'user_call_scores_population_changes_upd', "			\
	"'user_call_scores_population_changes_del', "			\
	"'user_call_scores_population_truncate')) OR (t.tgrelid = "	\
	"to_regclass($1) AND t.tgname IN ($1 || '_population_ins', "	\
	"$1 || '_population_del', $1 || '_population_upd', "		\
	"$1 || '_population_truncate', $1 || '_population_done'))"

int
changes_begin(const struct qsched_host *host, struct qsched_run *run,
    const struct refresh_opts *o, const char *now, struct changes_state *cs)
{
	PGresult	*res;
	const char	*params[6];
	char		 every[24], max[24];

	memset(cs, 0, sizeof *cs);
	snprintf(cs->rule, sizeof cs->rule, "max_size=%lld cooling_ms=%lld "
	    "legacy=%d", (long long)o->max_size, (long long)o->cooling_ms,
	    o->legacy);
	params[0] = o->queue->table;
	if ((res = host->exec(run, "reading the change log's state",
	    "SELECT to_regclass('qsched_population.state') IS NOT NULL "
	    "AND to_regclass('qsched_population.changes') IS NOT NULL, "
	    "(SELECT count(*) FILTER (WHERE t.tgenabled IN ('O', 'A')) = 9 "
	    CHANGES_TRIGGERS "), "
	    "(SELECT coalesce(string_agg(t.oid::text, ',' ORDER BY "
	    "t.tgname), '') " CHANGES_TRIGGERS ")", 1, params)) == NULL)
		return (-1);
	cs->log = *PQgetvalue(res, 0, 0) == 't';
	cs->trusted = *PQgetvalue(res, 0, 1) == 't';
	snprintf(cs->triggers, sizeof cs->triggers, "%s",
	    PQgetvalue(res, 0, 2));
	PQclear(res);
	if (!cs->log) {
		cs->reason = "no change log (migration 0011 not applied)";
		return (0);
	}

	/* The row lock keeps two refreshes of one queue in turn. */
	snprintf(every, sizeof every, "%lld", (long long)o->full_every_ms);
	snprintf(max, sizeof max, "%d", CHANGES_MAX + 1);
	params[0] = o->queue->name;
	params[1] = now;
	params[2] = every;
	params[3] = max;
	params[4] = cs->rule;
	params[5] = o->queue->table;
	if ((res = host->exec(run, "reading the change log's state",
	    "SELECT to_char(s.last_now, 'YYYY-MM-DD HH24:MI:SS.MS'), "
	    "s.trusted, s.trigger_oids, s.last_now <= $2::timestamp, "
	    "$2::timestamp - s.last_full < $3::bigint "
	    "* interval '1 millisecond', "
	    "(SELECT count(*) FROM (SELECT 1 FROM qsched_population.changes "
	    "AS l WHERE l.queue = $1 LIMIT $4::bigint) AS x) > least("
	    "$4::bigint - 1, greatest(" CHANGES_FLOOR_S ", (SELECT "
	    "c.reltuples / 10 FROM pg_class AS c "
	    "WHERE c.oid = to_regclass($6)))), "
	    "s.rule = $5, s.dirty, "
	    "CASE WHEN (SELECT count(*) FROM (SELECT 1 FROM "
	    "qsched_population.changes AS l WHERE l.queue = $1 "
	    "LIMIT $4::bigint) AS y) < $4::bigint THEN (SELECT "
	    "coalesce(array_agg(DISTINCT l.user_id), '{}') FROM "
	    "qsched_population.changes AS l WHERE l.queue = $1) END "
	    "FROM qsched_population.state AS s WHERE s.queue = $1 "
	    "FOR UPDATE OF s", 6, params)) == NULL)
		return (-1);
	if (!cs->trusted)
		cs->reason = "a change log trigger is missing or disabled";
	else if (PQntuples(res) == 0)
		cs->reason = "first refresh with the change log";
	else if (*PQgetvalue(res, 0, 1) != 't')
		cs->reason = "the last refresh ran without the change log's "
		    "triggers";
	else if (!PQgetisnull(res, 0, 7)) {
		snprintf(cs->dirty, sizeof cs->dirty, "%s",
		    PQgetvalue(res, 0, 7));
		cs->reason = cs->dirty;
	}
	else if (strcmp(PQgetvalue(res, 0, 2), cs->triggers) != 0)
		cs->reason = "the change log's triggers were created again";
	else if (*PQgetvalue(res, 0, 6) != 't')
		cs->reason = "max_size, cooling_period or the legacy "
		    "dual-write changed";
	else if (*PQgetvalue(res, 0, 3) != 't')
		cs->reason = "the clock went back";
	else if (o->full_every_ms == 0)
		cs->reason = "full_refresh_every is 0";
	else if (*PQgetvalue(res, 0, 4) != 't')
		cs->reason = "full_refresh_every has passed";
	else if (*PQgetvalue(res, 0, 5) == 't')
		cs->reason = "more changed users than a scoped refresh "
		    "compares";
	if (PQntuples(res) == 1) {
		snprintf(cs->last_now, sizeof cs->last_now, "%s",
		    PQgetvalue(res, 0, 0));
		if ((cs->ids = strdup(PQgetisnull(res, 0, 8) ? "{}" :
		    PQgetvalue(res, 0, 8))) == NULL) {
			PQclear(res);
			host->message(run, "out of memory reading the change "
			    "log");
			return (-1);
		}
	}
	PQclear(res);
	return (0);
}

int
changes_end(const struct qsched_host *host, struct qsched_run *run,
    const struct refresh_opts *o, const char *now,
    const struct changes_state *cs, bool full)
{
	PGresult	*res;
	const char	*params[6];

	if (!cs->log)
		return (0);
	params[0] = o->queue->name;
	params[1] = now;
	params[2] = cs->triggers;
	params[3] = cs->trusted ? "true" : "false";
	params[4] = full ? "true" : "false";
	params[5] = cs->rule;
	if ((res = host->exec(run, "recording the change log's state",
	    "INSERT INTO qsched_population.state AS s (queue, last_now, "
	    "last_full, rule, trigger_oids, trusted) "
	    "VALUES ($1, $2::timestamp, $2::timestamp, $6, $3, $4::boolean) "
	    "ON CONFLICT (queue) DO UPDATE SET last_now = EXCLUDED.last_now, "
	    "last_full = CASE WHEN $5::boolean THEN EXCLUDED.last_full "
	    "ELSE s.last_full END, rule = EXCLUDED.rule, dirty = NULL, "
	    "trigger_oids = EXCLUDED.trigger_oids, "
	    "trusted = EXCLUDED.trusted", 6, params)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}
