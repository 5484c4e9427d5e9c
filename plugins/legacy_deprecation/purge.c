/*
 * purge.c - delete what the archive holds, and the drop.
 *
 * The purge walks call_queue by id in keyset batches, each one DELETE
 * under SET LOCAL lock_timeout committed with its checkpoint.  A row is
 * deleted only if the archive holds an identical copy and no row of any
 * table whose foreign key references call_queue (on the app:
 * call_sessions.call_queue_id, ON DELETE RESTRICT) uses it; those are
 * kept and counted.  A batch that hits lock_timeout, a deadlock or a
 * session inserted meanwhile (the RESTRICT check, 23503) is retried with
 * backoff, lock_retries times, before the run gives up with the SQLSTATE
 * (transient: the core retries the run, which resumes at the checkpoint).
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
	char		 after[DEP_UUID_LEN + 1];
	int64_t		 done, deleted, kept, changed, total;
};

static int
purge_parse(const char *v, struct purge_pass *p)
{
	long long	 d, x, k, c, t;
	char		 a[DEP_UUID_LEN + 2];

	if (sscanf(v, "after=%37s done=%lld deleted=%lld kept=%lld "
	    "changed=%lld total=%lld", a, &d, &x, &k, &c, &t) != 6)
		return (-1);
	if (strcmp(a, "-") == 0)
		p->after[0] = '\0';
	else if (strlen(a) == DEP_UUID_LEN)
		snprintf(p->after, sizeof p->after, "%s", a);
	else
		return (-1);
	p->done = d;
	p->deleted = x;
	p->kept = k;
	p->changed = c;
	p->total = t;
	return (0);
}

/* The two statements of a batch: its range, then the delete. */
struct purge_sql {
	char		*range;
	char		*delete;
};

/* One batch; 1 a batch done, 0 none left, -1 failed (FAILED kept). */
static int
purge_batch(const struct qsched_host *host, struct qsched_run *run,
    const struct purge_sql *sql, struct purge_pass *p, PGresult **failed)
{
	PGconn		*conn = host->conn(run);
	char		 sz[24], lt[32], cp[256], hi[DEP_UUID_LEN + 1];
	const char	*params[2] = { p->after[0] != '\0' ? p->after : NULL,
	    sz };
	const char	*dparams[2] = { params[0], hi };
	PGresult	*res;
	int64_t		 n, del, chg;

	*failed = NULL;
	snprintf(sz, sizeof sz, "%" PRId64, host->opt_int(run, "batch_size"));
	snprintf(lt, sizeof lt, "SET LOCAL lock_timeout = %" PRId64,
	    host->opt_duration_ms(run, "lock_timeout"));
	if ((res = host->exec(run, "finding the next purge batch", sql->range,
	    2, params)) == NULL)
		return (-1);
	n = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	if (n == 0) {
		PQclear(res);
		return (0);
	}
	snprintf(hi, sizeof hi, "%s", PQgetvalue(res, 0, 1));
	PQclear(res);
	if (dep_command(host, run, "beginning a purge batch", "BEGIN") == -1 ||
	    dep_command(host, run, "setting lock_timeout", lt) == -1)
		return (-1);
	/* Not host->exec: a lock timeout here is retried, not recorded. */
	res = PQexecParams(conn, sql->delete, 2, NULL, dparams, NULL, NULL,
	    0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		*failed = res;
		dep_rollback(host, run);
		return (-1);
	}
	del = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	chg = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	snprintf(cp, sizeof cp, "after=%s done=%" PRId64 " deleted=%" PRId64
	    " kept=%" PRId64 " changed=%" PRId64 " total=%" PRId64, hi,
	    p->done + n, p->deleted + del, p->kept + (n - del - chg),
	    p->changed + chg, p->total);
	if (host->checkpoint_put(run, p->key, cp) == -1) {
		host->fail(run, NULL, "writing the purge checkpoint");
		dep_rollback(host, run);
		return (-1);
	}
	if (dep_command(host, run, "committing a purge batch", "COMMIT") == -1)
		return (-1);
	snprintf(p->after, sizeof p->after, "%s", hi);
	p->done += n;
	p->deleted += del;
	p->kept += n - del - chg;
	p->changed += chg;
	host->add_rows(run, del);
	return (1);
}

/*
 * The batch is the range (after, hi] of ids, found first so that both
 * bounds are known to the planner (unnamed statements are planned with
 * their values): the DELETE and the count of rows changed since archived
 * then read that range of call_queue and of the archive, by their primary
 * keys, and join them.  OFFSET 0 keeps the check of each referencing
 * table a probe of its index, not a scan of all of call_sessions for
 * every batch.
 */
#define PURGE_SAME							\
	"SELECT 1 FROM " DEP_ARCHIVE " AS a WHERE a.id = c.id AND "	\
	"($1::uuid IS NULL OR a.id > $1::uuid) AND a.id <= $2::uuid AND "	\
	"ROW(a.*) IS NOT DISTINCT FROM ROW(c.*)"

static int
purge_sql(const struct qsched_host *host, struct qsched_run *run,
    const char *pred, const char *fks, struct purge_sql *sql)
{
	sql->delete = NULL;
	if (asprintf(&sql->range, "WITH b AS (SELECT id FROM call_queue WHERE "
	    "%s AND ($1::uuid IS NULL OR id > $1::uuid) ORDER BY id LIMIT "
	    "$2::bigint) SELECT count(*), (SELECT id FROM b ORDER BY id DESC "
	    "LIMIT 1) FROM b", pred) == -1) {
		sql->range = NULL;
		goto oom;
	}
	if (asprintf(&sql->delete, "WITH d AS (DELETE FROM call_queue AS c "
	    "WHERE %1$s AND ($1::uuid IS NULL OR c.id > $1::uuid) AND c.id <= "
	    "$2::uuid %2$sAND EXISTS (" PURGE_SAME ") RETURNING 1) "
	    "SELECT (SELECT count(*) FROM d), (SELECT count(*) FROM call_queue "
	    "AS c WHERE %1$s AND ($1::uuid IS NULL OR c.id > $1::uuid) AND "
	    "c.id <= $2::uuid AND NOT EXISTS (" PURGE_SAME "))", pred, fks) ==
	    -1) {
		sql->delete = NULL;
		goto oom;
	}
	return (0);
oom:
	free(sql->range);
	host->message(run, "out of memory");
	return (-1);
}

int
purge_run(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj, int index, int64_t *deleted, int64_t *kept,
    char *why, size_t len)
{
	const char	*pred = index == DEP_TABLE ? "true" :
	    archive_types(index);
	struct purge_pass p;
	PGresult	*failed, *res;
	struct purge_sql sql;
	char		*fks, *names, *value, cp[256];
	int64_t		 pause = host->opt_duration_ms(run, "pause");
	int64_t		 tries = host->opt_int(run, "lock_retries"), wait;
	int		 rc, attempt = 0;

	memset(&p, 0, sizeof p);
	snprintf(p.key, sizeof p.key, "purge_%s", obj->name);
	if ((fks = gates_fk_clause(host, run, &names)) == NULL)
		return (-1);
	rc = purge_sql(host, run, pred, fks, &sql);
	free(fks);
	if (rc == -1) {
		free(names);
		return (-1);
	}
	rc = 0;
	if ((value = host->checkpoint_get(run, p.key)) != NULL) {
		rc = purge_parse(value, &p);
		if (rc == -1)
			host->message(run, "checkpoint %s of job %s is "
			    "unreadable: \"%.100s\"", p.key, host->job(run),
			    value);
		free(value);
	} else {
		if (asprintf(&value, "SELECT count(*) FROM call_queue WHERE "
		    "%s", pred) == -1)
			value = NULL;
		res = value != NULL ? host->exec(run, "counting rows to purge",
		    value, 0, NULL) : NULL;
		free(value);
		if (res == NULL)
			rc = -1;
		else {
			p.total = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
			PQclear(res);
			snprintf(cp, sizeof cp, "after=- done=0 deleted=0 kept=0 "
			    "changed=0 total=%" PRId64, p.total);
			if (host->checkpoint_put(run, p.key, cp) == -1)
				rc = -1;
		}
	}
	while (rc == 0) {
		if (host->cancelled(run))
			break;
		host->state(run, "purging %s %" PRId64 "%%", obj->name,
		    p.total > 0 ? p.done * 100 / p.total : 100);
		rc = purge_batch(host, run, &sql, &p, &failed);
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
			rc = dep_sleep(host, run, wait) ? 0 : 1;
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
		host->progress(run, p.done < p.total ? p.done : p.total,
		    p.total);
		if (rc == 0) {
			rc = 2;
			break;
		}
		attempt = 0;
		rc = 0;
		if (pause > 0 && !dep_sleep(host, run, pause))
			rc = 1;
	}
	free(sql.range);
	free(sql.delete);
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
		if (archive_proof(host, run, DEP_TABLE, true, &ok, digest,
		    sizeof digest, proof, sizeof proof) == -1)
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
	if (dep_command(host, run, "beginning the drop", "BEGIN") == -1 ||
	    dep_command(host, run, "setting lock_timeout", lt) == -1 ||
	    dep_command(host, run, "dropping call_queue",
	    "DROP TABLE call_queue RESTRICT") == -1) {
		dep_rollback(host, run);
		return (-1);
	}
	return (0);	/* the caller records the transition and commits */
}
