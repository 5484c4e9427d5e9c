/*
 * refresh.c - one refresh of one queue: the difference between the
 * application's population rule and the live entries, applied in one
 * transaction.
 *
 * The work is one statement.  Its read-only part ranks the eligible users
 * (the rule, "r") and joins them with the live entries on user_id ("m"):
 * each pair is a user to insert, an entry to update because its score,
 * reason, available_from or queue columns differ or its position is out
 * of order, an entry to keep as it is, or an entry whose user is no
 * longer eligible.  Its data-modifying CTEs then write only those rows.
 *
 * Positions are sparse: the pending entries' queue_position increases
 * strictly in the rule's order, with free numbers between them, so an
 * entry that changes takes a free number between its new neighbours and
 * no other entry moves (refresh_sql_place).  With dense positions one
 * new lead shifted every entry: the refresh rewrote and locked the whole
 * queue, and claims (SKIP LOCKED) found nothing while it committed.  One statement means
 * one snapshot: the rule and the diff see the same user_call_scores and
 * the same queue, also for the legacy call_queue part.
 *
 * Concurrency rests on READ COMMITTED (set explicitly, whatever the
 * server's default): every UPDATE and DELETE says "status = 'pending'",
 * so an entry an agent claims while the refresh runs is waited for and
 * then re-checked against its newest version, found 'assigned', and left
 * alone.  The INSERT goes through ON CONFLICT on the live-entry unique
 * index, so a user queued by the application meanwhile is not queued
 * twice.  Readers see the old queue until the commit, then the new one.
 *
 * With the change log (migration 0011, changes.c), the same statement is
 * built "scoped" (scoped.c): the rule and the diff cover only
 * the users that can have changed since the last refresh, placed
 * between unchanged neighbours, and its writes run only if that
 * placement needs nothing else ("ok"); otherwise the full statement
 * runs in the same transaction.
 *
 * available_from: the rule sets coalesce(next_call_after, now), which for
 * an eligible user is never in the future.  Any time up to now means
 * "claimable now", so an entry whose available_from has passed is left as
 * it is; otherwise every refresh would rewrite every entry of a user
 * without next_call_after.
 */
#include <config.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "population.h"

void
sqlbuf_add(struct sqlbuf *b, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;
	char	*p;

	if (b->failed)
		return;
	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0) {
		b->failed = true;
		return;
	}
	if (b->len + (size_t)n + 1 > b->cap) {
		size_t	 cap = b->cap == 0 ? 8192 : b->cap;

		while (b->len + (size_t)n + 1 > cap)
			cap *= 2;
		if ((p = realloc(b->data, cap)) == NULL) {
			b->failed = true;
			return;
		}
		b->data = p;
		b->cap = cap;
	}
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, b->cap - b->len, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

/*
 * The rule, as parameters: $1 queue name, $2 now (UTC, milliseconds),
 * $3 cooling period in ms, $4 max_size (0: no cap), $5-$8 the reasons.
 *
 * Stage A is every eligible score-0 user, newest first; stage B the users
 * with a positive score outside the cooling period, lowest score first,
 * then newest, and only as many as fit under max_size after stage A.
 * user_id breaks ties.  rn is the user's rank in the rule (1..N): the
 * order the entries' positions must follow, not the positions
 * themselves.  The LIMIT needs only to know whether stage A reaches
 * max_size, so it counts at most max_size rows of it.  Both stages read
 * the index user_call_scores_queue_population_idx (migration 0008) in
 * this order when it exists.
 */
static void
refresh_sql_rule(struct sqlbuf *b, bool scoped)
{
	sqlbuf_add(b, "%s", scoped ? "WITH RECURSIVE " : "WITH ");
	sqlbuf_add(b,
	    "a AS NOT MATERIALIZED (\n"
	    "	SELECT u.user_id, 0 AS score, u.created_at, u.next_call_after,\n"
	    "	    row_number() OVER (ORDER BY u.created_at DESC, u.user_id)\n"
	    "	    AS rn\n"
	    "	FROM user_call_scores AS u\n"
	    "	WHERE u.current_queue_type = $1 AND u.is_active\n"
	    "	    AND u.current_score = 0\n"
	    "	    AND (u.next_call_after IS NULL\n"
	    "		OR u.next_call_after <= $2::timestamp)\n"
	    "), b AS (\n"
	    "	SELECT s.user_id, s.score, s.created_at, s.next_call_after,\n"
	    "	    (SELECT count(*) FROM a) + row_number() OVER (ORDER BY\n"
	    "		s.score, s.created_at DESC, s.user_id) AS rn\n"
	    "	FROM (\n"
	    "		SELECT u.user_id, u.current_score AS score,\n"
	    "		    u.created_at, u.next_call_after\n"
	    "		FROM user_call_scores AS u\n"
	    "		WHERE u.current_queue_type = $1 AND u.is_active\n"
	    "		    AND u.current_score > 0\n"
	    "		    AND (u.next_call_after IS NULL\n"
	    "			OR u.next_call_after <= $2::timestamp)\n"
	    "		    AND u.created_at <= $2::timestamp\n"
	    "			- $3::bigint * interval '1 millisecond'\n"
	    "		ORDER BY u.current_score, u.created_at DESC, u.user_id\n"
	    "		LIMIT CASE WHEN $4::bigint = 0 THEN NULL\n"
	    "		    ELSE greatest(0, $4::bigint - (SELECT count(*)\n"
	    "			FROM (SELECT 1 FROM a LIMIT $4::bigint) AS c)) END\n"
	    "	) AS s\n"
	    ")");
	if (!scoped)
		sqlbuf_add(b,
		    ", r AS (\n"
		    "	SELECT d.user_id, d.rn::integer AS rn, d.score,\n"
		    "	    d.created_at,\n"
		    "	    CASE WHEN d.score = 0 THEN $5 WHEN d.score <= 5 THEN $6\n"
		    "		WHEN d.score <= 10 THEN $7 ELSE $8 END AS reason,\n"
		    "	    coalesce(d.next_call_after, $2::timestamp) AS avail\n"
		    "	FROM (SELECT * FROM a UNION ALL SELECT * FROM b) AS d\n"
		    ")");
}

/*
 * The diff (m): the rule joined with the live entries on user_id.  cdiff
 * says that an entry's content (score, reason, available_from, the
 * queue's own columns) differs from the rule; its position is judged
 * apart, below.
 */
static void
refresh_sql_diff(struct sqlbuf *b, const struct queue_def *q)
{
	sqlbuf_add(b,
	    ", m AS MATERIALIZED (\n"
	    "	SELECT r.user_id AS d_user, r.rn, r.score, r.reason, r.avail,\n"
	    "	    r.created_at, q.id AS qid, q.status AS qstatus,\n"
	    "	    q.queue_position AS qpos,\n"
	    "	    (q.priority_score IS DISTINCT FROM r.score\n"
	    "		OR q.queue_reason IS DISTINCT FROM r.reason\n"
	    "		OR q.available_from > $2::timestamp%s) AS cdiff,\n"
	    "	    false AS nb\n"
	    "	FROM r FULL JOIN (SELECT * FROM %s\n"
	    "	    WHERE status IN ('pending', 'assigned')) AS q\n"
	    "	    ON q.user_id = r.user_id\n"
	    ")", q->extra_differs, q->table);
}

/*
 * Positions (qsched-plugins(7), Positions).  The pending entries the rule
 * keeps must have strictly increasing queue_position in rule order (rn);
 * the numbers between them are free.
 *
 * c0, c1: entries whose content is unchanged, in rule order, with the
 *     positions of their neighbours among them (lp, np; lp2, np2 one
 *     further).  Such an entry whose position lies between its
 *     neighbours' stays where it is: it is "stable".  A neighbour out of
 *     place on its own (lp >= np: the previous entry is above the next)
 *     is looked past, so one misplaced entry moves alone.  An entry with
 *     changed content is written anyway, so it is never a fixed point.
 * sa: the stable entries' positions (sp) and ranks (sr), in rule order.
 * so: whether sp is strictly increasing.  When every such entry is
 *     stable it is, by the neighbour test; otherwise (positions set out
 *     of order from outside, e.g. by queue_add) it is checked.
 * mv: everything else the rule keeps pending, the "movers": new users,
 *     changed entries, unstable ones; g is the gap they fall into (the
 *     number of stable entries before them, by binary search in sr).
 * gw: per gap, its movers (c), and e: the gap's window.  A gap with room
 *     (the movers fit between its two stable neighbours) is its own
 *     window (e = g).  A gap without room takes in the next 1, 2, 4, ...
 *     stable entries until the window has room for everything in it with
 *     a spacing of at least REFRESH_GAP_MIN, or reaches the end of the queue (where,
 *     as before the first entry, room is unbounded).
 * sg: overlapping windows merged into segments; each segment's members
 *     (its movers and the stable entries it took in) are spread evenly
 *     between its two bounds, REFRESH_GAP apart at the open ends.
 * fl: whether to renumber the whole queue instead (rn * spacing): only
 *     when sp is not increasing or a segment still has no room.
 * chg: the pending entries to write, with their new positions (npos):
 *     every mover, and the stable entries of a segment whose position
 *     changes (or, renumbering, every entry whose position changes).
 *     Everything else keeps its row as it is.
 */
static void
refresh_sql_place(struct sqlbuf *b)
{
	sqlbuf_add(b,
	    ", c0 AS (\n"
	    "	SELECT m.rn, m.qpos,\n"
	    "	    coalesce(lag(m.qpos) OVER w, -2147483648) AS lp,\n"
	    "	    coalesce(lag(m.qpos, 2) OVER w, -2147483648) AS lp2,\n"
	    "	    coalesce(lead(m.qpos) OVER w, 2147483647) AS np,\n"
	    "	    coalesce(lead(m.qpos, 2) OVER w, 2147483647) AS np2\n"
	    "	FROM m\n"
	    "	WHERE m.d_user IS NOT NULL AND m.qstatus = 'pending'\n"
	    "	    AND NOT m.cdiff\n"
	    "	WINDOW w AS (ORDER BY m.rn)\n"
	    "), c1 AS (\n"
	    "	SELECT c0.rn, c0.qpos,\n"
	    "	    (c0.lp < c0.qpos OR (c0.lp >= c0.np AND c0.lp2 < c0.qpos))\n"
	    "	    AND (c0.qpos < c0.np OR (c0.np <= c0.lp\n"
	    "		AND c0.qpos < c0.np2)) AS stable\n"
	    "	FROM c0\n"
	    "), sa AS MATERIALIZED (\n"
	    "	SELECT coalesce(array_agg(c1.qpos ORDER BY c1.rn)\n"
	    "	    FILTER (WHERE c1.stable), '{}') AS sp,\n"
	    "	    coalesce(array_agg(c1.rn ORDER BY c1.rn)\n"
	    "	    FILTER (WHERE c1.stable), '{}') AS sr,\n"
	    "	    count(*) FILTER (WHERE c1.stable)::integer AS ns,\n"
	    "	    bool_and(c1.stable) AS all_stable\n"
	    "	FROM c1\n"
	    "), so AS MATERIALIZED (\n"
	    "	SELECT CASE WHEN coalesce(sa.all_stable, true) THEN true\n"
	    "	    ELSE (SELECT bool_and(x.p < x.q) FROM (SELECT c1.qpos AS q,\n"
	    "		lag(c1.qpos) OVER (ORDER BY c1.rn) AS p\n"
	    "		FROM c1 WHERE c1.stable) AS x) END AS sorted\n"
	    "	FROM sa\n"
	    "), mv AS MATERIALIZED (\n"
	    "	SELECT m.rn, width_bucket(m.rn, sa.sr) AS g\n"
	    "	FROM m, sa\n"
	    "	WHERE m.d_user IS NOT NULL AND (m.qid IS NULL\n"
	    "	    OR (m.qstatus = 'pending' AND m.cdiff))\n"
	    "	UNION ALL\n"
	    "	SELECT c1.rn, width_bucket(c1.rn, sa.sr)\n"
	    "	FROM c1, sa\n"
	    "	WHERE NOT c1.stable\n"
	    "), gw AS (\n"
	    "	SELECT x.g, x.c, CASE WHEN x.g = 0 OR x.g >= sa.ns\n"
	    "	    OR (sa.sp[x.g + 1]::bigint - sa.sp[x.g]) / (x.c + 1) >= 1\n"
	    "	    THEN x.g ELSE coalesce((SELECT min(x.g + w.w)\n"
	    "		FROM (SELECT 1 << j AS w FROM generate_series(0, 30)\n"
	    "		    AS j) AS w\n"
	    "		WHERE x.g + w.w >= sa.ns\n"
	    "		    OR (sa.sp[x.g + w.w + 1]::bigint - sa.sp[x.g])\n"
	    "			/ (x.c + w.w + 1) >= %d), sa.ns) END AS e\n"
	    "	FROM (SELECT mv.g, count(*) AS c FROM mv GROUP BY mv.g) AS x,\n"
	    "	    sa\n"
	    "), gw1 AS (\n"
	    "	SELECT gw.*, max(least(gw.e, sa.ns)) OVER (ORDER BY gw.g\n"
	    "	    ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING) AS pe\n"
	    "	FROM gw, sa\n"
	    "), gw2 AS MATERIALIZED (\n"
	    "	SELECT gw1.g, gw1.c, least(gw1.e, sa.ns) AS e,\n"
	    "	    count(*) FILTER (WHERE gw1.pe IS NULL OR gw1.g > gw1.pe)\n"
	    "		OVER (ORDER BY gw1.g) AS sid\n"
	    "	FROM gw1, sa\n"
	    "), sg0 AS (\n"
	    "	SELECT gw2.sid, min(gw2.g) AS gs, max(gw2.e) AS ge,\n"
	    "	    sum(gw2.c) + max(gw2.e) - min(gw2.g) AS n\n"
	    "	FROM gw2 GROUP BY gw2.sid\n"
	    "), sg1 AS (\n"
	    "	SELECT sg0.*, CASE WHEN sg0.gs >= 1\n"
	    "	    THEN sa.sp[sg0.gs]::bigint END AS lo,\n"
	    "	    CASE WHEN sg0.ge < sa.ns THEN sa.sp[sg0.ge + 1]::bigint END\n"
	    "	    AS hi\n"
	    "	FROM sg0, sa\n"
	    "), sg2 AS (\n"
	    "	SELECT sg1.*, coalesce(sg1.lo, CASE WHEN sg1.hi IS NULL THEN 0\n"
	    "	    ELSE greatest(sg1.hi - (sg1.n + 1) * %d, -2147483647) END)\n"
	    "	    AS l\n"
	    "	FROM sg1\n"
	    "), sg AS MATERIALIZED (\n"
	    "	SELECT sg2.sid, sg2.gs, sg2.ge, sg2.l,\n"
	    "	    (coalesce(sg2.hi, least(sg2.l + (sg2.n + 1) * %d,\n"
	    "		2147483647)) - sg2.l) / (sg2.n + 1) AS step\n"
	    "	FROM sg2\n"
	    "), fl AS MATERIALIZED (\n"
	    "	SELECT NOT coalesce(so.sorted, true)\n"
	    "	    OR coalesce((SELECT bool_or(sg.step < 1) FROM sg), false)\n"
	    "	    AS renumber\n"
	    "	FROM so\n"
	    "), mem AS (\n"
	    "	SELECT x.rn, sg.l + sg.step * row_number() OVER (PARTITION BY\n"
	    "	    sg.sid ORDER BY x.rn) AS npos\n"
	    "	FROM (SELECT mv.rn, gw2.sid FROM mv JOIN gw2 USING (g)\n"
	    "	    UNION ALL\n"
	    "	    SELECT sa.sr[k], sg.sid\n"
	    "	    FROM sg, sa, generate_series(sg.gs + 1, sg.ge) AS k) AS x\n"
	    "	    JOIN sg USING (sid)\n"
	    "), chg AS MATERIALIZED (\n"
	    "	SELECT m.*, mem.npos::integer AS npos\n"
	    "	FROM mem JOIN m ON m.rn = mem.rn\n"
	    "	WHERE NOT (SELECT fl.renumber FROM fl)\n"
	    "	    AND (m.qid IS NULL OR m.cdiff OR m.qpos IS DISTINCT FROM\n"
	    "		mem.npos)\n"
	    "	UNION ALL\n"
	    "	SELECT x.* FROM (SELECT p.*, (row_number() OVER (ORDER BY p.rn)\n"
	    "	    * least(%d, 2147483647 / (count(*) OVER () + 1)))::integer\n"
	    "	    AS npos\n"
	    "	    FROM m AS p\n"
	    "	    WHERE (SELECT fl.renumber FROM fl) AND p.d_user IS NOT NULL\n"
	    "		AND (p.qid IS NULL OR p.qstatus = 'pending')) AS x\n"
	    "	WHERE x.qid IS NULL OR x.cdiff OR x.qpos IS DISTINCT FROM x.npos\n"
	    ")", REFRESH_GAP_MIN, REFRESH_GAP, REFRESH_GAP, REFRESH_GAP);
}

/*
 * What every write of the scoped refresh also needs: its "ok"
 * (scoped.c).  Each write there also names its rows by id, as
 * an array: the planner then reads them from the primary key instead of
 * hashing the whole table against a set it cannot know is small.
 */
#define REFRESH_GUARD	" AND (SELECT ok.ok FROM ok)"

/* The separated queue's three writes; SCOPED: see REFRESH_GUARD. */
static void
refresh_sql_queue(struct sqlbuf *b, const struct queue_def *q,
    bool scoped)
{
	const char	*guard = scoped ? REFRESH_GUARD : "";
	sqlbuf_add(b,
	    ", ins AS (\n"
	    "	INSERT INTO %s AS q (id, user_id, priority_score,\n"
	    "	    queue_position, status, queue_reason, available_from,\n"
	    "	    created_at, updated_at%s)\n"
	    "	SELECT gen_random_uuid(), m.d_user, m.score, m.npos, 'pending',\n"
	    "	    m.reason, m.avail, $2::timestamp, $2::timestamp%s\n"
	    "	FROM chg AS m WHERE m.qid IS NULL%s\n"
	    "	ORDER BY m.rn\n"
	    "	ON CONFLICT (user_id) WHERE status IN ('pending', 'assigned')\n"
	    "	    DO NOTHING\n"
	    "	RETURNING 1\n"
	    "), upd AS (\n"
	    "	UPDATE %s AS q SET queue_position = m.npos,\n"
	    "	    priority_score = m.score, queue_reason = m.reason,\n"
	    "	    available_from = CASE WHEN q.available_from <= $2::timestamp\n"
	    "		THEN q.available_from ELSE m.avail END,\n"
	    "	    updated_at = $2::timestamp%s\n"
	    "	FROM chg AS m\n"
	    "	WHERE q.id = m.qid AND q.status = 'pending'%s%s\n"
	    "	RETURNING 1\n"
	    "), del AS (\n"
	    "	DELETE FROM %s AS q USING m\n"
	    "	WHERE q.id = m.qid AND m.d_user IS NULL\n"
	    "	    AND m.qstatus = 'pending' AND q.status = 'pending'%s%s\n"
	    "	RETURNING 1\n"
	    ")", q->table, q->extra_columns, q->extra_values, guard, q->table,
	    q->extra_set, guard, scoped ? "\n\t    AND q.id = ANY (ARRAY("
	    "SELECT c.qid FROM chg AS c WHERE c.qid IS NOT NULL))" : "",
	    q->table, guard, scoped ? "\n\t    AND q.id = ANY (ARRAY("
	    "SELECT x.qid FROM m AS x WHERE x.d_user IS NULL\n"
	    "\t\tAND x.qid IS NOT NULL))" : "");
}

/*
 * The legacy call_queue rows of the same queue_type.  The table allows
 * several live rows per user: per user the first of an assigned row, the
 * lowest queue_position, the newest row is the one kept (rn = 1); its
 * other pending rows go.  One join pairs the rule with every live row.  A
 * row referenced by call_sessions cannot be deleted (ON DELETE RESTRICT),
 * so it is marked completed instead.
 *
 * Scoped (scoped_sql), only the rows of the users it compares
 * (su) are read, and the neighbours it placed them between are left out:
 * their rows are neither read nor written.
 */
static void
refresh_sql_legacy(struct sqlbuf *b, bool scoped)
{
	const char	*guard = scoped ? REFRESH_GUARD : "";
	sqlbuf_add(b,
	    ", rf AS (\n"
	    "	SELECT m.d_user AS user_id, coalesce(chg.npos, m.qpos) AS pos,\n"
	    "	    m.score, m.reason, m.avail\n"
	    "	FROM m LEFT JOIN chg ON chg.rn = m.rn\n"
	    "	WHERE m.d_user IS NOT NULL AND NOT m.nb\n"
	    "), lm AS MATERIALIZED (\n"
	    "	SELECT r.user_id AS d_user, r.pos, r.score, r.reason, r.avail,\n"
	    "	    g.id AS gid, g.status AS gstatus, g.rn,\n"
	    "	    (g.queue_position IS DISTINCT FROM r.pos\n"
	    "		OR g.priority_score IS DISTINCT FROM r.score\n"
	    "		OR g.queue_reason IS DISTINCT FROM r.reason\n"
	    "		OR g.available_from IS NULL\n"
	    "		OR g.available_from > $2::timestamp) AS differs\n"
	    "	FROM rf AS r FULL JOIN (\n"
	    "		SELECT c.id, c.user_id, c.status, c.queue_position,\n"
	    "		    c.priority_score, c.queue_reason, c.available_from,\n"
	    "		    row_number() OVER (PARTITION BY c.user_id\n"
	    "			ORDER BY c.status = 'assigned' DESC,\n"
	    "			c.queue_position NULLS LAST, c.created_at DESC,\n"
	    "			c.id) AS rn\n"
	    "		FROM call_queue AS c\n"
	    "		WHERE c.queue_type = $1\n"
	    "		    AND c.status IN ('pending', 'assigned')%s\n"
	    "	    ) AS g ON g.user_id = r.user_id\n"
	    "), lrm AS MATERIALIZED (\n"
	    "	SELECT m.gid AS id, EXISTS (SELECT 1 FROM call_sessions AS s\n"
	    "	    WHERE s.call_queue_id = m.gid) AS referenced\n"
	    "	FROM lm AS m\n"
	    "	WHERE m.gstatus = 'pending' AND (m.d_user IS NULL OR m.rn > 1)\n"
	    "), lins AS (\n"
	    "	INSERT INTO call_queue (id, user_id, queue_type, priority_score,\n"
	    "	    queue_position, status, queue_reason, available_from,\n"
	    "	    created_at, updated_at)\n"
	    "	SELECT gen_random_uuid(), m.d_user, $1, m.score, m.pos,\n"
	    "	    'pending', m.reason, m.avail, $2::timestamp, $2::timestamp\n"
	    "	FROM lm AS m WHERE m.gid IS NULL%s\n"
	    "	ORDER BY m.pos\n"
	    "	RETURNING 1\n"
	    "), lupd AS (\n"
	    "	UPDATE call_queue AS c SET queue_position = m.pos,\n"
	    "	    priority_score = m.score, queue_reason = m.reason,\n"
	    "	    available_from = CASE WHEN c.available_from <= $2::timestamp\n"
	    "		THEN c.available_from ELSE m.avail END,\n"
	    "	    updated_at = $2::timestamp\n"
	    "	FROM lm AS m\n"
	    "	WHERE c.id = m.gid AND m.d_user IS NOT NULL AND m.rn = 1\n"
	    "	    AND m.gstatus = 'pending' AND m.differs\n"
	    "	    AND c.status = 'pending'%s%s\n"
	    "	RETURNING 1\n"
	    "), ldel AS (\n"
	    "	DELETE FROM call_queue AS c USING lrm AS x\n"
	    "	WHERE c.id = x.id AND NOT x.referenced AND c.status = 'pending'%s%s\n"
	    "	RETURNING 1\n"
	    "), lcomp AS (\n"
	    "	UPDATE call_queue AS c SET status = 'completed',\n"
	    "	    updated_at = $2::timestamp\n"
	    "	FROM lrm AS x\n"
	    "	WHERE c.id = x.id AND x.referenced AND c.status = 'pending'%s%s\n"
	    "	RETURNING 1\n"
	    ")", scoped ? "\n\t\t    AND c.user_id = ANY (ARRAY(SELECT su.user_id\n"
	    "\t\t\tFROM su))" : "", guard, guard,
	    scoped ? "\n\t    AND c.id = ANY (ARRAY(SELECT x.gid FROM lm AS x\n"
	    "\t\tWHERE x.gid IS NOT NULL))" : "", guard, scoped ?
	    "\n\t    AND c.id = ANY (ARRAY(SELECT x.id FROM lrm AS x))" : "",
	    guard, scoped ?
	    "\n\t    AND c.id = ANY (ARRAY(SELECT x.id FROM lrm AS x))" : "");
}

/*
 * The counters.  The diff aggregates come first: the target list is
 * evaluated in order, so the whole diff is computed before the first row
 * is written, and rows stay locked for the writes only.
 */
static void
refresh_sql_counts(struct sqlbuf *b, const struct refresh_mode *mode)
{
	sqlbuf_add(b,
	    "\nSELECT count(*) FILTER (WHERE m.d_user IS NOT NULL\n"
	    "	AND NOT m.nb),\n"
	    "    count(*) FILTER (WHERE m.d_user IS NOT NULL AND NOT m.nb\n"
	    "	AND m.qstatus = 'pending') - (SELECT count(*) FROM chg\n"
	    "	WHERE chg.qid IS NOT NULL),\n"
	    "    count(*) FILTER (WHERE m.qstatus = 'assigned'),\n"
	    "    count(*) FILTER (WHERE m.d_user IS NULL\n"
	    "	AND m.qstatus = 'pending') + (SELECT count(*) FROM chg),\n"
	    "    (SELECT count(*) FROM chg WHERE chg.qid IS NOT NULL\n"
	    "	AND NOT chg.cdiff),\n"
	    "    (SELECT fl.renumber::integer FROM fl),\n");
	if (mode->log)
		sqlbuf_add(b, "    (SELECT count(*) FROM lg),\n");
	if (mode->scoped)
		sqlbuf_add(b,
		    "    (SELECT ok.ok::integer FROM ok),\n"
		    "    (SELECT count(*) FROM su),\n"
		    "    count(*) FILTER (WHERE m.nb),\n");
	if (mode->legacy)
		sqlbuf_add(b,
		    "    (SELECT count(*) FILTER (WHERE lm.d_user IS NOT NULL\n"
		    "	AND lm.rn = 1 AND lm.gstatus = 'pending'\n"
		    "	AND NOT lm.differs) FROM lm),\n"
		    "    (SELECT count(*) FILTER (WHERE lm.gstatus = 'assigned')\n"
		    "	FROM lm),\n"
		    "    (SELECT count(*) FROM lrm),\n");
	sqlbuf_add(b,
	    "    (SELECT count(*) FROM ins), (SELECT count(*) FROM upd),\n"
	    "    (SELECT count(*) FROM del)");
	if (mode->legacy)
		sqlbuf_add(b, ",\n"
		    "    (SELECT count(*) FROM lins), (SELECT count(*) FROM lupd),\n"
		    "    (SELECT count(*) FROM ldel), (SELECT count(*) FROM lcomp)");
	sqlbuf_add(b, "\nFROM m");
}

char *
refresh_sql(const struct queue_def *queue, const struct refresh_mode *mode)
{
	struct sqlbuf	 b;

	memset(&b, 0, sizeof b);
	refresh_sql_rule(&b, mode->scoped);
	if (mode->scoped)
		scoped_sql(&b, queue);
	else {
		if (mode->log)
			sqlbuf_add(&b, ", lg AS (\n"
			    "	DELETE FROM qsched_population.changes AS l\n"
			    "	WHERE l.queue = $1 RETURNING 1\n"
			    ")");
		refresh_sql_diff(&b, queue);
	}
	refresh_sql_place(&b);
	if (mode->scoped)
		scoped_sql_ok(&b);
	refresh_sql_queue(&b, queue, mode->scoped);
	if (mode->legacy)
		refresh_sql_legacy(&b, mode->scoped);
	refresh_sql_counts(&b, mode);
	if (b.failed) {
		free(b.data);
		return (NULL);
	}
	return (b.data);
}

/*
 * The refresh statement itself: like host->exec, but it keeps the
 * SQLSTATE in STATE, since one failure of it is a race worth a retry.
 */
static PGresult *
refresh_exec_main(const struct qsched_host *host, struct qsched_run *run,
    const char *what, const char *sql, int n, const char *const *params,
    char state[6])
{
	PGresult	*res;
	ExecStatusType	 st;
	const char	*s;

	res = PQexecParams(host->conn(run), sql, n, NULL, params, NULL, NULL,
	    0);
	st = PQresultStatus(res);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		s = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		snprintf(state, 6, "%s", s != NULL ? s : "");
		host->fail(run, res, "%s", what);
		PQclear(res);
		return (NULL);
	}
	return (res);
}

static int64_t
refresh_int(const PGresult *res, int col)
{
	return (strtoll(PQgetvalue(res, 0, col), NULL, 10));
}

/*
 * The result row of the refresh statement into C.  Returns the scoped
 * statement's "ok" (1 for the full statement).
 */
static int64_t
refresh_counts(const PGresult *res, const struct refresh_mode *mode,
    struct refresh_counts *c)
{
	int	 col = 0;
	int64_t	 planned, ok = 1;

	c->eligible = refresh_int(res, col++);
	c->unchanged = refresh_int(res, col++);
	c->kept_assigned = refresh_int(res, col++);
	planned = refresh_int(res, col++);
	c->moved = refresh_int(res, col++);
	c->renumbered_all = refresh_int(res, col++);
	if (mode->log)
		c->log_rows += refresh_int(res, col++);
	if (mode->scoped) {
		ok = refresh_int(res, col++);
		c->compared = refresh_int(res, col++);
		c->neighbours = refresh_int(res, col++);
	}
	if (mode->legacy) {
		c->legacy_unchanged = refresh_int(res, col++);
		c->legacy_kept_assigned = refresh_int(res, col++);
		col++;	/* lrm: only there to be computed before the writes */
	}
	c->inserted = refresh_int(res, col++);
	c->updated = refresh_int(res, col++);
	c->removed = refresh_int(res, col++);
	if (mode->legacy) {
		c->legacy_inserted = refresh_int(res, col++);
		c->legacy_updated = refresh_int(res, col++);
		c->legacy_removed = refresh_int(res, col++);
		c->legacy_completed = refresh_int(res, col++);
	}
	c->skipped_concurrent = planned - c->inserted - c->updated -
	    c->removed;
	return (ok);
}

/*
 * One refresh statement in MODE, its counters into C; *OK as
 * refresh_counts returns it.
 */
static int
refresh_statement(const struct qsched_host *host, struct qsched_run *run,
    const struct refresh_opts *o, const struct refresh_mode *mode,
    const char *const *params, struct refresh_counts *c, int64_t *ok,
    char state[6])
{
	PGresult	*res;
	char		*sql, what[128];

	if ((sql = refresh_sql(o->queue, mode)) == NULL) {
		host->message(run, "out of memory building the refresh "
		    "statement");
		return (-1);
	}
	snprintf(what, sizeof what, "refreshing %s%s%s", o->queue->table,
	    o->legacy ? " and call_queue" : "",
	    mode->scoped ? " (changed users)" : "");
	res = refresh_exec_main(host, run, what, sql, mode->scoped ? 10 : 8,
	    params, state);
	free(sql);
	if (res == NULL)
		return (-1);
	*ok = refresh_counts(res, mode, c);
	PQclear(res);
	return (0);
}

int
refresh_run(const struct qsched_host *host, struct qsched_run *run,
    const struct refresh_opts *o, struct refresh_counts *c, bool *retry)
{
	const struct queue_def *q = o->queue;
	PGconn		*conn = host->conn(run);
	PGresult	*res;
	struct changes_state cs = { .ids = NULL };
	struct refresh_mode mode;
	char		 cooling[24], max[24], lease[24], now[32];
	char		 state[6] = "";
	const char	*params[10];
	int64_t		 t0 = host->mono_us(), ok;

	*retry = false;
	memset(c, 0, sizeof *c);
	snprintf(cooling, sizeof cooling, "%lld", (long long)o->cooling_ms);
	snprintf(max, sizeof max, "%lld", (long long)o->max_size);
	snprintf(lease, sizeof lease, "%lld", (long long)o->lease_ms);

	/* The snapshot semantics above need READ COMMITTED, whatever
	 * default_transaction_isolation says. */
	if ((res = host->exec(run, "BEGIN",
	    "BEGIN ISOLATION LEVEL READ COMMITTED", 0, NULL)) == NULL)
		goto fail;
	PQclear(res);

	/*
	 * Expire old assignments first: the refresh then treats those
	 * entries as the pending entries they have become.  JIT is off: the
	 * refresh's cost estimate crosses the JIT thresholds, and compiling
	 * its plan takes longer than running it.  Merge joins are off: the
	 * planner cannot know that the changes (chg) are few, and would sort
	 * the whole diff to merge them with it.
	 */
	params[0] = o->work_mem;
	params[1] = q->name;
	params[2] = lease;
	if ((res = host->exec(run, "expiring old assignments",
	    "SELECT set_config('work_mem', $1, true), "
	    "set_config('jit', 'off', true), "
	    "set_config('enable_mergejoin', 'off', true), "
	    "set_config('qsched.population_refresh', 'on', true), "
	    "to_char(date_trunc('milliseconds', now() AT TIME ZONE 'UTC'), "
	    "'YYYY-MM-DD HH24:MI:SS.MS'), "
	    "queue_expire_assignments($2, $3::bigint * "
	    "interval '1 millisecond')", 3, params)) == NULL)
		goto fail;
	snprintf(now, sizeof now, "%s", PQgetvalue(res, 0, 4));
	c->expired_assignments = refresh_int(res, 5);
	PQclear(res);
	host->progress(run, 1, 3);

	if (changes_begin(host, run, o, now, &cs) == -1)
		goto fail;
	params[0] = q->name;
	params[1] = now;
	params[2] = cooling;
	params[3] = max;
	for (int i = 0; i < QUEUE_REASONS; i++)
		params[4 + i] = q->reason[i];
	params[8] = cs.last_now;
	params[9] = cs.ids;
	mode.legacy = o->legacy;
	mode.log = cs.log;
	mode.scoped = cs.reason == NULL;
	if (cs.reason != NULL)
		snprintf(c->full_reason, sizeof c->full_reason, "%s",
		    cs.reason);
	if (mode.scoped) {
		if (refresh_statement(host, run, o, &mode, params, c, &ok,
		    state) == -1)
			goto fail;
		if (ok != 1) {
			/* Nothing was written: the full refresh decides. */
			int64_t log_rows = c->log_rows;

			mode.scoped = false;
			memset(c, 0, sizeof *c);
			c->log_rows = log_rows;
			snprintf(c->full_reason, sizeof c->full_reason,
			    "no room between the neighbours");
		}
	}
	if (!mode.scoped && refresh_statement(host, run, o, &mode, params, c,
	    &ok, state) == -1)
		goto fail;
	c->scoped = mode.scoped;
	host->progress(run, 2, 3);
	if (changes_end(host, run, o, now, &cs, !mode.scoped) == -1)
		goto fail;

	if ((res = host->exec(run, o->dry_run ? "ROLLBACK" : "COMMIT",
	    o->dry_run ? "ROLLBACK" : "COMMIT", 0, NULL)) == NULL)
		goto fail;
	PQclear(res);
	c->elapsed_ms = (host->mono_us() - t0) / 1000;
	free(cs.ids);
	return (0);

fail:
	/*
	 * Two failures here are races, and nothing was written: a foreign
	 * key violation (23503), a call_sessions row committed between the
	 * snapshot and the delete of the call_queue row it references, or a
	 * user deleted while being queued; and a deadlock (40P01) with an
	 * application transaction that holds an entry the refresh rewrites
	 * while it waits for another (a waiting queue_claim_next() holds
	 * none since migration 0010).  The next attempt sees what the race
	 * left.
	 */
	*retry = strcmp(state, "23503") == 0 || strcmp(state, "40P01") == 0;
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	free(cs.ids);
	return (-1);
}
