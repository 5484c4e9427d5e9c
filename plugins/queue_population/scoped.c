/*
 * scoped.c - the refresh statement's diff when the change log (changes.c)
 * lets it compare only the users that can have changed: which users,
 * their neighbours in the rule, and whether the placement may be
 * written.  refresh.c builds the rest of the statement around it.
 */
#include <config.h>

#include "population.h"

/*
 * The scoped diff: the refresh with the change log (changes.c decides
 * when it may run).  It compares only the users "su" that can have
 * changed since the last refresh, whose time $9 was:
 *
 *   $10 the users the log named for this queue when changes.c read it,
 *       whose rows are deleted here (lg): a change committed later, for
 *       another user, stays logged.  The ids come as a parameter, not
 *       from the log table itself, because the log's statistics are
 *       always stale (it fills and empties between two ANALYZEs): the
 *       planner, expecting the whole log, would hash the whole queue;
 *       with the array it knows how many users there are;
 *   the users whose next_call_after passed between $9 and now (the
 *       application's index on next_call_after);
 *   with a cap ($4 > 0): all of stage B and every live entry with a
 *       score above 0, at most about max_size rows, since one new lead
 *       can push a scored user out of the cap; without a cap: the
 *       scored users whose cooling period ended between $9 and now (sc:
 *       one range of the population index per distinct score).
 *
 * rs is the rule for those users.  Each of them is placed between its
 * neighbours in the rule: the nearest users before and after it that
 * have a pending entry and are not in su themselves (nbu).  They are
 * found by walks along the population index in the rule's order (same
 * score first, then the next lower or higher score; with a cap, stage B
 * looks only at the last new lead), one each way from every user of su
 * in the index (sw).  A walk stops at the first user with a pending
 * entry or in su (SCOPED_STOP): a run of changed users next to one
 * another (a batch of new leads) is walked once, each walk ending at the
 * next changed user, whose own walk goes on.  The stops outside su are
 * the neighbours.  rn is the rank within these users only: the
 * placement (refresh.c, refresh_sql_place) needs the order, not the rank.
 *
 * The EXISTS test has an OFFSET 0 so that the planner keeps it as a
 * filter of the walk, which stops at the first user that passes: as a
 * join or a hashed subplan, it would read the whole queue once per user
 * compared.  For the same reason the users and entries it reads are
 * named by arrays (= ANY (ARRAY(...)), read from the indexes): its sets
 * are small by construction, at most CHANGES_MAX users and max_size
 * entries, which the planner cannot know (a LIMIT by parameter, a log
 * whose statistics are always stale) and would hash whole tables
 * against.
 *
 * The neighbours (nb) are never written: "ok" is false when the
 * placement would move one, renumber, or take more than the gap between
 * two neighbours, and every write then waits for the full refresh that
 * the caller runs instead, in the same transaction.
 */
#define SCOPED_IN_SU(v)							\
	"(" v ".user_id = ANY ($10::bigint[])\n"			\
	"	    OR coalesce(" v ".next_call_after > $9::timestamp\n"	\
	"		AND " v ".next_call_after <= $2::timestamp, false)\n"	\
	"	    OR ($4::bigint = 0 AND " v ".current_score > 0\n"	\
	"		AND " v ".created_at > $9::timestamp - $3::bigint\n"	\
	"		    * interval '1 millisecond'\n"			\
	"		AND " v ".created_at <= $2::timestamp - $3::bigint\n" \
	"		    * interval '1 millisecond'))"
#define SCOPED_STOP(v)							\
	"(" SCOPED_IN_SU(v) "\n"					\
	"	    OR EXISTS (SELECT 1 FROM %1$s AS e\n"			\
	"		WHERE e.user_id = " v ".user_id\n"			\
	"		    AND e.status = 'pending' OFFSET 0))"
#define SCOPED_V							\
	"SELECT v.user_id FROM user_call_scores AS v\n"			\
	"	WHERE v.current_queue_type = $1 AND v.is_active\n"
void
scoped_sql(struct sqlbuf *b, const struct queue_def *q)
{
	sqlbuf_add(b,
	    ", lg AS MATERIALIZED (\n"
	    "	DELETE FROM qsched_population.changes AS l WHERE l.queue = $1\n"
	    "	    AND l.user_id = ANY ($10::bigint[])\n"
	    "	RETURNING l.user_id\n"
	    "), sc AS (\n"
	    "	SELECT (SELECT min(u.current_score) FROM user_call_scores AS u\n"
	    "	    WHERE u.current_queue_type = $1 AND u.is_active\n"
	    "		AND u.current_score > 0 AND $4::bigint = 0) AS s\n"
	    "	UNION ALL\n"
	    "	SELECT (SELECT min(u.current_score) FROM user_call_scores AS u\n"
	    "	    WHERE u.current_queue_type = $1 AND u.is_active\n"
	    "		AND u.current_score > sc.s)\n"
	    "	FROM sc WHERE sc.s IS NOT NULL\n"
	    "), su AS MATERIALIZED (\n"
	    "	SELECT unnest($10::bigint[]) AS user_id\n"
	    "	UNION\n"
	    "	SELECT u.user_id FROM user_call_scores AS u\n"
	    "	WHERE u.next_call_after > $9::timestamp\n"
	    "	    AND u.next_call_after <= $2::timestamp\n"
	    "	    AND u.current_queue_type = $1 AND u.is_active\n"
	    "	UNION\n"
	    "	SELECT b.user_id FROM b WHERE $4::bigint > 0\n"
	    "	UNION\n"
	    "	SELECT e.user_id FROM %1$s AS e\n"
	    "	WHERE $4::bigint > 0 AND e.status IN ('pending', 'assigned')\n"
	    "	    AND e.priority_score > 0\n"
	    "	UNION\n"
	    "	SELECT u.user_id FROM sc, user_call_scores AS u\n"
	    "	WHERE sc.s IS NOT NULL AND u.current_queue_type = $1\n"
	    "	    AND u.is_active AND u.current_score = sc.s\n"
	    "	    AND u.created_at > $9::timestamp\n"
	    "		- $3::bigint * interval '1 millisecond'\n"
	    "	    AND u.created_at <= $2::timestamp\n"
	    "		- $3::bigint * interval '1 millisecond'\n"
	    "), rs AS MATERIALIZED (\n"
	    "	SELECT u.user_id, u.current_score AS score, u.created_at,\n"
	    "	    u.next_call_after\n"
	    "	FROM user_call_scores AS u\n"
	    "	WHERE u.user_id = ANY (ARRAY(SELECT su.user_id FROM su))\n"
	    "	    AND u.current_queue_type = $1 AND u.is_active\n"
	    "	    AND (u.next_call_after IS NULL\n"
	    "		OR u.next_call_after <= $2::timestamp)\n"
	    "	    AND (u.current_score = 0 OR (u.current_score > 0\n"
	    "		AND CASE WHEN $4::bigint = 0 THEN u.created_at\n"
	    "		    <= $2::timestamp - $3::bigint * interval '1 millisecond'\n"
	    "		    ELSE u.user_id IN (SELECT b.user_id FROM b) END))\n"
	    "), sw AS MATERIALIZED (\n"
	    "	SELECT u.user_id, u.current_score AS score, u.created_at\n"
	    "	FROM user_call_scores AS u\n"
	    "	WHERE u.user_id = ANY (ARRAY(SELECT su.user_id FROM su))\n"
	    "	    AND u.current_queue_type = $1 AND u.is_active\n"
	    "), nbx AS MATERIALIZED (\n"
	    "	SELECT DISTINCT x.user_id\n"
	    "	FROM sw AS rs, LATERAL (VALUES\n"
	    "	    (coalesce((" SCOPED_V
	    "		AND v.current_score = rs.score\n"
	    "		AND ($4::bigint = 0 OR rs.score = 0)\n"
	    "		AND v.created_at >= rs.created_at\n"
	    "		AND (v.created_at > rs.created_at\n"
	    "		    OR v.user_id < rs.user_id)\n"
	    "		AND " SCOPED_STOP("v") "\n"
	    "		ORDER BY v.created_at, v.user_id DESC LIMIT 1),\n"
	    "	    (" SCOPED_V
	    "		AND v.current_score < rs.score AND v.current_score >= 0\n"
	    "		AND $4::bigint = 0\n"
	    "		AND " SCOPED_STOP("v") "\n"
	    "		ORDER BY v.current_score DESC, v.created_at,\n"
	    "		    v.user_id DESC LIMIT 1),\n"
	    "	    (" SCOPED_V
	    "		AND v.current_score = 0\n"
	    "		AND $4::bigint > 0 AND rs.score > 0\n"
	    "		AND " SCOPED_STOP("v") "\n"
	    "		ORDER BY v.created_at, v.user_id DESC LIMIT 1))),\n"
	    "	    (coalesce((" SCOPED_V
	    "		AND v.current_score = rs.score\n"
	    "		AND ($4::bigint = 0 OR rs.score = 0)\n"
	    "		AND v.created_at <= rs.created_at\n"
	    "		AND (v.created_at < rs.created_at\n"
	    "		    OR v.user_id > rs.user_id)\n"
	    "		AND " SCOPED_STOP("v") "\n"
	    "		ORDER BY v.created_at DESC, v.user_id LIMIT 1),\n"
	    "	    (" SCOPED_V
	    "		AND v.current_score > rs.score\n"
	    "		AND $4::bigint = 0\n"
	    "		AND " SCOPED_STOP("v") "\n"
	    "		ORDER BY v.current_score, v.created_at DESC,\n"
	    "		    v.user_id LIMIT 1)))) AS x(user_id)\n"
	    "), nbu AS MATERIALIZED (\n"
	    "	SELECT v.user_id, v.current_score AS score, v.created_at,\n"
	    "	    v.next_call_after\n"
	    "	FROM user_call_scores AS v\n"
	    "	WHERE v.user_id = ANY (ARRAY(SELECT nbx.user_id FROM nbx\n"
	    "	    WHERE nbx.user_id IS NOT NULL))\n"
	    "	    AND NOT " SCOPED_IN_SU("v") "\n"
	    "), r AS (\n"
	    "	SELECT d.user_id, (row_number() OVER (ORDER BY d.score,\n"
	    "	    d.created_at DESC, d.user_id))::integer AS rn, d.score,\n"
	    "	    d.created_at,\n"
	    "	    CASE WHEN d.score = 0 THEN $5 WHEN d.score <= 5 THEN $6\n"
	    "		WHEN d.score <= 10 THEN $7 ELSE $8 END AS reason,\n"
	    "	    coalesce(d.next_call_after, $2::timestamp) AS avail, d.nb\n"
	    "	FROM (SELECT rs.*, false AS nb FROM rs\n"
	    "	    UNION ALL\n"
	    "	    SELECT nbu.*, true FROM nbu) AS d\n"
	    "), m AS MATERIALIZED (\n"
	    "	SELECT r.user_id AS d_user, r.rn, r.score, r.reason, r.avail,\n"
	    "	    r.created_at, q.id AS qid, q.status AS qstatus,\n"
	    "	    q.queue_position AS qpos,\n"
	    "	    (NOT coalesce(r.nb, false)\n"
	    "		AND (q.priority_score IS DISTINCT FROM r.score\n"
	    "		OR q.queue_reason IS DISTINCT FROM r.reason\n"
	    "		OR q.available_from > $2::timestamp%2$s)) AS cdiff,\n"
	    "	    coalesce(r.nb, false) AS nb\n"
	    "	FROM r FULL JOIN (SELECT * FROM %1$s AS e\n"
	    "	    WHERE e.status IN ('pending', 'assigned')\n"
	    "		AND e.user_id = ANY (ARRAY(SELECT su.user_id FROM su\n"
	    "		    UNION ALL SELECT nbu.user_id FROM nbu))) AS q\n"
	    "	    ON q.user_id = r.user_id\n"
	    ")", q->table, q->extra_differs);
}

/* Whether the scoped diff's writes may run (see scoped_sql). */
void
scoped_sql_ok(struct sqlbuf *b)
{
	sqlbuf_add(b,
	    ", ok AS MATERIALIZED (\n"
	    "	SELECT NOT (SELECT fl.renumber FROM fl)\n"
	    "	    AND NOT EXISTS (SELECT 1 FROM gw2 WHERE gw2.e <> gw2.g)\n"
	    "	    AND NOT EXISTS (SELECT 1 FROM chg WHERE chg.nb) AS ok\n"
	    ")");
}
