/*
 * purge.c - delete what the archive holds, and the drop.
 *
 * The purge is driven by the archive, not by call_queue: only a row with
 * an identical archived copy may go, and the archive holds exactly those
 * candidates.  Each archive batch recorded in qsched_legacy.archive_map
 * which blocks of the archive hold the copies of which blocks of
 * call_queue; a purge batch (mode=map) joins those two block ranges, two
 * TID range scans hashed together.  A row the app moved since (an
 * UPDATE) is not found there and stays, counted as changed.  The table's
 * purge, and a queue type archived before the map existed, walk the
 * archive by block range instead (mode=probe) and find each call_queue
 * row by its primary key, one probe per row.  A batch is one statement
 * under SET LOCAL lock_timeout, committed with its checkpoint: it deletes
 * the call_queue rows equal, column by column, to their archived copy
 * that no row of any table whose foreign key references call_queue (on
 * the app: call_sessions.call_queue_id, ON DELETE RESTRICT) uses.  The
 * comparison is in the DELETE itself, so a row the app changes between
 * the read and the delete is compared again (READ COMMITTED rechecks the
 * new version) and kept.  A batch that hits lock_timeout, a deadlock or
 * a session inserted meanwhile (the RESTRICT check, 23503) is retried
 * with backoff, lock_retries times, before the run gives up with the
 * SQLSTATE (transient: the core retries the run, which resumes at the
 * checkpoint).  What stays is counted once, at the end of the pass: the
 * rows still referenced (kept), and the others (changed since archived,
 * or written after the archive was proved: never deleted).
 *
 * DROP TABLE call_queue runs only when nothing blocks it (see
 * purge_drop_ready), never with CASCADE.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deprecation.h"

static bool
purge_transient(const PGresult *res)
{
	const char	*st = res != NULL ?
	    PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return (st != NULL && (strcmp(st, "55P03") == 0 ||
	    strcmp(st, "40P01") == 0 || strcmp(st, "40001") == 0 ||
	    strcmp(st, "23503") == 0));
}

struct purge_pass {
	char		 key[64];
	const char	*object;
	bool		 map;		/* mode=map, else mode=probe */
	struct range	 r;		/* of call_queue (map), the archive */
	int64_t		 done, deleted, kept, changed, total;
	bool		 counted;	/* kept counted by every batch */
};

/*
 * "mode=M block=B blocks=N done=N deleted=N total=N kept=N"; 1 for a
 * checkpoint of the id-ordered passes of earlier versions.  Without
 * kept= (a pass begun by the previous version), what stays is counted
 * at the end of the pass instead.
 */
static int
purge_parse(const char *v, struct purge_pass *p)
{
	long long	 b, n, d, x, t, k;
	char		 mode[8];
	int		 got;

	if (strncmp(v, "after=", 6) == 0)
		return (1);
	got = sscanf(v, "mode=%5s block=%lld blocks=%lld done=%lld "
	    "deleted=%lld total=%lld kept=%lld", mode, &b, &n, &d, &x, &t, &k);
	if (got < 6 || (strcmp(mode, "map") != 0 && strcmp(mode, "probe") !=
	    0))
		return (-1);
	p->map = strcmp(mode, "map") == 0;
	p->r.block = b;
	p->r.blocks = n;
	p->done = d;
	p->deleted = x;
	p->total = t;
	p->counted = got == 7;
	p->kept = p->counted ? k : 0;
	return (0);
}

static int
purge_save(const struct qsched_host *host, struct qsched_run *run,
    const struct purge_pass *p)
{
	char	 cp[256];

	if (p->counted)
		snprintf(cp, sizeof cp, "mode=%s block=%" PRId64 " blocks=%"
		    PRId64 " done=%" PRId64 " deleted=%" PRId64 " total=%"
		    PRId64 " kept=%" PRId64, p->map ? "map" : "probe",
		    p->r.block, p->r.blocks, p->done, p->deleted, p->total,
		    p->kept);
	else
		snprintf(cp, sizeof cp, "mode=%s block=%" PRId64 " blocks=%"
		    PRId64 " done=%" PRId64 " deleted=%" PRId64 " total=%"
		    PRId64, p->map ? "map" : "probe", p->r.block, p->r.blocks,
		    p->done, p->deleted, p->total);
	if (host->checkpoint_put(run, p->key, cp) == -1) {
		host->fail(run, NULL, "writing the purge checkpoint");
		return (-1);
	}
	return (0);
}

/*
 * The next map entry of P's object: the call_queue blocks [from, to) and
 * the archive's tids [LO, HI] of their copies.  0 found, 1 none left.
 */
static int
purge_next_map(const struct qsched_host *host, struct qsched_run *run,
    struct purge_pass *p, int64_t *from, int64_t *to, char *lo, char *hi,
    size_t len)
{
	char		 b[24];
	const char	*params[2] = { p->object, b };
	PGresult	*res;

	snprintf(b, sizeof b, "%" PRId64, p->r.block);
	res = host->exec(run, "reading the archive map", "SELECT src_from, "
	    "src_to, arc_from, arc_to FROM " DEP_MAP " WHERE object = $1 AND "
	    "src_from >= $2::bigint ORDER BY src_from LIMIT 1", 2, params);
	if (res == NULL)
		return (-1);
	if (PQntuples(res) == 0) {
		PQclear(res);
		return (1);
	}
	*from = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	*to = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	snprintf(lo, len, "%s", PQgetvalue(res, 0, 2));
	snprintf(hi, len, "%s", PQgetvalue(res, 0, 3));
	PQclear(res);
	return (0);
}

/*
 * One batch; 1 a batch done, 0 none left, -1 failed (FAILED kept for the
 * caller).
 */
static int
purge_batch(const struct qsched_host *host, struct qsched_run *run,
    const char *sql, struct purge_pass *p, PGresult **failed)
{
	PGconn		*conn = host->conn(run);
	char		 lo[32], hi[32], clo[32], chi[32], lt[200];
	const char	*params[4] = { lo, hi, clo, chi };
	struct purge_pass next = *p;
	PGresult	*res;
	int64_t		 n, del, from, to;
	int		 rc;

	*failed = NULL;
	if (p->map) {
		if ((rc = purge_next_map(host, run, p, &from, &to, lo, hi,
		    sizeof lo)) != 0)
			return (rc == 1 ? 0 : -1);
		range_tid(clo, sizeof clo, from);
		range_tid(chi, sizeof chi, to);
		next.r.block = to;
	} else {
		if (p->r.block >= p->r.blocks)
			return (0);
		range_tid(lo, sizeof lo, p->r.block);
		range_tid(hi, sizeof hi, p->r.block + p->r.step);
		next.r.block = p->r.block + p->r.step;
	}
	/*
	 * mode=map: the two ranges hashed together, never a probe of
	 * call_queue's key per row; mode=probe: exactly that, as without
	 * statistics on the fresh archive the planner may prefer hashing
	 * all of call_queue.
	 */
	snprintf(lt, sizeof lt, "SET LOCAL lock_timeout = %" PRId64 "; "
	    "SET LOCAL enable_mergejoin = off; SET LOCAL %s = off",
	    host->opt_duration_ms(run, "lock_timeout"), p->map ?
	    "enable_nestloop" : "enable_hashjoin");
	if (health_command(host, run, "beginning a purge batch", "BEGIN") == -1 ||
	    health_command(host, run, "setting lock_timeout", lt) == -1)
		return (-1);
	/* Not host->exec: a lock timeout here is retried, not recorded. */
	res = PQexecParams(conn, sql, p->map ? 4 : 2, NULL, params, NULL, NULL,
	    0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*failed = res;
		dep_rollback(host, run);
		return (-1);
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	del = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	/* The archived rows some row still references: kept. */
	next.kept = p->kept + n - strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	PQclear(res);
	next.done = p->done + n;
	next.deleted = p->deleted + del;
	if (purge_save(host, run, &next) == -1) {
		dep_rollback(host, run);
		return (-1);
	}
	if (health_command(host, run, "committing a purge batch", "COMMIT") == -1)
		return (-1);
	*p = next;
	host->add_rows(run, del);
	return (1);
}

/*
 * The batch statement.  $1, $2: the archive's tids, [$1, $2) (probe) or
 * [$1, $2] (map); $3, $4: call_queue's, [$3, $4) (map).  FKS is the NOT
 * EXISTS clause of the referencing tables over alias c.  A row that gains
 * a reference after the check is kept by its RESTRICT foreign key: the
 * batch fails with 23503 and is retried.  It returns the archived rows of
 * the batch, the rows deleted, and the archived rows nothing references
 * (the others are kept, counted here rather than by a scan at the end).
 */
static char *
purge_sql(const struct qsched_host *host, struct qsched_run *run,
    bool map, const char *pred, const char *fks)
{
	const char	*upper = map ? "<=" : "<";
	char		*sql;

	/*
	 * The archived copies (c), each with its reference check, are read
	 * once: the checks run once per archived row of the object, on the
	 * archive's side of the join, and their result serves both the
	 * DELETE and the count of what is kept.  In map mode call_queue's
	 * blocks are filtered to the object's type too (its row must equal
	 * the copy, type included): only those are hashed.
	 */
	if (asprintf(&sql, "WITH c AS MATERIALIZED (SELECT c AS arc, true "
	    "%2$sAS free FROM " DEP_ARCHIVE " AS c WHERE ctid >= $1::tid AND "
	    "ctid %3$s $2::tid AND %1$s), "
	    "d AS (DELETE FROM call_queue AS q USING c WHERE %4$s%5$s%6$sc.free "
	    "AND q.id = (c.arc).id AND ROW((c.arc).*) IS NOT DISTINCT FROM "
	    "ROW(q.*) RETURNING 1) "
	    "SELECT count(*), (SELECT count(*) FROM d), count(*) FILTER "
	    "(WHERE free) FROM c", pred, fks, upper,
	    map ? "q.ctid >= $3::tid AND q.ctid < $4::tid AND q." : "",
	    map ? pred : "", map ? " AND " : "") == -1) {
		host->message(run, "out of memory");
		return (NULL);
	}
	return (sql);
}

/*
 * Start a pass: its mode (MAP: map if the object has a map), extent and
 * total (ARCHIVED: the rows the proof counted in the archive, or -1 to
 * count them; the total only measures progress).
 */
static int
purge_start(const struct qsched_host *host, struct qsched_run *run,
    const char *pred, bool map, int64_t archived, struct purge_pass *p)
{
	PGresult	*res;
	char		*sql;

	if (archived >= 0)
		p->total = archived;
	else {
		if (asprintf(&sql, "SELECT count(*) FROM " DEP_ARCHIVE
		    " WHERE %s", pred) == -1) {
			host->message(run, "out of memory");
			return (-1);
		}
		res = host->exec(run, "counting rows to purge", sql, 0, NULL);
		free(sql);
		if (res == NULL)
			return (-1);
		p->total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
	}
	p->counted = true;
	if (range_extent(host, run, DEP_ARCHIVE, &p->r) == -1)
		return (-1);
	p->r.block = 0;
	if (map) {
		res = host->exec(run, "reading the archive map", "SELECT "
		    "count(*), coalesce(max(src_to), 0) FROM " DEP_MAP " WHERE "
		    "object = $1", 1, &p->object);
		if (res == NULL)
			return (-1);
		p->map = strtoll(PQgetvalue(res, 0, 0), NULL, 10) > 0;
		if (p->map)
			p->r.blocks = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		PQclear(res);
	}
	return (purge_save(host, run, p));
}

/*
 * The end of a pass: the rows of PRED left in call_queue, kept because
 * referenced, or else changed since archived (or never archived).  The
 * batches counted the kept ones (P->counted): what else is left changed.
 * A pass begun by an earlier version counts both here.
 */
static int
purge_left(const struct qsched_host *host, struct qsched_run *run,
    const char *pred, const char *fks, struct purge_pass *p)
{
	PGresult	*res;
	char		*sql;
	int64_t		 left;
	int		 rc;

	/* Two scans, the second an anti-join the planner may hash: cheaper
	 * than one scan probing each row. */
	if (p->counted)
		rc = asprintf(&sql, "SELECT count(*) FROM call_queue AS c WHERE "
		    "%s", pred);
	else
		rc = asprintf(&sql, "SELECT (SELECT count(*) FROM call_queue "
		    "AS c WHERE %1$s), (SELECT count(*) FROM call_queue AS c "
		    "WHERE %1$s %2$s)", pred, fks);
	if (rc == -1) {
		host->message(run, "out of memory");
		return (-1);
	}
	res = host->exec(run, "counting the rows left", sql, 0, NULL);
	free(sql);
	if (res == NULL)
		return (-1);
	left = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (p->counted) {
		/* A row referenced when its batch ran and released since
		 * is still counted kept: it stays archived and in place. */
		p->changed = left > p->kept ? left - p->kept : 0;
		p->kept = left - p->changed;
	} else {
		p->changed = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		p->kept = left - p->changed;
	}
	PQclear(res);
	return (0);
}

int
purge_run(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj, int index, struct health *h, int64_t *deleted,
    int64_t *kept, char *why, size_t len)
{
	const char	*pred = index == DEP_TABLE ? "true" :
	    archive_types(index);
	struct purge_pass p;
	struct range	 now;
	PGresult	*failed;
	char		*fks, *names, *sql, *value;
	int64_t		 pause = host->opt_duration_ms(run, "pause");
	int64_t		 tries = host->opt_int(run, "lock_retries"), wait;
	int		 rc, attempt = 0;

	memset(&p, 0, sizeof p);
	snprintf(p.key, sizeof p.key, "purge_%s", obj->name);
	p.object = obj->name;
	if ((fks = gates_fk_clause(host, run, true, &names, NULL)) == NULL)
		return (-1);
	sql = NULL;
	rc = 1;
	if ((value = host->checkpoint_get(run, p.key)) != NULL) {
		rc = purge_parse(value, &p);
		if (rc == -1)
			host->message(run, "checkpoint %s of job %s is "
			    "unreadable: \"%.100s\"", p.key, host->job(run),
			    value);
		free(value);
		/* The step follows batch_size as it is now. */
		if (rc == 0) {
			if (range_extent(host, run, DEP_ARCHIVE, &now) == -1)
				rc = -1;
			p.r.step = now.step;
		}
	}
	/* A pass of an earlier version starts over: deleting is
	 * idempotent, and what it deleted is not found again. */
	if (rc == 1)
		rc = purge_start(host, run, pred, index != DEP_TABLE,
		    index != DEP_TABLE && obj->archived > 0 ? obj->archived :
		    -1, &p);
	if (rc == 0 && (sql = purge_sql(host, run, p.map, pred, fks)) == NULL)
		rc = -1;
	while (rc == 0) {
		if (host->cancelled(run))
			break;
		if (health_wait(host, run, h) == -1) {
			rc = host->cancelled(run) ? 1 : -1;
			break;
		}
		host->state(run, "purging %s %" PRId64 "%%", obj->name,
		    p.r.blocks > 0 ? p.r.block * 100 / p.r.blocks : 100);
		rc = purge_batch(host, run, sql, &p, &failed);
		if (rc == -1 && failed != NULL && purge_transient(failed) &&
		    attempt < tries && !host->cancelled(run)) {
			attempt++;
			wait = 100LL << (attempt < 6 ? attempt : 6);
			host->state(run, "throttled: %s on call_queue, retry %d "
			    "of %" PRId64, PQresultErrorField(failed,
			    PG_DIAG_SQLSTATE), attempt, tries);
			host->log(run, QSCHED_LOG_WARNING, "purge batch: %s"
			    "retrying in %" PRId64 " ms", PQresultErrorMessage(
			    failed), wait);
			PQclear(failed);
			rc = health_sleep(host, run, wait) ? 0 : 1;
			continue;
		}
		if (rc == -1) {
			if (failed != NULL) {
				host->fail(run, failed, "purging %s (after %d "
				    "retries)", obj->name, attempt);
				PQclear(failed);
			}
			break;
		}
		if (rc == 0) {
			rc = 2;
			break;
		}
		host->progress(run, p.done < p.total ? p.done : p.total,
		    p.total);
		attempt = 0;
		rc = 0;
		if (pause > 0 && !health_sleep(host, run, pause))
			rc = 1;
	}
	free(sql);
	free(fks);
	fks = NULL;
	if (rc == 2 && ((fks = gates_fk_clause(host, run, false, NULL, NULL)) ==
	    NULL || purge_left(host, run, pred, fks, &p) == -1))
		rc = -1;
	free(fks);
	*deleted = p.deleted;
	*kept = p.kept;
	if (rc == -1) {
		free(names);
		return (-1);
	}
	snprintf(why, len, "%" PRId64 " rows deleted, %" PRId64 " kept as "
	    "referenced by %s, %" PRId64 " kept as changed since archived",
	    p.deleted, p.kept, names[0] != '\0' ? names : "no foreign key",
	    p.changed);
	free(names);
	if (rc != 2)
		return (0);
	if (host->checkpoint_clear(run, p.key) == -1) {
		host->fail(run, NULL, "clearing the purge checkpoint");
		return (-1);
	}
	return (p.changed == 0 ? 1 : 2);
}

int
purge_drop_ready(const struct qsched_host *host, struct qsched_run *run,
    const struct object *objs, char *why, size_t len)
{
	const struct object *t = &objs[DEP_TABLE];
	const char	*confirm = host->opt_string(run, "confirm");
	char		 digest[40], proof[512];
	bool		 ok;

	*why = '\0';
	for (int i = 0; i < DEP_NOBJECTS; i++)
		if (objs[i].state != ST_PURGED)
			dep_appendf(why, len, "%s%s is %s, not purged",
			    *why != '\0' ? "; " : "", objs[i].name,
			    ledger_states[objs[i].state]);
	if (!t->gates[3].ok)
		dep_appendf(why, len, "%s%s", *why != '\0' ? "; " : "",
		    t->gates[3].detail);
	if (t->digest[0] == '\0')
		dep_appendf(why, len, "%sno archive proof yet",
		    *why != '\0' ? "; " : "");
	else {
		if (archive_proof(host, run, DEP_TABLE, true, -1, NULL, &ok,
		    digest, sizeof digest, proof, sizeof proof) == -1)
			return (-1);
		if (!ok || strcmp(digest, t->digest) != 0)
			dep_appendf(why, len, "%sthe archive proof fails: "
			    "%s (digest %s, recorded %s)", *why != '\0' ?
			    "; " : "", proof, digest, t->digest);
	}
	if (!host->opt_bool(run, "allow_drop"))
		dep_appendf(why, len, "%sallow_drop is false", *why != '\0' ?
		    "; " : "");
	if (*confirm == '\0')
		dep_appendf(why, len, "%sconfirm is not set (it must repeat "
		    "the archive digest%s%s)", *why != '\0' ? "; " : "",
		    t->digest[0] != '\0' ? " " : " shown once archived",
		    t->digest);
	else if (strcmp(confirm, t->digest) != 0)
		dep_appendf(why, len, "%sconfirm \"%s\" is not the archive "
		    "digest%s%s", *why != '\0' ? "; " : "", confirm,
		    t->digest[0] != '\0' ? " " : " (none yet)", t->digest);
	return (*why == '\0');
}

int
purge_drop(const struct qsched_host *host, struct qsched_run *run)
{
	char	 lt[48];

	snprintf(lt, sizeof lt, "SET LOCAL lock_timeout = %" PRId64,
	    host->opt_duration_ms(run, "lock_timeout"));
	if (health_command(host, run, "beginning the drop", "BEGIN") == -1 ||
	    health_command(host, run, "setting lock_timeout", lt) == -1 ||
	    health_command(host, run, "dropping call_queue",
	    "DROP TABLE call_queue RESTRICT") == -1) {
		dep_rollback(host, run);
		return (-1);
	}
	return (0);	/* the caller records the transition and commits */
}
