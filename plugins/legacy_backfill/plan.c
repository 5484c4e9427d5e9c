/*
 * plan.c - the bookkeeping tables, and the start of a pass.
 *
 * A pass copies the legacy rows of a window of transactions: those whose
 * current version was written before the pass's high-water mark (hwm)
 * and, in a sync pass, not before the previous pass's (prev).  The hwm
 * is the oldest transaction (of this database) still running when the
 * pass starts, so every row version below it was committed before the
 * pass began and stays as it is for the whole pass: a version the app
 * writes meanwhile is newer, falls in the next pass's window, and is
 * never half-seen.  Unlike a
 * created_at/updated_at watermark this needs no safety margin: it does
 * not depend on clocks, on client-set timestamps or on the (random)
 * order of the client-set ids.
 *
 * Before the first batch, in one transaction with the checkpoint, the
 * plan fixes what must not depend on batch boundaries:
 *
 *   positions  every row of the window with a NULL queue_position gets
 *              one after the existing ones, in (priority_score,
 *              created_at, id) order, stored in qsched.backfill_positions.
 *              One sort on the server instead of a keyset pass: call_queue
 *              has no index that serves that order, so a keyset pass
 *              would scan the table once per batch.  The positions live in
 *              the database, not in the worker, and a row keeps its
 *              position in later passes.
 *   duplicates users with several live legacy rows of one queue type
 *              keep one (the same rule as the migrations'
 *              queue_resolve_duplicates(): an entry already live in the
 *              target, then an assigned one, then the lowest position,
 *              priority_score, the newest created_at, the id); the others
 *              are recorded as conflicts before any is copied, so which
 *              row wins never depends on the order rows are copied in.
 */
#include <config.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"

/* Stay far below what a metrics object should hold. */
#define PLAN_MAX_TYPE_METRICS	32

int
plan_tables(const struct qsched_host *host, struct qsched_run *run)
{
	return (query_command(host, run, "creating the backfill tables",
	    "SET client_min_messages = warning; "
	    "CREATE TABLE IF NOT EXISTS qsched.backfill_conflicts ("
	    "legacy_id uuid PRIMARY KEY, "
	    "queue_type text NOT NULL, "
	    "user_id bigint NOT NULL, "
	    "reason text NOT NULL CHECK (reason IN ('duplicate_live_entry', "
	    "'live_entry_exists', 'no_score_row', 'unmapped_status')), "
	    "other_id uuid, "
	    "legacy_status text, "
	    "pass_id bigint NOT NULL, "
	    "run_id bigint, "
	    "last_run_id bigint, "
	    "recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
	    "last_seen_at timestamptz NOT NULL DEFAULT clock_timestamp()); "
	    "COMMENT ON TABLE qsched.backfill_conflicts IS "
	    "'call_queue rows legacy_backfill did not copy, and why; "
	    "see qsched-plugins(7)'; "
	    "CREATE TABLE IF NOT EXISTS qsched.backfill_positions ("
	    "legacy_id uuid PRIMARY KEY, "
	    "queue_type text NOT NULL, "
	    "queue_position integer NOT NULL, "
	    "pass_id bigint NOT NULL); "
	    "COMMENT ON TABLE qsched.backfill_positions IS "
	    "'queue_position given by legacy_backfill to call_queue rows "
	    "that had none'; "
	    "CREATE TABLE IF NOT EXISTS qsched.backfill_ranges ("
	    "pass_id bigint NOT NULL, "
	    "range_no integer NOT NULL, "
	    "next_block bigint NOT NULL, "
	    "end_block bigint NOT NULL, "
	    "done bigint NOT NULL DEFAULT 0, "
	    "batches bigint NOT NULL DEFAULT 0, "
	    "inserted bigint NOT NULL DEFAULT 0, "
	    "updated bigint NOT NULL DEFAULT 0, "
	    "unchanged bigint NOT NULL DEFAULT 0, "
	    "conflicts bigint NOT NULL DEFAULT 0, "
	    "digest_u numeric NOT NULL DEFAULT 0, "
	    "digest_o numeric NOT NULL DEFAULT 0, "
	    "PRIMARY KEY (pass_id, range_no)); "
	    "COMMENT ON TABLE qsched.backfill_ranges IS "
	    "'block ranges of call_queue a parallel legacy_backfill pass "
	    "copies, each with where it is; see qsched-plugins(7)'; "
	    "RESET client_min_messages"));
}

int
plan_tables_exist(const struct qsched_host *host, struct qsched_run *run)
{
	PGresult	*res;
	int		 rc;

	res = query_exec(host, run, "looking for the backfill tables",
	    "SELECT to_regclass('qsched.backfill_conflicts') IS NOT NULL "
	    "AND to_regclass('qsched.backfill_positions') IS NOT NULL", 0,
	    NULL,
	    NULL);
	if (res == NULL)
		return (-1);
	rc = *PQgetvalue(res, 0, 0) == 't';
	PQclear(res);
	return (rc);
}

/*
 * The pass's high-water mark: the oldest transaction that was running
 * when it started and may write call_queue, or the snapshot's xmax if
 * none.  Every older transaction has ended, so its rows are final.
 * Transactions of other databases cannot write call_queue: those still
 * running in another database (pg_stat_activity, pg_prepared_xacts) do
 * not hold the mark back.  Any doubt keeps a transaction in (a role
 * without pg_read_all_stats sees no other user's backend_xid): a lower
 * mark only defers rows to the next pass, never loses one.
 */
int
plan_hwm(const struct qsched_host *host, struct qsched_run *run,
    int64_t *hwm)
{
	PGresult	*res;

	res = query_exec(host, run, "reading the high-water mark",
	    "SELECT coalesce((SELECT min(x::text::bigint) "
	    "FROM pg_snapshot_xip(s.snap) AS x "
	    "WHERE NOT EXISTS (SELECT 1 FROM pg_stat_activity AS a "
	    "WHERE a.backend_xid IS NOT NULL "
	    "AND a.datid IS DISTINCT FROM (SELECT d.oid FROM pg_database AS d "
	    "WHERE d.datname = current_database()) "
	    "AND a.backend_xid::text::bigint = x::text::bigint % 4294967296) "
	    "AND NOT EXISTS (SELECT 1 FROM pg_prepared_xacts AS p "
	    "WHERE p.database <> current_database() "
	    "AND p.transaction::text::bigint = x::text::bigint % 4294967296)), "
	    "pg_snapshot_xmax(s.snap)::text::bigint)::text "
	    "FROM (SELECT pg_current_snapshot() AS snap) AS s", 0, NULL, NULL);
	if (res == NULL)
		return (-1);
	*hwm = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (0);
}

/* skipped_<type>, with what a JSON key and a log line can show plainly. */
static void
plan_type_metric(const struct qsched_host *host, struct qsched_run *run,
    const char *type, int64_t n)
{
	char	 name[80];
	size_t	 i, len;

	len = (size_t)snprintf(name, sizeof name, "skipped_%.60s", type);
	if (len >= sizeof name)
		len = sizeof name - 1;
	for (i = strlen("skipped_"); i < len; i++)
		if (!isalnum((unsigned char)name[i]) && name[i] != '-')
			name[i] = '_';
	host->counter(run, name, n);
}

int
plan_count(const struct qsched_host *host, struct qsched_run *run,
    int64_t hwm, int64_t prev, struct plan_counts *pc, bool metrics,
    FILE *out)
{
	char		 h[24], p[24], statuses[128], *sql = NULL;
	const char	*params[3] = { h, p, NULL };
	size_t		 len;
	FILE		*f;
	PGresult	*res;
	int64_t		 other = 0, n;
	int		 i, shown = 0;

	memset(pc, 0, sizeof *pc);
	if (query_statuses(host, run, statuses, sizeof statuses) == -1)
		return (-1);
	params[2] = statuses[0] != '\0' ? statuses : NULL;
	snprintf(h, sizeof h, "%" PRId64, hwm);
	snprintf(p, sizeof p, "%" PRId64, prev);
	if ((f = query_open(host, run, &sql, &len)) == NULL)
		return (-1);
	/* The xid8 once per row (OFFSET 0 keeps it from being inlined into
	 * each use). */
	fputs("SELECT c.queue_type, count(*) FILTER (WHERE c.queue_type IN "
	    "('unsigned_users', 'outstanding_requests') AND ($3::text[] IS "
	    "NULL OR c.status = ANY ($3::text[])) AND c.x8 >= $2::bigint), "
	    "count(*) FILTER (WHERE c.x8 >= $2::bigint), "
	    "coalesce(max(c.queue_position), 0) "
	    "FROM (SELECT c.queue_type, c.status, c.queue_position, ", f);
	query_xid8(f, "c");
	fputs(" AS x8 FROM call_queue AS c OFFSET 0) AS c "
	    "WHERE c.x8 < $1::bigint "
	    "GROUP BY c.queue_type ORDER BY c.queue_type", f);
	if ((sql = query_finish(host, run, f, &sql)) == NULL)
		return (-1);
	res = query_exec(host, run, "counting call_queue rows", sql, 3,
	    NULL, params);
	free(sql);
	if (res == NULL)
		return (-1);
	for (int r = 0; r < PQntuples(res); r++) {
		const char *type = PQgetvalue(res, r, 0);

		n = strtoll(PQgetvalue(res, r, 2), NULL, 10);
		if ((i = state_type_index(type)) >= 0) {
			pc->todo_type[i] = strtoll(PQgetvalue(res, r, 1),
			    NULL, 10);
			pc->todo += pc->todo_type[i];
			pc->maxpos[i] = strtoll(PQgetvalue(res, r, 3), NULL,
			    10);
			pc->skipped += n - pc->todo_type[i];
			if (metrics)
				host->counter(run, "skipped_status",
				    pc->skipped);
			continue;
		}
		if (n == 0)
			continue;
		if (out != NULL)
			fprintf(out, "  stays in call_queue: %-22s %10" PRId64
			    "\n", type, n);
		if (metrics && shown < PLAN_MAX_TYPE_METRICS) {
			plan_type_metric(host, run, type, n);
			shown++;
		} else
			other += n;
	}
	if (metrics && other > 0)
		host->counter(run, "skipped_other", other);
	PQclear(res);
	return (0);
}

static int
plan_positions(const struct qsched_host *host, struct qsched_run *run,
    const struct state *st, const struct plan_counts *pc,
    const char *statuses, int64_t *planned)
{
	char		 h[24], p[24], pass[24], mu[24], mo[24], *sql = NULL;
	const char	*params[6] = { h, p, statuses, pass, mu, mo };
	const Oid	 types[6] = { QUERY_INT8, QUERY_INT8, QUERY_TEXTARRAY,
	    QUERY_INT8, QUERY_INT4, QUERY_INT4 };
	size_t		 len;
	FILE		*f;
	PGresult	*res;

	snprintf(h, sizeof h, "%" PRId64, st->hwm);
	snprintf(p, sizeof p, "%" PRId64, st->prev);
	snprintf(pass, sizeof pass, "%" PRId64, st->pass);
	snprintf(mu, sizeof mu, "%" PRId64, pc->maxpos[0]);
	snprintf(mo, sizeof mo, "%" PRId64, pc->maxpos[1]);
	if ((f = query_open(host, run, &sql, &len)) == NULL)
		return (-1);
	/*
	 * "After the existing ones": after the largest queue_position of
	 * the type's legacy rows below the hwm, and after every position an
	 * earlier pass gave out, so a sync pass's rows queue up behind.
	 */
	/* The bases first (MATERIALIZED: once, not once per row). */
	fputs("WITH b AS MATERIALIZED (SELECT t.queue_type, greatest(t.maxpos, "
	    "(SELECT max(x.queue_position) FROM qsched.backfill_positions AS x "
	    "WHERE x.queue_type = t.queue_type), 0) AS base "
	    "FROM (VALUES ('unsigned_users', $5::integer), "
	    "('outstanding_requests', $6::integer)) AS t(queue_type, maxpos)) "
	    "INSERT INTO qsched.backfill_positions (legacy_id, queue_type, "
	    "queue_position, pass_id) "
	    "SELECT s.id, s.queue_type, b.base + row_number() OVER ("
	    "PARTITION BY s.queue_type ORDER BY s.priority_score, "
	    "s.created_at, s.id), $4::bigint "
	    "FROM (SELECT c.id, c.queue_type, c.priority_score, c.created_at "
	    "FROM call_queue AS c "
	    "WHERE c.queue_position IS NULL "
	    "AND c.queue_type IN ('unsigned_users', 'outstanding_requests') "
	    "AND ($3::text[] IS NULL OR c.status = ANY ($3::text[]))", f);
	query_scope(f, "c", 1, st->prev > 0 ? 2 : 0);
	fputs(" AND NOT EXISTS (SELECT 1 FROM qsched.backfill_positions AS x "
	    "WHERE x.legacy_id = c.id)) AS s "
	    "JOIN b ON b.queue_type = s.queue_type", f);
	if ((sql = query_finish(host, run, f, &sql)) == NULL)
		return (-1);
	res = query_exec(host, run, "planning queue positions", sql, 6,
	    types, params);
	free(sql);
	if (res == NULL)
		return (-1);
	*planned = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return (0);
}

static int
plan_duplicates(const struct qsched_host *host, struct qsched_run *run,
    const struct state *st, const char *statuses, int64_t *recorded)
{
	char		 h[24], p[24], pass[24], rid[24], *sql = NULL;
	const char	*params[5] = { h, p, statuses, pass, rid };
	const Oid	 types[5] = { QUERY_INT8, QUERY_INT8, QUERY_TEXTARRAY,
	    QUERY_INT8, QUERY_INT8 };
	size_t		 len;
	FILE		*f;
	PGresult	*res;

	snprintf(h, sizeof h, "%" PRId64, st->hwm);
	snprintf(p, sizeof p, "%" PRId64, st->prev);
	snprintf(pass, sizeof pass, "%" PRId64, st->pass);
	snprintf(rid, sizeof rid, "%" PRId64, host->run_id(run));
	if ((f = query_open(host, run, &sql, &len)) == NULL)
		return (-1);
	fputs("INSERT INTO qsched.backfill_conflicts AS k (legacy_id, "
	    "queue_type, user_id, reason, other_id, legacy_status, pass_id, "
	    "run_id, last_run_id) "
	    "SELECT d.id, d.queue_type, d.user_id, 'duplicate_live_entry', "
	    "d.winner, d.status, $4::bigint, $5::bigint, $5::bigint "
	    "FROM (SELECT c.id, c.queue_type, c.user_id, c.status, "
	    "first_value(c.id) OVER w AS winner, row_number() OVER w AS rn "
	    "FROM call_queue AS c "
	    "LEFT JOIN qsched.backfill_positions AS p ON p.legacy_id = c.id "
	    "LEFT JOIN unsigned_users_queue AS eu ON c.queue_type = "
	    "'unsigned_users' AND eu.id = c.id AND eu.status IN ('pending', "
	    "'assigned') "
	    "LEFT JOIN outstanding_requests_queue AS eo ON c.queue_type = "
	    "'outstanding_requests' AND eo.id = c.id AND eo.status IN "
	    "('pending', 'assigned') "
	    "WHERE c.queue_type IN ('unsigned_users', 'outstanding_requests') "
	    "AND c.status IN ('pending', 'assigned') "
	    "AND ($3::text[] IS NULL OR c.status = ANY ($3::text[]))", f);
	query_scope(f, "c", 1, st->prev > 0 ? 2 : 0);
	fputs(" WINDOW w AS (PARTITION BY c.queue_type, c.user_id ORDER BY "
	    "(eu.id IS NOT NULL OR eo.id IS NOT NULL) DESC, "
	    "c.status = 'assigned' DESC, "
	    "coalesce(c.queue_position, p.queue_position), c.priority_score, "
	    "c.created_at DESC, c.id)) AS d "
	    "WHERE d.rn > 1 "
	    "ON CONFLICT (legacy_id) DO UPDATE SET "
	    "queue_type = excluded.queue_type, user_id = excluded.user_id, "
	    "reason = excluded.reason, other_id = excluded.other_id, "
	    "legacy_status = excluded.legacy_status, "
	    "pass_id = excluded.pass_id, last_run_id = excluded.last_run_id, "
	    "last_seen_at = clock_timestamp()", f);
	if ((sql = query_finish(host, run, f, &sql)) == NULL)
		return (-1);
	res = query_exec(host, run, "recording duplicate live rows", sql, 5,
	    types, params);
	free(sql);
	if (res == NULL)
		return (-1);
	*recorded = strtoll(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return (0);
}

int
plan_extent(const struct qsched_host *host, struct qsched_run *run,
    struct state *st)
{
	PGresult	*res;

	res = query_exec(host, run, "measuring call_queue", "SELECT "
	    "(pg_relation_size('call_queue'::regclass) / "
	    "current_setting('block_size')::bigint)::text, "
	    "pg_relation_filenode('call_queue'::regclass)::text", 0, NULL,
	    NULL);
	if (res == NULL)
		return (-1);
	st->blocks = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	st->filenode = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	return (0);
}

int
plan_begin(const struct qsched_host *host, struct qsched_run *run,
    struct state *st, const struct plan_counts *pc)
{
	char		 statuses[128], value[512];
	int64_t		 planned = 0, dups = 0;

	if (query_statuses(host, run, statuses, sizeof statuses) == -1)
		return (-1);
	if (query_command(host, run, "beginning the plan", "BEGIN") == -1)
		return (-1);
	/*
	 * The scan's end: the table's size now, after the hwm was taken, so
	 * every row of the pass (committed before it) lies below.
	 */
	if (plan_extent(host, run, st) == -1 ||
	    plan_positions(host, run, st, pc, statuses[0] != '\0' ?
	    statuses : NULL, &planned) == -1 ||
	    plan_duplicates(host, run, st, statuses[0] != '\0' ? statuses :
	    NULL, &dups) == -1)
		goto fail;
	state_format(st, value, sizeof value);
	if (host->checkpoint_put(run, BACKFILL_CHECKPOINT, value) == -1) {
		host->fail(run, NULL, "writing the checkpoint");
		goto fail;
	}
	if (query_command(host, run, "committing the plan", "COMMIT") == -1)
		return (-1);
	host->counter(run, "positions_planned", planned);
	host->counter(run, "duplicates_recorded", dups);
	host->log(run, QSCHED_LOG_INFO, "pass %" PRId64 ": %" PRId64 " rows "
	    "to examine; %" PRId64 " queue positions planned, %" PRId64
	    " duplicate live rows recorded as conflicts", st->pass, st->total,
	    planned, dups);
	/* Fresh statistics, so each batch looks positions and conflicts up
	 * by key instead of scanning them. */
	return (query_command(host, run, "analyzing the backfill tables",
	    "ANALYZE qsched.backfill_positions, qsched.backfill_conflicts"));
fail:
	if (PQstatus(host->conn(run)) == CONNECTION_OK)
		PQclear(PQexec(host->conn(run), "ROLLBACK"));
	return (-1);
}
