/*
 * archive.c - archive before delete: copy call_queue rows into
 * qsched_legacy.call_queue_archive (same columns, LIKE call_queue) in
 * keyset batches on id, each committed with its checkpoint, so a killed
 * run resumes after the last committed batch and archives every row
 * exactly once; then prove the archive equals the source.
 *
 * The proof, per queue type: the count and an order-independent digest
 * (the sum, as numeric, of the first 64 bits of md5 of each row's text)
 * of the source equal those of the archive; after the purge, and for the
 * table, also no source row lacks an identical archived copy (compared
 * column by column).  The object's archive digest, the value the
 * drop's confirm option must repeat, is the first 16 hex digits of md5
 * over the per-type "type count sum" lines.
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

#define ARCHIVE_HASH(a)							\
	"('x' || left(md5(" a "::text), 16))::bit(64)::bigint::numeric"

/* Which rows an object's archive pass (and purge) covers. */
static const char *const archive_preds[DEP_NOBJECTS] = {
	"queue_type = 'unsigned_users'",
	"queue_type = 'outstanding_requests'",
	/* The table: what the queue types left, i.e. the other types. */
	"queue_type NOT IN ('unsigned_users', 'outstanding_requests')",
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

/* Checkpoint "after=<uuid> done=N total=N" (after "" at the start). */
static int
archive_checkpoint(const char *value, char *after, int64_t *done,
    int64_t *total)
{
	long long	 d, t;
	char		 a[DEP_UUID_LEN + 2];

	if (sscanf(value, "after=%37s done=%lld total=%lld", a, &d, &t) == 3 &&
	    strlen(a) == DEP_UUID_LEN) {
		snprintf(after, DEP_UUID_LEN + 1, "%s", a);
		*done = d;
		*total = t;
		return (0);
	}
	if (sscanf(value, "after=- done=%lld total=%lld", &d, &t) == 2) {
		*after = '\0';
		*done = d;
		*total = t;
		return (0);
	}
	return (-1);
}

static int64_t
archive_count(const struct qsched_host *host, struct qsched_run *run,
    const char *what, const char *sql)
{
	PGresult	*res;
	int64_t		 n;

	if ((res = host->exec(run, what, sql, 0, NULL)) == NULL)
		return (-1);
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return (n);
}

/* One batch: copy up to SIZE rows after AFTER; 1 copied, 0 none left. */
static int
archive_batch(const struct qsched_host *host, struct qsched_run *run,
    const char *key, const char *pred, char *after, int64_t size,
    int64_t *done, int64_t total)
{
	char		 sz[24], cp[128], *sql;
	const char	*params[2] = { after[0] != '\0' ? after : NULL, sz };
	PGresult	*res;
	int64_t		 n;

	snprintf(sz, sizeof sz, "%" PRId64, size);
	if (asprintf(&sql, "WITH i AS (INSERT INTO " DEP_ARCHIVE " SELECT * "
	    "FROM call_queue WHERE %s AND ($1::uuid IS NULL OR id > $1::uuid) "
	    "ORDER BY id LIMIT $2::bigint RETURNING id) "
	    "SELECT count(*), (SELECT id FROM i ORDER BY id DESC LIMIT 1) "
	    "FROM i", pred) == -1) {
		host->message(run, "out of memory");
		return (-1);
	}
	if (dep_command(host, run, "beginning an archive batch", "BEGIN") ==
	    -1) {
		free(sql);
		return (-1);
	}
	res = host->exec(run, "archiving a batch", sql, 2, params);
	free(sql);
	if (res == NULL) {
		dep_rollback(host, run);
		return (-1);
	}
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (n == 0) {
		PQclear(res);
		dep_rollback(host, run);
		return (0);
	}
	snprintf(after, DEP_UUID_LEN + 1, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	*done += n;
	snprintf(cp, sizeof cp, "after=%s done=%" PRId64 " total=%" PRId64,
	    after, *done, total);
	if (host->checkpoint_put(run, key, cp) == -1) {
		host->fail(run, NULL, "writing the archive checkpoint");
		dep_rollback(host, run);
		return (-1);
	}
	if (dep_command(host, run, "committing an archive batch", "COMMIT") ==
	    -1)
		return (-1);
	host->add_rows(run, n);
	return (1);
}

int
archive_run(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj, int index, bool *proved, char *why, size_t len)
{
	const char	*pred = archive_preds[index];
	char		 key[64], after[DEP_UUID_LEN + 1] = "", cp[128], *sql;
	char		 digest[40], *value;
	const char	*params[3];
	int64_t		 done = 0, total, size, pause;
	PGresult	*res;
	int		 rc;

	*proved = false;
	size = host->opt_int(run, "batch_size");
	pause = host->opt_duration_ms(run, "pause");
	snprintf(key, sizeof key, "archive_%s", obj->name);
	if ((value = host->checkpoint_get(run, key)) != NULL) {
		rc = archive_checkpoint(value, after, &done, &total);
		if (rc == -1)
			host->message(run, "checkpoint %s of job %s is "
			    "unreadable: \"%.100s\"; delete it to start the "
			    "archive of %s over", key, host->job(run), value,
			    obj->name);
		free(value);
		if (rc == -1)
			return (-1);
		host->log(run, QSCHED_LOG_NOTICE, "archive of %s resumes "
		    "after %" PRId64 " of %" PRId64 " rows", obj->name, done,
		    total);
	} else {
		/* A fresh pass: what an earlier one (rolled back since)
		 * left of these types goes, with the start checkpoint. */
		if (asprintf(&sql, "SELECT count(*) FROM call_queue WHERE %s",
		    pred) == -1) {
			host->message(run, "out of memory");
			return (-1);
		}
		total = archive_count(host, run, "counting rows to archive",
		    sql);
		free(sql);
		if (total < 0)
			return (-1);
		if (asprintf(&sql, "BEGIN; DELETE FROM " DEP_ARCHIVE
		    " WHERE %s", pred) == -1) {
			host->message(run, "out of memory");
			return (-1);
		}
		rc = dep_command(host, run, "starting the archive", sql);
		free(sql);
		snprintf(cp, sizeof cp, "after=- done=0 total=%" PRId64, total);
		if (rc == -1 || host->checkpoint_put(run, key, cp) == -1 ||
		    dep_command(host, run, "starting the archive", "COMMIT") ==
		    -1) {
			dep_rollback(host, run);
			return (-1);
		}
	}
	host->progress(run, done, total);
	for (;;) {
		if (host->cancelled(run))
			return (0);
		host->state(run, "archiving %s %" PRId64 "%%", obj->name,
		    total > 0 ? done * 100 / total : 100);
		rc = archive_batch(host, run, key, pred, after, size, &done,
		    total);
		if (rc == -1)
			return (host->cancelled(run) ? 0 : -1);
		host->progress(run, done < total ? done : total, total);
		if (rc == 0)
			break;
		if (pause > 0 && !dep_sleep(host, run, pause))
			return (0);
	}
	/* The proof and the purge join the archive: give them statistics. */
	if (dep_command(host, run, "analyzing the archive", "ANALYZE "
	    DEP_ARCHIVE) == -1)
		return (-1);
	host->state(run, "proving the archive of %s", obj->name);
	if (archive_proof(host, run, index, false, proved, digest,
	    sizeof digest, why, len) == -1)
		return (-1);
	if (!*proved)
		return (1);	/* checkpoint kept: the next run proves again */
	snprintf(cp, sizeof cp, "%" PRId64, done);
	params[0] = obj->name;
	params[1] = digest;
	params[2] = cp;
	if (dep_command(host, run, "recording the archive", "BEGIN") == -1)
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
    int index, bool purged, bool *ok, char *digest, size_t dlen, char *why,
    size_t len)
{
	const char	*pred = archive_proof_pred(index);
	PGresult	*res;
	char		*sql;
	int64_t		 missing, sn, an;
	bool		 same = true, shrunk;

	*ok = false;
	*digest = '\0';
	if (asprintf(&sql,
	    "WITH s AS (SELECT queue_type, count(*) AS n, coalesce(sum("
	    ARCHIVE_HASH("c") "), 0) AS d FROM call_queue AS c WHERE %1$s "
	    "GROUP BY 1), "
	    "a AS (SELECT queue_type, count(*) AS n, coalesce(sum("
	    ARCHIVE_HASH("a") "), 0) AS d FROM " DEP_ARCHIVE " AS a WHERE "
	    "%1$s GROUP BY 1) "
	    "SELECT coalesce(s.queue_type, a.queue_type), coalesce(s.n, 0), "
	    "coalesce(s.d, 0), coalesce(a.n, 0), coalesce(a.d, 0), "
	    "CASE WHEN %2$s THEN (SELECT count(*) FROM call_queue AS c WHERE "
	    "%1$s AND NOT EXISTS (SELECT 1 FROM " DEP_ARCHIVE " AS a WHERE "
	    "a.id = c.id AND ROW(a.*) IS NOT DISTINCT FROM ROW(c.*))) ELSE 0 END, "
	    "(SELECT left(md5(coalesce(string_agg(queue_type || ' ' || n || "
	    "' ' || d, ',' ORDER BY queue_type), '')), 16) FROM a) "
	    "FROM s FULL JOIN a USING (queue_type) ORDER BY 1", pred,
	    purged || index == DEP_TABLE ? "true" : "false") == -1) {
		host->message(run, "out of memory");
		return (-1);
	}
	res = host->exec(run, "proving the archive", sql, 0, NULL);
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
	char		 after[DEP_UUID_LEN + 1] = "", sz[24];
	const char	*params[2] = { NULL, sz };
	PGresult	*res;
	int64_t		 n, total, seen = 0;

	(void)obj;
	(void)index;
	*rows = 0;
	snprintf(sz, sizeof sz, "%" PRId64, host->opt_int(run, "batch_size"));
	total = archive_count(host, run, "counting archived rows",
	    "SELECT count(*) FROM " DEP_ARCHIVE);
	if (total < 0)
		return (-1);
	/* Each batch commits on its own: a rerun skips what is back. */
	for (;;) {
		if (host->cancelled(run))
			return (0);
		host->state(run, "restoring %" PRId64 "%%", total > 0 ?
		    seen * 100 / total : 100);
		params[0] = after[0] != '\0' ? after : NULL;
		res = host->exec(run, "restoring a batch",
		    "WITH b AS (SELECT id FROM " DEP_ARCHIVE " WHERE "
		    "$1::uuid IS NULL OR id > $1::uuid ORDER BY id LIMIT "
		    "$2::bigint), i AS (INSERT INTO call_queue SELECT a.* FROM "
		    DEP_ARCHIVE " AS a JOIN b ON b.id = a.id WHERE NOT EXISTS "
		    "(SELECT 1 FROM call_queue AS c WHERE c.id = a.id) "
		    "RETURNING 1) SELECT (SELECT count(*) FROM b), (SELECT id "
		    "FROM b ORDER BY id DESC LIMIT 1), (SELECT count(*) FROM i)",
		    2, params);
		if (res == NULL)
			return (-1);
		n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
		if (n == 0) {
			PQclear(res);
			break;
		}
		snprintf(after, sizeof after, "%s", PQgetvalue(res, 0, 1));
		*rows += strtoll(PQgetvalue(res, 0, 2), NULL, 10);
		PQclear(res);
		seen += n;
		host->progress(run, seen < total ? seen : total, total);
	}
	host->add_rows(run, *rows);
	return (1);
}
