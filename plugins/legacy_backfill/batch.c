/*
 * batch.c - one batch: the rows of the window in the next range of heap
 * blocks of call_queue, copied, compared or recorded as conflicts by one
 * statement, then the checkpoint, then COMMIT.  Everything a batch did
 * commits with the checkpoint that says so, or nothing does: a worker
 * killed at any moment resumes after the last committed batch, and
 * nothing is lost or done twice.
 *
 * Keyset pagination on the physical position (ctid >= (first block, 0)
 * AND ctid < (next block, 0): a TID range scan), never OFFSET, up to the
 * table's size when the pass began.  The ids are random uuids, so id
 * order would cost one random heap read per row; block order reads the
 * heap once, in order.  It is exact: every row of the pass was committed
 * before the pass began, so it lies below that size, and it cannot move,
 * since a row that is updated is a new version outside the pass.  Only a
 * rewrite of the table (VACUUM FULL, CLUSTER) moves rows: the statement
 * reports the table's relfilenode, and a changed one rolls the batch back
 * and starts the scan again (copies already made come out "unchanged").
 * Nothing about which row wins or what position it gets depends on the
 * order rows are copied in (plan.c), so block order changes no result.
 *
 * The statement reads call_queue with a plain SELECT (ACCESS SHARE, no
 * row locks) and, before the commit, the transaction proves it wrote no
 * call_queue row and holds no stronger lock on it.
 *
 * For each legacy row the outcome is one of:
 *   inserted              copied into its queue type's table
 *   updated               its copy differed (the row changed since it was
 *                         copied) and was brought up to date
 *   unchanged             its copy is already equal
 *   duplicate_live_entry  the plan chose another live row of the user
 *   live_entry_exists     the user already has a live entry in the table
 *   no_score_row          the user has no user_call_scores row
 *   unmapped_status       a status the mapping does not know
 * and the last four are conflicts, upserted into qsched.backfill_conflicts
 * (one row per legacy row, however often it conflicts).  A row that is
 * copied after all loses its conflict row.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backfill.h"

#define BATCH_RETRIES		5	/* per batch, after a transient error */
#define BATCH_RETRY_MS		100

/* The parameters' types (pg_type oids), given so a full pass may leave
 * $3 out of the statement. */
const Oid batch_types[BATCH_NPARAMS] = {
	QUERY_TID, QUERY_INT8, QUERY_INT8, QUERY_TEXTARRAY, QUERY_TID,
	QUERY_INT8, QUERY_INT8,
};

const char *const batch_reasons[4] = {
	"duplicate_live_entry", "live_entry_exists", "no_score_row",
	"unmapped_status",
};

/*
 * Insert the rows of one queue type, in id order.  A row whose copy exists
 * already (same id), or whose user has a live entry, is not inserted:
 * "rest" looks at those.
 */
static void
batch_insert(FILE *f, const char *type, const char *cte)
{
	fprintf(f, "%s AS (INSERT INTO %s AS t (%s) SELECT ", cte,
	    query_table(type), query_columns(type));
	query_prefixed(f, "m", query_columns(type));
	fprintf(f, " FROM m WHERE m.queue_type = '%s' AND m.ok ORDER BY m.id "
	    "ON CONFLICT DO NOTHING RETURNING t.id), ", type);
}

/*
 * Bring changed copies of one queue type up to date, unless that would
 * give the user a second live entry: then the row is a conflict.
 */
static void
batch_update(FILE *f, const char *type, const char *cte)
{
	/* Every column but the id, which is the key. */
	const char	*cols = query_columns(type) + strlen("id, ");

	fprintf(f, "%s AS (UPDATE %s AS t SET (%s) = (", cte,
	    query_table(type), cols);
	query_prefixed(f, "r", cols);
	fprintf(f, ") FROM rest AS r WHERE t.id = r.id AND r.queue_type = '%s' "
	    "AND r.copied AND r.ok AND r.src_rec IS DISTINCT FROM r.dst_rec "
	    "AND NOT (r.status IN ('pending', 'assigned') AND EXISTS ("
	    "SELECT 1 FROM %s AS o WHERE o.user_id = r.user_id AND o.status "
	    "IN ('pending', 'assigned') AND o.id <> r.id)) RETURNING t.id), ",
	    type, query_table(type));
}

/* The live entry a conflicting row ran into, for the conflicts table. */
static void
batch_live_entry(FILE *f, const char *type)
{
	fprintf(f, "(SELECT o.id FROM %s AS o WHERE o.user_id = r.user_id "
	    "AND o.status IN ('pending', 'assigned') AND o.id <> r.id "
	    "LIMIT 1)", query_table(type));
}

/*
 * Parameters: $1 the first ctid, $2 hwm, $3 prev (unused in a full pass),
 * $4 statuses (text[], NULL: all), $5 the ctid to stop before, $6 pass,
 * $7 run id.
 */
char *
batch_sql(const struct qsched_host *host, struct qsched_run *run, bool prev)
{
	char	*sql = NULL;
	size_t	 len;
	FILE	*f;

	if ((f = query_open(host, run, &sql, &len)) == NULL)
		return (NULL);
	fputs("WITH src AS MATERIALIZED (SELECT c.id, c.user_id, "
	    "c.claim_id, c.queue_type, c.priority_score, c.queue_position, "
	    "c.status, c.queue_reason, c.assigned_to_agent_id, c.assigned_at, "
	    "c.callback_id, c.available_from, c.created_at, c.updated_at "
	    "FROM call_queue AS c "
	    "WHERE c.ctid >= $1::tid AND c.ctid < $5::tid "
	    "AND c.queue_type IN ('unsigned_users', 'outstanding_requests') "
	    "AND ($4::text[] IS NULL OR c.status = ANY ($4::text[]))", f);
	query_scope(f, "c", 2, prev ? 3 : 0);
	fputs("), ", f);

	/*
	 * The mapped rows, with what the conflicts table holds for them.
	 * Every lookup is a LATERAL ... LIMIT 1, so it is an index probe per
	 * row: a join or an EXISTS may be planned as a hash of the whole
	 * table (all of user_call_scores, the ever larger target) built for
	 * every batch, and a scalar subquery costs several times a probe per
	 * call.  The rows go through in user_id order, so the
	 * user_call_scores probes walk its index (and its heap, mostly in
	 * user_id order) forward instead of jumping about; positions are
	 * looked up only for the rows that have none.
	 */
	fputs("m AS MATERIALIZED (SELECT x.*, ", f);
	query_row(f, "x", NULL);
	fputs(" AS src_rec, x.has_user AND x.status IS NOT NULL AND NOT "
	    "x.loser AS ok FROM (SELECT ", f);
	query_mapped(f);
	fputs(", k.legacy_id IS NOT NULL AS had_conflict, "
	    "coalesce(k.reason = 'duplicate_live_entry' AND k.pass_id = "
	    "$6::bigint, false) AS loser "
	    "FROM (SELECT * FROM src ORDER BY user_id) AS c "
	    "LEFT JOIN LATERAL (SELECT s.user_id, s.created_at FROM "
	    "user_call_scores AS s WHERE s.user_id = c.user_id LIMIT 1) AS u "
	    "ON true "
	    "LEFT JOIN LATERAL (SELECT q.queue_position FROM "
	    "qsched.backfill_positions AS q WHERE c.queue_position IS NULL "
	    "AND q.legacy_id = c.id LIMIT 1) AS p ON true "
	    "LEFT JOIN LATERAL (SELECT b.legacy_id, b.reason, b.pass_id FROM "
	    "qsched.backfill_conflicts AS b WHERE b.legacy_id = c.id LIMIT 1) "
	    "AS k ON true) AS x), ", f);

	batch_insert(f, "unsigned_users", "ins_u");
	batch_insert(f, "outstanding_requests", "ins_o");

	/*
	 * The rows not inserted, with their copy if they have one.  The
	 * statement's snapshot predates its own inserts, so a copy found
	 * here was there before: in a first pass nearly every row is
	 * inserted and the target is hardly probed.
	 */
	fputs("ins AS (SELECT id FROM ins_u UNION ALL SELECT id FROM ins_o), "
	    "rest AS MATERIALIZED (SELECT m.*, CASE WHEN du.id IS NOT NULL "
	    "THEN du.rec ELSE dq.rec END AS dst_rec, du.id IS NOT NULL OR "
	    "dq.id IS NOT NULL AS copied FROM m "
	    "LEFT JOIN LATERAL (SELECT e.id, ", f);
	query_row(f, "e", "unsigned_users");
	fputs(" AS rec FROM unsigned_users_queue AS e WHERE m.queue_type = "
	    "'unsigned_users' AND e.id = m.id LIMIT 1) AS du ON true "
	    "LEFT JOIN LATERAL (SELECT e.id, ", f);
	query_row(f, "e", "outstanding_requests");
	fputs(" AS rec FROM outstanding_requests_queue AS e WHERE m.queue_type "
	    "= 'outstanding_requests' AND e.id = m.id LIMIT 1) AS dq ON true "
	    "WHERE NOT EXISTS (SELECT 1 FROM ins WHERE ins.id = m.id)), ", f);

	batch_update(f, "unsigned_users", "upd_u");
	batch_update(f, "outstanding_requests", "upd_o");

	fputs("res AS (SELECT m.id, m.queue_type, m.user_id, m.legacy_status, "
	    "m.src_rec, m.had_conflict, CASE "
	    "WHEN NOT m.has_user THEN 'no_score_row' "
	    "WHEN m.status IS NULL THEN 'unmapped_status' "
	    "WHEN m.loser THEN 'duplicate_live_entry' "
	    "WHEN i.id IS NOT NULL THEN 'inserted' "
	    "WHEN w.id IS NOT NULL THEN 'updated' "
	    "WHEN r.copied AND r.src_rec IS NOT DISTINCT FROM r.dst_rec "
	    "THEN 'unchanged' "
	    "ELSE 'live_entry_exists' END AS outcome "
	    "FROM m "
	    "LEFT JOIN ins AS i ON i.id = m.id "
	    "LEFT JOIN rest AS r ON r.id = m.id "
	    "LEFT JOIN (SELECT id FROM upd_u UNION ALL SELECT id FROM upd_o) "
	    "AS w ON w.id = m.id), ", f);

	fputs("kin AS (INSERT INTO qsched.backfill_conflicts AS k (legacy_id, "
	    "queue_type, user_id, reason, other_id, legacy_status, pass_id, "
	    "run_id, last_run_id) "
	    "SELECT r.id, r.queue_type, r.user_id, r.outcome, "
	    "CASE WHEN r.outcome <> 'live_entry_exists' THEN NULL "
	    "WHEN r.queue_type = 'unsigned_users' THEN ", f);
	batch_live_entry(f, "unsigned_users");
	fputs(" ELSE ", f);
	batch_live_entry(f, "outstanding_requests");
	fputs(" END, r.legacy_status, $6::bigint, $7::bigint, $7::bigint "
	    "FROM res AS r WHERE r.outcome IN ('no_score_row', "
	    "'unmapped_status', 'live_entry_exists') "
	    "ON CONFLICT (legacy_id) DO UPDATE SET "
	    "queue_type = excluded.queue_type, user_id = excluded.user_id, "
	    "reason = excluded.reason, other_id = excluded.other_id, "
	    "legacy_status = excluded.legacy_status, "
	    "pass_id = excluded.pass_id, last_run_id = excluded.last_run_id, "
	    "last_seen_at = clock_timestamp()), ", f);
	fputs("kdel AS (DELETE FROM qsched.backfill_conflicts AS k USING res "
	    "AS r WHERE k.legacy_id = r.id AND r.had_conflict AND r.outcome "
	    "IN ('inserted', 'updated', 'unchanged')) ", f);

	/* One row per type and outcome, and one (type NULL) with the
	 * relfilenode the statement saw. */
	fputs("SELECT NULL, NULL, NULL, NULL, "
	    "pg_relation_filenode('call_queue'::regclass)::text "
	    "UNION ALL SELECT r.queue_type, r.outcome, count(*)::text, ", f);
	query_digest(f, "r.src_rec", NULL);
	fputs(", NULL FROM res AS r GROUP BY r.queue_type, r.outcome", f);
	return (query_finish(host, run, f, &sql));
}

static void
batch_sleep_ms(int64_t ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void
batch_rollback(const struct qsched_host *host, struct qsched_run *run)
{
	if (PQstatus(host->conn(run)) == CONNECTION_OK)
		PQclear(PQexec(host->conn(run), "ROLLBACK"));
}

/*
 * The transaction wrote no call_queue row and holds no lock on it beyond
 * ACCESS SHARE: the source is only ever read.
 */
static int
batch_untouched(const struct qsched_host *host, struct qsched_run *run)
{
	PGresult	*res;
	int		 rc = 0;

	res = query_exec(host, run, "checking that call_queue is untouched",
	    BATCH_UNTOUCHED_SQL, 0, NULL, NULL);
	if (res == NULL)
		return (-1);
	rc = batch_untouched_result(host, run, res);
	PQclear(res);
	return (rc);
}

int
batch_untouched_result(const struct qsched_host *host, struct qsched_run *run,
    const PGresult *res)
{
	if (PQntuples(res) != 1 || strcmp(PQgetvalue(res, 0, 0), "0") != 0 ||
	    *PQgetvalue(res, 0, 1) != '\0') {
		host->message(run, "call_queue was touched by the batch "
		    "(%s rows written, locks %s): rolled back",
		    PQntuples(res) == 1 ? PQgetvalue(res, 0, 0) : "?",
		    PQntuples(res) == 1 && *PQgetvalue(res, 0, 1) != '\0' ?
		    PQgetvalue(res, 0, 1) : "AccessShareLock");
		return (-1);
	}
	return (0);
}

/* Add one result row of the batch to ST and T. */
int
batch_account(const struct qsched_host *host, struct qsched_run *run,
    PGresult *res, int r, struct state *st, struct batch_totals *t)
{
	const char	*type = PQgetvalue(res, r, 0);
	const char	*outcome = PQgetvalue(res, r, 1);
	int64_t		 n = strtoll(PQgetvalue(res, r, 2), NULL, 10);
	uint64_t	 digest;
	int		 i = state_type_index(type);

	if (i < 0 || state_digest_parse(PQgetvalue(res, r, 3), &digest) ==
	    -1) {
		host->message(run, "batch: unexpected result row (%s, %s)",
		    type, outcome);
		return (-1);
	}
	st->done += n;
	if (strcmp(outcome, "inserted") == 0) {
		st->inserted += n;
		t->inserted[i] += n;
		st->digest[i] += digest;	/* mod 2^64 */
	} else if (strcmp(outcome, "updated") == 0) {
		st->updated += n;
		t->updated[i] += n;
		st->digest[i] += digest;
	} else if (strcmp(outcome, "unchanged") == 0) {
		st->unchanged += n;
		t->unchanged[i] += n;
	} else {
		for (size_t k = 0; k < 4; k++)
			if (strcmp(outcome, batch_reasons[k]) == 0)
				t->reasons[k] += n;
		st->conflicts += n;
		t->conflicts[i] += n;
	}
	return (0);
}

/* SQLSTATEs worth another try of the same batch at once. */
bool
batch_transient(const char *sqlstate)
{
	static const char *const codes[] = {
		"23505",	/* the app inserted a live entry meanwhile */
		"40001", "40P01", "55P03",
	};

	for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++)
		if (strcmp(sqlstate, codes[i]) == 0)
			return (true);
	return (false);
}

/* Where the scan is, for messages. */
static const char *
batch_where(const struct state *st, char *buf, size_t len)
{
	snprintf(buf, len, "at block %" PRId64 " of %" PRId64, st->block,
	    st->blocks);
	return (buf);
}

/*
 * The table was rewritten since the scan began: its rows have moved, so
 * scan it again from the start, as it is now.  Rows copied already are
 * found unchanged.
 */
int
batch_rescan(const struct qsched_host *host, struct qsched_run *run,
    struct state *st)
{
	char	 value[512];

	if (plan_extent(host, run, st) == -1)
		return (-1);
	st->block = 0;
	st->done = 0;
	host->log(run, QSCHED_LOG_NOTICE, "call_queue was rewritten (VACUUM "
	    "FULL, CLUSTER?); scanning it again from the start, %" PRId64
	    " blocks", st->blocks);
	state_format(st, value, sizeof value);
	if (host->checkpoint_put(run, BACKFILL_CHECKPOINT, value) == -1) {
		host->fail(run, NULL, "writing the checkpoint");
		return (-1);
	}
	return (0);
}

/*
 * One try: BEGIN, the statement, the checks, the checkpoint, COMMIT.
 * Returns 1 (done, or rescan), -1 (failed, the run says why), or -2 with
 * *FAILED the failed statement's result for the caller to judge.
 */
static int
batch_try(const struct qsched_host *host, struct qsched_run *run,
    const char *sql, const char *const *params, struct state *st,
    int64_t blocks, struct batch_totals *t, PGresult **failed)
{
	struct state	 next = *st;
	struct batch_totals tnext = *t;
	char		 value[512];
	PGresult	*res;
	int64_t		 filenode = -1;

	*failed = NULL;
	/*
	 * The statement's estimated cost is large (many CTEs), so the server
	 * would JIT-compile it for every batch: that costs more than the
	 * batch itself takes to run.
	 */
	if (query_command(host, run, "beginning a batch", "BEGIN; "
	    "SET LOCAL jit = off") == -1)
		return (-1);
	res = PQexecParams(host->conn(run), sql, 7, batch_types, params, NULL,
	    NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*failed = res;
		return (-2);
	}
	for (int r = 0; r < PQntuples(res); r++) {
		if (PQgetisnull(res, r, 0)) {
			filenode = strtoll(PQgetvalue(res, r, 4), NULL, 10);
			continue;
		}
		if (batch_account(host, run, res, r, &next, &tnext) == -1) {
			PQclear(res);
			batch_rollback(host, run);
			return (-1);
		}
	}
	PQclear(res);
	if (filenode != st->filenode) {
		batch_rollback(host, run);
		return (batch_rescan(host, run, st) == -1 ? -1 : 1);
	}
	next.block += blocks;
	next.batches++;
	tnext.batches++;
	if (batch_untouched(host, run) == -1) {
		batch_rollback(host, run);
		return (-1);
	}
	state_format(&next, value, sizeof value);
	if (host->checkpoint_put(run, BACKFILL_CHECKPOINT, value) == -1) {
		host->fail(run, NULL, "writing the checkpoint");
		batch_rollback(host, run);
		return (-1);
	}
	if (query_command(host, run, "committing a batch", "COMMIT") == -1)
		return (-1);
	*st = next;
	*t = tnext;
	return (1);
}

int
batch_run(const struct qsched_host *host, struct qsched_run *run,
    struct state *st, int64_t *size, struct batch_totals *t)
{
	char		 h[24], p[24], first[48], stop[48], pass[24], rid[24];
	char		 statuses[128], where[64], *sql;
	const char	*params[7] = { first, h, p, NULL, stop, pass, rid };
	const char	*sqlstate;
	PGresult	*failed;
	int64_t		 blocks;
	int		 rc, tries = 0;

	if (st->block >= st->blocks)
		return (0);
	if (query_statuses(host, run, statuses, sizeof statuses) == -1)
		return (-1);
	if ((sql = batch_sql(host, run, st->prev > 0)) == NULL)
		return (-1);
	params[3] = statuses[0] != '\0' ? statuses : NULL;
	snprintf(h, sizeof h, "%" PRId64, st->hwm);
	snprintf(p, sizeof p, "%" PRId64, st->prev);
	snprintf(pass, sizeof pass, "%" PRId64, st->pass);
	snprintf(rid, sizeof rid, "%" PRId64, host->run_id(run));
	for (;;) {
		st->size = *size;
		blocks = state_batch_blocks(st, *size);
		snprintf(first, sizeof first, "(%" PRId64 ",0)", st->block);
		snprintf(stop, sizeof stop, "(%" PRId64 ",0)", st->block +
		    blocks);
		if ((rc = batch_try(host, run, sql, params, st, blocks, t,
		    &failed)) != -2)
			break;
		sqlstate = PQresultErrorField(failed, PG_DIAG_SQLSTATE);
		if (sqlstate == NULL)
			sqlstate = "";
		batch_rollback(host, run);
		if (host->cancelled(run) ||
		    PQstatus(host->conn(run)) != CONNECTION_OK) {
			host->fail(run, failed, "copying a batch");
			PQclear(failed);
			rc = -1;
			break;
		}
		if (strcmp(sqlstate, "57014") == 0 &&
		    *size > BACKFILL_BATCH_MIN) {
			/* statement_timeout: the same rows, in smaller bites. */
			*size = *size / 2 < BACKFILL_BATCH_MIN ?
			    BACKFILL_BATCH_MIN : *size / 2;
			t->timeouts++;
			host->log(run, QSCHED_LOG_WARNING, "batch %s hit the "
			    "statement timeout; retrying with %" PRId64 " rows",
			    batch_where(st, where, sizeof where), *size);
			PQclear(failed);
			continue;
		}
		if (batch_transient(sqlstate) && tries < BATCH_RETRIES) {
			tries++;
			t->retries++;
			host->log(run, QSCHED_LOG_NOTICE, "batch %s: SQLSTATE "
			    "%s; retrying (%d of %d)", batch_where(st, where,
			    sizeof where), sqlstate, tries, BATCH_RETRIES);
			PQclear(failed);
			batch_sleep_ms(BATCH_RETRY_MS * tries);
			continue;
		}
		host->fail(run, failed, "copying the batch %s",
		    batch_where(st, where, sizeof where));
		PQclear(failed);
		rc = -1;
		break;
	}
	free(sql);
	return (rc);
}
