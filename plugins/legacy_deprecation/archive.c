/*
 * archive.c - archive before delete: copy call_queue rows into
 * qsched_legacy.call_queue_archive (same columns, LIKE call_queue) in
 * batches of heap blocks (range.c), each committed with its checkpoint,
 * so a killed run resumes after the last committed batch and archives
 * every row exactly once; then prove the archive equals the source.
 *
 * The archive has no index: the purge and the restore walk it by block
 * range too, and the proof aggregates.  What keeps a row from being
 * archived twice is the checkpoint, committed with the rows it counts.
 * A row the app moves while the pass runs (an UPDATE, though the gates
 * say no one writes these types any more) could be missed or copied
 * twice: the proof then fails, and the next run starts the pass over.  A
 * rewrite of call_queue (VACUUM FULL, CLUSTER) starts it over at once.
 *
 * The proof, per queue type: the count and an order-independent digest
 * (the sum, as numeric, of hash_record_extended() of each row: a 64-bit
 * hash of every column by its type's hash function, five times cheaper
 * than md5 of the row's text) of the source equal those of the archive;
 * for a queue type, the archive's side is what the batches summed over
 * the rows they inserted (kept in the checkpoint, committed with them),
 * so the proof reads call_queue and not the archive back; the drop's
 * proof, and a pass resumed from a checkpoint without its sum, read it;
 * after the purge, and for the table, also no source row lacks an
 * identical archived copy (compared column by column).  The object's
 * archive digest, the value the drop's confirm option must repeat, is
 * the first 16 hex digits of md5 over the per-type "type count sum"
 * lines.
 *
 * Restore puts every archived row that is no longer in call_queue back,
 * byte for byte, in the same kind of batches, then empties the archive.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deprecation.h"

#define ARCHIVE_HASH(a)	"hash_record_extended(" a ", 0)::numeric"
/* A sum of 64-bit hashes as decimal text: 20 digits and a sign per
 * row's worth, 40 for any table that fits on a disk. */
#define ARCHIVE_SUM_LEN		48
#define ARCHIVE_SUM_SCAN	"47"

/* Which rows an object's archive pass (and purge) covers. */
static const char *const archive_preds[DEP_NOBJECTS] = {
	"queue_type = 'unsigned_users'",
	"queue_type = 'outstanding_requests'",
	/* The table: what the queue types left, i.e. the other types. */
	"queue_type NOT IN ('unsigned_users', 'outstanding_requests')",
};

/* The queue type of each object's pass (the table's: several). */
static const char *const archive_type_names[DEP_NOBJECTS] = {
	"unsigned_users", "outstanding_requests", NULL,
};

const char *
archive_types(int index)
{
	return (archive_preds[index]);
}

/* The proof of the table covers every row, whatever its type. */
static const char *
archive_proof_pred(int index)
{
	return (index == DEP_TABLE ? "true" : archive_preds[index]);
}

/*
 * Checkpoint "block=B blocks=N filenode=F done=N total=N sum=S", S the
 * sum of the hashes of the rows the committed batches copied.  0 read
 * (SUM "" when the checkpoint has none: the proof then reads the
 * archive), 1 a checkpoint of the id-ordered passes of earlier versions
 * (the pass starts over), -1 unreadable.
 */
static int
archive_checkpoint(const char *value, struct range *r, int64_t *done,
    int64_t *total, char *sum)
{
	long long	 b, n, f, d, t;
	int		 got;

	*sum = '\0';
	got = sscanf(value, "block=%lld blocks=%lld filenode=%lld done=%lld "
	    "total=%lld sum=%" ARCHIVE_SUM_SCAN "[-0-9]", &b, &n, &f, &d, &t,
	    sum);
	if (got == 5 || got == 6) {
		if (got == 5)
			*sum = '\0';
		r->block = b;
		r->blocks = n;
		r->filenode = f;
		*done = d;
		*total = t;
		return (0);
	}
	if (strncmp(value, "after=", 6) == 0)
		return (1);
	return (-1);
}

static int
archive_count(const struct qsched_host *host, struct qsched_run *run,
    const char *what, const char *sql, int64_t *n)
{
	PGresult	*res;

	if ((res = host->exec(run, what, sql, 0, NULL)) == NULL)
		return (-1);
	*n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (0);
}

static int
archive_save(const struct qsched_host *host, struct qsched_run *run,
    const char *key, const struct range *r, int64_t done, int64_t total,
    const char *sum)
{
	char	 cp[224];

	snprintf(cp, sizeof cp, "block=%" PRId64 " blocks=%" PRId64
	    " filenode=%" PRId64 " done=%" PRId64 " total=%" PRId64 "%s%s",
	    r->block, r->blocks, r->filenode, done, total, *sum != '\0' ?
	    " sum=" : "", sum);
	if (host->checkpoint_put(run, key, cp) == -1) {
		host->fail(run, NULL, "writing the archive checkpoint");
		return (-1);
	}
	return (0);
}

/*
 * A fresh pass: what an earlier one (rolled back, or disproved) left of
 * these types goes, in one transaction with the start checkpoint.
 */
static int
archive_start(const struct qsched_host *host, struct qsched_run *run,
    const char *key, const char *pred, struct range *r, int64_t *done,
    int64_t *total, char *sum)
{
	char	*sql;
	int	 rc;

	if (asprintf(&sql, "SELECT count(*) FROM call_queue WHERE %s",
	    pred) == -1) {
		host->message(run, "out of memory");
		return (-1);
	}
	rc = archive_count(host, run, "counting rows to archive", sql, total);
	free(sql);
	if (rc == -1 || range_extent(host, run, "call_queue", r) == -1)
		return (-1);
	r->block = 0;
	*done = 0;
	snprintf(sum, ARCHIVE_SUM_LEN, "0");
	if (asprintf(&sql, "BEGIN; DELETE FROM " DEP_ARCHIVE " WHERE %s; "
	    "DELETE FROM " DEP_MAP " WHERE object = '%s'", pred,
	    key + strlen("archive_")) == -1) {
		host->message(run, "out of memory");
		return (-1);
	}
	rc = health_command(host, run, "starting the archive", sql);
	free(sql);
	if (rc == -1 || archive_save(host, run, key, r, 0, *total, sum) == -1 ||
	    health_command(host, run, "starting the archive", "COMMIT") == -1) {
		dep_rollback(host, run);
		return (-1);
	}
	return (0);
}

/*
 * One batch: copy the rows of PRED in the next R->step blocks, adding
 * the hashes of the copies to SUM (unless "").  1 done, 2 call_queue was
 * rewritten (nothing copied: start over).
 */
static int
archive_batch(const struct qsched_host *host, struct qsched_run *run,
    const char *key, const char *pred, struct range *r, int64_t *done,
    int64_t total, char *sum)
{
	char		 lo[32], hi[32], from[24], to[24], *sql;
	char		 next_sum[ARCHIVE_SUM_LEN];
	const char	*params[6] = { lo, hi, key + strlen("archive_"), from,
	    to, *sum != '\0' ? sum : NULL };
	struct range	 next = *r;
	PGresult	*res;
	int64_t		 n;

	range_tid(lo, sizeof lo, r->block);
	range_tid(hi, sizeof hi, r->block + r->step);
	snprintf(from, sizeof from, "%" PRId64, r->block);
	snprintf(to, sizeof to, "%" PRId64, r->block + r->step);
	/*
	 * The hashes of the copies as inserted (the proof's archive side,
	 * summed here so the proof need not read the archive back).
	 */
	if (asprintf(&sql, "WITH i AS (INSERT INTO " DEP_ARCHIVE " AS a "
	    "SELECT * FROM call_queue WHERE ctid >= $1::tid AND ctid < "
	    "$2::tid AND %s RETURNING a.ctid, " ARCHIVE_HASH("a") " AS h), "
	    "m AS (INSERT INTO " DEP_MAP " SELECT $3, $4::bigint, $5::bigint, "
	    "min(ctid), max(ctid) FROM i HAVING count(*) > 0 RETURNING 1) "
	    "SELECT count(*), pg_relation_filenode('call_queue'), (SELECT "
	    "count(*) FROM m), ($6::numeric + coalesce(sum(h), 0))::text "
	    "FROM i", pred) == -1) {
		host->message(run, "out of memory");
		return (-1);
	}
	if (health_command(host, run, "beginning an archive batch", "BEGIN") ==
	    -1) {
		free(sql);
		return (-1);
	}
	res = host->exec(run, "archiving a batch", sql, 6, params);
	free(sql);
	if (res == NULL) {
		dep_rollback(host, run);
		return (-1);
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (strtoll(PQgetvalue(res, 0, 1), NULL, 10) != r->filenode) {
		PQclear(res);
		dep_rollback(host, run);
		return (2);
	}
	snprintf(next_sum, sizeof next_sum, "%s", *sum != '\0' &&
	    !PQgetisnull(res, 0, 3) ? PQgetvalue(res, 0, 3) : "");
	PQclear(res);
	next.block = r->block + r->step;
	if (archive_save(host, run, key, &next, *done + n, total, next_sum) ==
	    -1) {
		dep_rollback(host, run);
		return (-1);
	}
	if (health_command(host, run, "committing an archive batch", "COMMIT") ==
	    -1)
		return (-1);
	*r = next;
	*done += n;
	memcpy(sum, next_sum, sizeof next_sum);
	host->add_rows(run, n);
	return (1);
}

/* The pass reached its last block: 1 if the table grew meanwhile. */
static int
archive_grew(const struct qsched_host *host, struct qsched_run *run,
    struct range *r)
{
	struct range	 now;

	if (range_extent(host, run, "call_queue", &now) == -1)
		return (-1);
	if (now.blocks <= r->blocks)
		return (0);
	r->blocks = now.blocks;
	return (1);
}

int
archive_run(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj, int index, struct health *h, bool *proved,
    char *why, size_t len)
{
	const char	*pred = archive_preds[index];
	char		 key[64], cp[32], digest[40], *value;
	char		 sum[ARCHIVE_SUM_LEN] = "";
	const char	*params[3];
	struct range	 r;
	int64_t		 done = 0, total = 0, pause;
	PGresult	*res;
	int		 rc;

	*proved = false;
	pause = host->opt_duration_ms(run, "pause");
	snprintf(key, sizeof key, "archive_%s", obj->name);
	rc = 1;
	if ((value = host->checkpoint_get(run, key)) != NULL) {
		rc = archive_checkpoint(value, &r, &done, &total, sum);
		if (rc == -1)
			host->message(run, "checkpoint %s of job %s is "
			    "unreadable: \"%.100s\"; delete it to start the "
			    "archive of %s over", key, host->job(run), value,
			    obj->name);
		free(value);
		if (rc == -1)
			return (-1);
		if (rc == 0) {
			struct range	 now;

			/* The step follows batch_size as it is now. */
			if (range_extent(host, run, "call_queue", &now) == -1)
				return (-1);
			r.step = now.step;
			host->log(run, QSCHED_LOG_NOTICE, "archive of %s "
			    "resumes at block %" PRId64 " of %" PRId64 ", %"
			    PRId64 " of %" PRId64 " rows", obj->name, r.block,
			    r.blocks, done, total);
		}
	}
	if (rc == 1 && archive_start(host, run, key, pred, &r, &done,
	    &total, sum) == -1)
		return (-1);
	host->progress(run, done, total);
	for (;;) {
		if (host->cancelled(run))
			return (0);
		if (r.block >= r.blocks) {
			if ((rc = archive_grew(host, run, &r)) == -1)
				return (-1);
			if (rc == 0)
				break;
		}
		if (health_wait(host, run, h) == -1)
			return (host->cancelled(run) ? 0 : -1);
		host->state(run, "archiving %s %" PRId64 "%%", obj->name,
		    r.blocks > 0 ? r.block * 100 / r.blocks : 100);
		rc = archive_batch(host, run, key, pred, &r, &done, total, sum);
		if (rc == -1)
			return (host->cancelled(run) ? 0 : -1);
		if (rc == 2) {
			host->log(run, QSCHED_LOG_NOTICE, "call_queue was "
			    "rewritten (VACUUM FULL, CLUSTER?): the archive of "
			    "%s starts over", obj->name);
			if (archive_start(host, run, key, pred, &r, &done,
			    &total, sum) == -1)
				return (-1);
			continue;
		}
		host->progress(run, done < total ? done : total, total);
		if (pause > 0 && !health_sleep(host, run, pause))
			return (0);
	}
	host->state(run, "proving the archive of %s", obj->name);
	if (archive_proof(host, run, index, false, index != DEP_TABLE &&
	    *sum != '\0' ? done : -1, sum, proved, digest, sizeof digest, why,
	    len) == -1)
		return (-1);
	if (!*proved) {
		/* A row moved or changed under the pass: the next run
		 * archives these types again, from the start. */
		if (host->checkpoint_clear(run, key) == -1) {
			host->fail(run, NULL, "clearing the archive checkpoint");
			return (-1);
		}
		return (1);
	}
	snprintf(cp, sizeof cp, "%" PRId64, done);
	params[0] = obj->name;
	params[1] = digest;
	params[2] = cp;
	if (health_command(host, run, "recording the archive", "BEGIN") == -1)
		return (-1);
	res = host->exec(run, "recording the archive", "UPDATE " DEP_SCHEMA
	    ".retirement SET archive_digest = $2, archived_rows = $3::bigint "
	    "WHERE object = $1", 3, params);
	if (res == NULL || host->checkpoint_clear(run, key) == -1) {
		if (res != NULL)
			PQclear(res);
		else
			host->fail(run, NULL, "clearing the archive checkpoint");
		dep_rollback(host, run);
		return (-1);
	}
	PQclear(res);
	snprintf(obj->digest, sizeof obj->digest, "%s", digest);
	obj->archived = done;
	return (1);
}

int
archive_proof(const struct qsched_host *host, struct qsched_run *run,
    int index, bool purged, int64_t acount, const char *asum, bool *ok,
    char *digest, size_t dlen, char *why, size_t len)
{
	const char	*pred = archive_proof_pred(index);
	char		 an_s[24];
	const char	*params[3] = { archive_type_names[index], an_s, asum };
	bool		 given = acount >= 0 && index != DEP_TABLE && !purged;
	PGresult	*res;
	char		*sql, *acte;
	int64_t		 missing, sn, an;
	bool		 same = true, shrunk;

	*ok = false;
	*digest = '\0';
	snprintf(an_s, sizeof an_s, "%" PRId64, acount);
	/* The archive's side: what the batches summed as they copied, or
	 * read back. */
	if (given)
		acte = strdup("SELECT $1::text AS queue_type, $2::bigint AS n, "
		    "$3::numeric AS d WHERE $2::bigint > 0");
	else if (asprintf(&acte, "SELECT queue_type, count(*) AS n, "
	    "coalesce(sum(" ARCHIVE_HASH("a") "), 0) AS d FROM " DEP_ARCHIVE
	    " AS a WHERE %s GROUP BY 1", pred) == -1)
		acte = NULL;
	if (acte == NULL) {
		host->message(run, "out of memory");
		return (-1);
	}
	if (asprintf(&sql,
	    "WITH s AS (SELECT queue_type, count(*) AS n, coalesce(sum("
	    ARCHIVE_HASH("c") "), 0) AS d FROM call_queue AS c WHERE %1$s "
	    "GROUP BY 1), "
	    "a AS (%3$s) "
	    "SELECT coalesce(s.queue_type, a.queue_type), coalesce(s.n, 0), "
	    "coalesce(s.d, 0), coalesce(a.n, 0), coalesce(a.d, 0), "
	    "CASE WHEN %2$s THEN (SELECT count(*) FROM call_queue AS c WHERE "
	    "%1$s AND NOT EXISTS (SELECT 1 FROM " DEP_ARCHIVE " AS a WHERE "
	    "a.id = c.id AND ROW(a.*) IS NOT DISTINCT FROM ROW(c.*))) ELSE 0 END, "
	    "(SELECT left(md5(coalesce(string_agg(queue_type || ' ' || n || "
	    "' ' || d, ',' ORDER BY queue_type), '')), 16) FROM a) "
	    "FROM s FULL JOIN a USING (queue_type) ORDER BY 1", pred,
	    purged || index == DEP_TABLE ? "true" : "false", acte) == -1) {
		free(acte);
		host->message(run, "out of memory");
		return (-1);
	}
	free(acte);
	res = host->exec(run, "proving the archive", sql, given ? 3 : 0,
	    given ? params : NULL);
	free(sql);
	if (res == NULL)
		return (-1);
	*why = '\0';
	missing = 0;
	for (int r = 0; r < PQntuples(res); r++) {
		sn = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		an = strtoll(PQgetvalue(res, r, 3), NULL, 10);
		missing = strtoll(PQgetvalue(res, r, 5), NULL, 10);
		snprintf(digest, dlen, "%s", PQgetvalue(res, r, 6));
		/* After the purge the source holds only the kept rows; for
		 * the table, the queue types are purged already. */
		shrunk = purged || (index == DEP_TABLE &&
		    (strcmp(PQgetvalue(res, r, 0), "unsigned_users") == 0 ||
		    strcmp(PQgetvalue(res, r, 0), "outstanding_requests") == 0));
		if (!shrunk && (sn != an || strcmp(PQgetvalue(res, r, 2),
		    PQgetvalue(res, r, 4)) != 0))
			same = false;
		dep_appendf(why, len, "%s%s %" PRId64 " rows, archive %"
		    PRId64 " (digest %s %s %s)", r > 0 ? "; " : "",
		    PQgetvalue(res, r, 0), sn, an, PQgetvalue(res, r, 2),
		    strcmp(PQgetvalue(res, r, 2), PQgetvalue(res, r, 4)) == 0 ?
		    "=" : "<>", PQgetvalue(res, r, 4));
	}
	if (PQntuples(res) == 0) {
		res = (PQclear(res), NULL);
		snprintf(digest, dlen, "%s", "d41d8cd98f00b204");
		snprintf(why, len, "no rows");
		*ok = true;
		return (0);
	}
	PQclear(res);
	if (missing > 0)
		dep_appendf(why, len, "; %" PRId64 " source rows without an "
		    "identical archived copy", missing);
	*ok = same && missing == 0;
	return (0);
}

int
archive_restore(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj, int index, int64_t *rows)
{
	char		 lo[32], hi[32];
	const char	*params[2] = { lo, hi };
	struct range	 r;
	PGresult	*res;

	(void)obj;
	(void)index;
	*rows = 0;
	if (range_extent(host, run, DEP_ARCHIVE, &r) == -1)
		return (-1);
	/* Each batch commits on its own: a rerun skips what is back. */
	for (r.block = 0; r.block < r.blocks; r.block += r.step) {
		if (host->cancelled(run))
			return (0);
		host->state(run, "restoring %" PRId64 "%%", r.block * 100 /
		    r.blocks);
		range_tid(lo, sizeof lo, r.block);
		range_tid(hi, sizeof hi, r.block + r.step);
		res = host->exec(run, "restoring a batch",
		    "WITH i AS (INSERT INTO call_queue SELECT a.* FROM "
		    DEP_ARCHIVE " AS a WHERE a.ctid >= $1::tid AND a.ctid < "
		    "$2::tid AND NOT EXISTS (SELECT 1 FROM call_queue AS c "
		    "WHERE c.id = a.id) RETURNING 1) SELECT count(*) FROM i",
		    2, params);
		if (res == NULL)
			return (-1);
		*rows += strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		PQclear(res);
		host->progress(run, r.block + r.step < r.blocks ? r.block +
		    r.step : r.blocks, r.blocks);
	}
	host->add_rows(run, *rows);
	return (1);
}
