/*
 * parallel.c - the copy phase on several connections at once (parallel =
 * N).
 *
 * The blocks of call_queue the pass has left, [block, blocks), are split
 * once into ranges, 4 per connection, recorded in qsched.backfill_ranges
 * together with the checkpoint (ranges=R) in one transaction.  Each range
 * row says where its scan is (next_block) and what its batches did.  A
 * batch runs on one worker connection exactly as in batch.c (the same
 * statement, the same checks) but commits with an UPDATE of its range's
 * row instead of the checkpoint, guarded by the next_block it started
 * from: every batch commits with the record of it, or neither does, so a
 * worker killed at any moment resumes each range after its last
 * committed batch, and nothing is lost or done twice.  Which row wins and
 * what position it gets were fixed by the plan, so neither depends on
 * which connection copies a row when.
 *
 * One process drives every connection with libpq's asynchronous calls
 * (no threads): a batch is four round trips (BEGIN; the statement; the
 * checks and the range update; COMMIT), and the loop waits on whichever
 * connection answers.  A free connection takes the next unfinished range.
 * When every range is finished, their sums go into the checkpoint, its
 * phase becomes proof, and the range rows are deleted, in one
 * transaction.
 *
 * Throttling: every throttle_interval the signals are read on the run's
 * own connection; while one is over its threshold no batch starts, the
 * batches in flight commit, and the run waits (throttle.c).
 */
#include <config.h>

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "backfill.h"

#define PARALLEL_RANGES_PER_WORKER	4
#define PARALLEL_RETRIES		5
#define PARALLEL_RETRY_MS		100

struct prange {
	int		 no;
	int64_t		 next;		/* the next block to copy */
	int64_t		 end;
	bool		 busy;
};

enum pstep {
	STEP_IDLE,
	STEP_BEGIN,
	STEP_BATCH,
	STEP_RECORD,
	STEP_COMMIT,
	STEP_ROLLBACK,
};

struct pworker {
	PGconn		*conn;
	PGcancel	*cancel;
	enum pstep	 step;
	struct prange	*range;
	int64_t		 size;
	int64_t		 blocks;	/* of the batch in flight */
	int64_t		 t0_us;
	int64_t		 not_before_us;	/* a retry waits until then */
	int		 tries;
	bool		 timed_out;	/* the failure was statement_timeout */
	PGresult	*rs[2];		/* the step's result sets */
	int		 nrs;
	PGresult	*err;		/* its first error */
	struct state	 delta;		/* what the batch in flight did */
	struct batch_totals tdelta;
	char		 first[48];
	char		 stop[48];
};

struct pctx {
	const struct qsched_host *host;
	struct qsched_run *run;
	struct state	*st;
	struct batch_totals *t;
	struct health	*th;
	const char	*sql;
	const char	*params[BATCH_NPARAMS];
	char		 h[24], p[24], pass[24], rid[24], statuses[128];
	struct prange	*ranges;
	int		 nranges;
	struct pworker	*w;
	int		 nw;
	int64_t		 target_ms, lo, hi, pause_ms;
	bool		 stop;		/* no more batches: failed/cancelled */
	bool		 rescan;	/* the table was rewritten */
	bool		 failed;
	bool		 draining;	/* throttled: let the batches commit */
	int64_t		 committed;	/* rows examined by committed batches */
};

/* Split [st->block, st->blocks) into ranges, with the checkpoint. */
static int
parallel_split(struct pctx *x, int workers)
{
	const struct qsched_host *host = x->host;
	struct qsched_run *run = x->run;
	struct state	*st = x->st;
	char		 pass[24], first[24], end[24], n[24], value[512];
	const char	*params[4] = { pass, first, end, n };
	int64_t		 left = st->blocks - st->block, r;
	PGresult	*res;

	r = (int64_t)workers * PARALLEL_RANGES_PER_WORKER;
	if (r > left)
		r = left > 0 ? left : 1;
	snprintf(pass, sizeof pass, "%" PRId64, st->pass);
	snprintf(first, sizeof first, "%" PRId64, st->block);
	snprintf(end, sizeof end, "%" PRId64, st->blocks);
	snprintf(n, sizeof n, "%" PRId64, r);
	if (query_command(host, run, "beginning the range split", "BEGIN") ==
	    -1)
		return (-1);
	res = query_exec(host, run, "splitting the scan into ranges",
	    "WITH d AS (DELETE FROM qsched.backfill_ranges WHERE pass_id = "
	    "$1::bigint) INSERT INTO qsched.backfill_ranges (pass_id, "
	    "range_no, next_block, end_block) SELECT $1::bigint, i, "
	    "$2::bigint + ($3::bigint - $2::bigint) * i / $4::bigint, "
	    "$2::bigint + ($3::bigint - $2::bigint) * (i + 1) / $4::bigint "
	    "FROM generate_series(0, $4::integer - 1) AS i", 4, NULL, params);
	if (res == NULL)
		goto fail;
	PQclear(res);
	st->ranges = r;
	state_format(st, value, sizeof value);
	if (host->checkpoint_put(run, BACKFILL_CHECKPOINT, value) == -1) {
		host->fail(run, NULL, "writing the checkpoint");
		goto fail;
	}
	if (query_command(host, run, "committing the range split",
	    "COMMIT") == -1)
		return (-1);
	host->log(run, QSCHED_LOG_INFO, "pass %" PRId64 ": blocks %" PRId64
	    "..%" PRId64 " split into %" PRId64 " ranges for %d connections",
	    st->pass, st->block, st->blocks, r, workers);
	return (0);
fail:
	st->ranges = 0;
	PQclear(PQexec(host->conn(run), "ROLLBACK"));
	return (-1);
}

/* The unfinished ranges of the pass, and what the finished batches did. */
static int
parallel_load(struct pctx *x)
{
	char		 pass[24];
	const char	*params[1] = { pass };
	PGresult	*res;
	int		 n;

	snprintf(pass, sizeof pass, "%" PRId64, x->st->pass);
	res = query_exec(x->host, x->run, "reading the ranges", "SELECT "
	    "range_no, next_block, end_block, done FROM "
	    "qsched.backfill_ranges WHERE pass_id = $1::bigint ORDER BY "
	    "range_no", 1, NULL, params);
	if (res == NULL)
		return (-1);
	n = PQntuples(res);
	if (n == 0 || n != x->st->ranges) {
		x->host->message(x->run, "checkpoint of job %s says pass %"
		    PRId64 " is split into %" PRId64 " ranges, but "
		    "qsched.backfill_ranges holds %d; delete the checkpoint "
		    "to start over (copies are kept and compared)",
		    x->host->job(x->run), x->st->pass, x->st->ranges, n);
		PQclear(res);
		return (-1);
	}
	if ((x->ranges = calloc((size_t)n, sizeof *x->ranges)) == NULL) {
		x->host->message(x->run, "reading the ranges: out of memory");
		PQclear(res);
		return (-1);
	}
	x->nranges = n;
	for (int i = 0; i < n; i++) {
		x->ranges[i].no = atoi(PQgetvalue(res, i, 0));
		x->ranges[i].next = strtoll(PQgetvalue(res, i, 1), NULL, 10);
		x->ranges[i].end = strtoll(PQgetvalue(res, i, 2), NULL, 10);
		x->committed += strtoll(PQgetvalue(res, i, 3), NULL, 10);
	}
	PQclear(res);
	return (0);
}

/* Every range finished: fold them into the checkpoint, phase proof. */
static int
parallel_fold(struct pctx *x)
{
	const struct qsched_host *host = x->host;
	struct qsched_run *run = x->run;
	struct state	*st = x->st;
	char		 pass[24], value[512];
	const char	*params[1] = { pass };
	uint64_t	 du, dw;
	PGresult	*res;

	snprintf(pass, sizeof pass, "%" PRId64, st->pass);
	if (query_command(host, run, "beginning the end of the copy",
	    "BEGIN") == -1)
		return (-1);
	res = query_exec(host, run, "summing the ranges", "SELECT "
	    "count(*) FILTER (WHERE next_block < end_block), "
	    "coalesce(sum(done), 0), coalesce(sum(batches), 0), "
	    "coalesce(sum(inserted), 0), coalesce(sum(updated), 0), "
	    "coalesce(sum(unchanged), 0), coalesce(sum(conflicts), 0), "
	    "(coalesce(sum(digest_u), 0) % 18446744073709551616)::text, "
	    "(coalesce(sum(digest_o), 0) % 18446744073709551616)::text "
	    "FROM qsched.backfill_ranges WHERE pass_id = $1::bigint", 1, NULL,
	    params);
	if (res == NULL)
		goto fail;
	if (strcmp(PQgetvalue(res, 0, 0), "0") != 0 ||
	    state_digest_parse(PQgetvalue(res, 0, 7), &du) == -1 ||
	    state_digest_parse(PQgetvalue(res, 0, 8), &dw) == -1) {
		host->message(run, "ending the copy: %s ranges unfinished",
		    PQgetvalue(res, 0, 0));
		PQclear(res);
		goto fail;
	}
	st->done += strtoll(PQgetvalue(res, 0, 1), NULL, 10);
	st->batches += strtoll(PQgetvalue(res, 0, 2), NULL, 10);
	st->inserted += strtoll(PQgetvalue(res, 0, 3), NULL, 10);
	st->updated += strtoll(PQgetvalue(res, 0, 4), NULL, 10);
	st->unchanged += strtoll(PQgetvalue(res, 0, 5), NULL, 10);
	st->conflicts += strtoll(PQgetvalue(res, 0, 6), NULL, 10);
	st->digest[0] += du;
	st->digest[1] += dw;
	PQclear(res);
	st->block = st->blocks;
	st->ranges = 0;
	st->phase = PHASE_PROOF;
	res = query_exec(host, run, "deleting the ranges", "DELETE FROM "
	    "qsched.backfill_ranges WHERE pass_id = $1::bigint", 1, NULL,
	    params);
	if (res == NULL)
		goto fail;
	PQclear(res);
	state_format(st, value, sizeof value);
	if (host->checkpoint_put(run, BACKFILL_CHECKPOINT, value) == -1) {
		host->fail(run, NULL, "writing the checkpoint");
		goto fail;
	}
	return (query_command(host, run, "committing the end of the copy",
	    "COMMIT"));
fail:
	PQclear(PQexec(host->conn(run), "ROLLBACK"));
	return (-1);
}

/* Collect what the step in flight returned; 1 when it has ended. */
static int
parallel_collect(struct pworker *w)
{
	PGresult	*r;
	ExecStatusType	 s;

	if (PQconsumeInput(w->conn) == 0 && w->err == NULL)
		w->err = PQmakeEmptyPGresult(w->conn, PGRES_FATAL_ERROR);
	while (!PQisBusy(w->conn)) {
		if ((r = PQgetResult(w->conn)) == NULL)
			return (1);
		s = PQresultStatus(r);
		if (s != PGRES_COMMAND_OK && s != PGRES_TUPLES_OK) {
			if (w->err == NULL)
				w->err = r;
			else
				PQclear(r);
		} else if (s == PGRES_TUPLES_OK && w->nrs < 2)
			w->rs[w->nrs++] = r;
		else
			PQclear(r);
	}
	return (PQstatus(w->conn) == CONNECTION_OK ? 0 : 1);
}

static void
parallel_clear(struct pworker *w)
{
	for (int i = 0; i < w->nrs; i++)
		PQclear(w->rs[i]);
	w->nrs = 0;
	PQclear(w->err);
	w->err = NULL;
}

/* Start the next batch on W from its range. */
static int
parallel_start(struct pctx *x, struct pworker *w)
{
	struct state	 d = *x->st;

	/* Blocks for SIZE rows at the pass's density, within the range. */
	d.block = w->range->next;
	w->blocks = state_batch_blocks(&d, w->size);
	if (w->blocks > w->range->end - w->range->next)
		w->blocks = w->range->end - w->range->next;
	if (w->blocks < 1)
		w->blocks = 1;
	snprintf(w->first, sizeof w->first, "(%" PRId64 ",0)",
	    w->range->next);
	snprintf(w->stop, sizeof w->stop, "(%" PRId64 ",0)", w->range->next +
	    w->blocks);
	memset(&w->delta, 0, sizeof w->delta);
	memset(&w->tdelta, 0, sizeof w->tdelta);
	parallel_clear(w);
	w->timed_out = false;
	w->t0_us = x->host->mono_us();
	if (PQsendQuery(w->conn, "BEGIN; SET LOCAL jit = off") == 0)
		return (-1);
	w->step = STEP_BEGIN;
	return (0);
}

static int
parallel_send_batch(struct pctx *x, struct pworker *w)
{
	const char	*params[BATCH_NPARAMS];

	memcpy(params, x->params, sizeof params);
	params[0] = w->first;
	params[4] = w->stop;
	if (PQsendQueryParams(w->conn, x->sql, BATCH_NPARAMS, batch_types,
	    params, NULL, NULL, 0) == 0)
		return (-1);
	w->step = STEP_BATCH;
	return (0);
}

/* The batch's rows are in: account them, then check and record. */
static int
parallel_send_record(struct pctx *x, struct pworker *w)
{
	char		*sql = NULL;
	int64_t		 filenode = -1;
	PGresult	*res = w->rs[0];
	int		 n;

	for (int r = 0; r < PQntuples(res); r++) {
		if (PQgetisnull(res, r, 0)) {
			filenode = strtoll(PQgetvalue(res, r, 4), NULL, 10);
			continue;
		}
		if (batch_account(x->host, x->run, res, r, &w->delta,
		    &w->tdelta) == -1)
			return (-1);
	}
	if (filenode != x->st->filenode) {
		x->rescan = true;
		x->stop = true;
		return (1);
	}
	w->delta.batches = 1;
	n = asprintf(&sql, BATCH_UNTOUCHED_SQL "; UPDATE "
	    "qsched.backfill_ranges SET next_block = %" PRId64 ", done = done "
	    "+ %" PRId64 ", batches = batches + 1, inserted = inserted + %"
	    PRId64 ", updated = updated + %" PRId64 ", unchanged = unchanged "
	    "+ %" PRId64 ", conflicts = conflicts + %" PRId64 ", digest_u = "
	    "(digest_u + %" PRIu64 ") %% 18446744073709551616, digest_o = "
	    "(digest_o + %" PRIu64 ") %% 18446744073709551616 WHERE pass_id = "
	    "%" PRId64 " AND range_no = %d AND next_block = %" PRId64
	    " RETURNING next_block", w->range->next + w->blocks,
	    w->delta.done, w->delta.inserted, w->delta.updated,
	    w->delta.unchanged, w->delta.conflicts, w->delta.digest[0],
	    w->delta.digest[1], x->st->pass, w->range->no, w->range->next);
	if (n < 0) {
		x->host->message(x->run, "building a query: out of memory");
		return (-1);
	}
	parallel_clear(w);
	n = PQsendQuery(w->conn, sql);
	free(sql);
	if (n == 0)
		return (-1);
	w->step = STEP_RECORD;
	return (0);
}

/* The batch committed: its range moves on, its counts are the run's. */
static void
parallel_committed(struct pctx *x, struct pworker *w)
{
	struct batch_totals *t = x->t;
	int64_t		 elapsed;

	w->range->next += w->blocks;
	x->committed += w->delta.done;
	for (int i = 0; i < BACKFILL_NTYPES; i++) {
		t->inserted[i] += w->tdelta.inserted[i];
		t->updated[i] += w->tdelta.updated[i];
		t->unchanged[i] += w->tdelta.unchanged[i];
		t->conflicts[i] += w->tdelta.conflicts[i];
	}
	for (int k = 0; k < 4; k++)
		t->reasons[k] += w->tdelta.reasons[k];
	t->batches++;
	w->tries = 0;
	elapsed = (x->host->mono_us() - w->t0_us) / 1000;
	w->size = state_adapt_size(w->size, elapsed, x->target_ms, x->lo,
	    x->hi);
	w->not_before_us = x->host->mono_us() + x->pause_ms * 1000;
	if (w->range->next >= w->range->end) {
		w->range->busy = false;
		w->range = NULL;
	}
	w->step = STEP_IDLE;
}

/* A step failed: roll back, then retry, halve, or give up the run. */
static int
parallel_failed(struct pctx *x, struct pworker *w)
{
	const char	*sqlstate = w->err != NULL ?
	    PQresultErrorField(w->err, PG_DIAG_SQLSTATE) : NULL;

	if (sqlstate == NULL)
		sqlstate = "";
	if (PQstatus(w->conn) != CONNECTION_OK || x->stop ||
	    x->host->cancelled(x->run)) {
		if (!x->stop && !x->host->cancelled(x->run)) {
			x->host->fail(x->run, w->err, "copying blocks %s..%s "
			    "on worker connection %d", w->first, w->stop,
			    (int)(w - x->w) + 1);
			x->failed = true;
		}
		x->stop = true;
		w->step = STEP_IDLE;
		return (0);
	}
	if (strcmp(sqlstate, "57014") == 0 && w->size > x->lo) {
		w->size = w->size / 2 < x->lo ? x->lo : w->size / 2;
		x->t->timeouts++;
		x->host->log(x->run, QSCHED_LOG_WARNING, "batch at blocks %s "
		    "hit the statement timeout; retrying with %" PRId64
		    " rows", w->first, w->size);
	} else if (batch_transient(sqlstate) && w->tries < PARALLEL_RETRIES) {
		w->tries++;
		x->t->retries++;
		x->host->log(x->run, QSCHED_LOG_NOTICE, "batch at blocks %s: "
		    "SQLSTATE %s; retrying (%d of %d)", w->first, sqlstate,
		    w->tries, PARALLEL_RETRIES);
		w->not_before_us = x->host->mono_us() + (int64_t)w->tries *
		    PARALLEL_RETRY_MS * 1000;
	} else {
		x->host->fail(x->run, w->err, "copying blocks %s..%s on worker "
		    "connection %d", w->first, w->stop, (int)(w - x->w) + 1);
		x->failed = true;
		x->stop = true;
	}
	parallel_clear(w);
	if (PQsendQuery(w->conn, "ROLLBACK") == 0) {
		w->step = STEP_IDLE;
		return (0);
	}
	w->step = STEP_ROLLBACK;
	return (0);
}

/* W's step has ended: go on to the next one. */
static int
parallel_advance(struct pctx *x, struct pworker *w)
{
	int	 rc = 0;

	if (w->step == STEP_ROLLBACK) {
		parallel_clear(w);
		w->step = STEP_IDLE;
		return (0);
	}
	if (x->stop && w->err == NULL && (w->step == STEP_BEGIN ||
	    w->step == STEP_BATCH)) {
		/* Stopping: what has not been checked yet is rolled back. */
		parallel_clear(w);
		w->step = PQsendQuery(w->conn, "ROLLBACK") != 0 ?
		    STEP_ROLLBACK : STEP_IDLE;
		return (0);
	}
	if (w->err != NULL || (w->step == STEP_BATCH && w->nrs != 1))
		return (parallel_failed(x, w));
	switch (w->step) {
	case STEP_BEGIN:
		rc = parallel_send_batch(x, w);
		break;
	case STEP_BATCH:
		rc = parallel_send_record(x, w);
		if (rc == 1) {
			/* Rewritten: roll back; the caller rescans. */
			parallel_clear(w);
			w->step = PQsendQuery(w->conn, "ROLLBACK") != 0 ?
			    STEP_ROLLBACK : STEP_IDLE;
			return (0);
		}
		break;
	case STEP_RECORD:
		/* The untouched check, then the range update's RETURNING. */
		if (w->nrs != 2 || batch_untouched_result(x->host, x->run,
		    w->rs[0]) == -1) {
			x->failed = x->stop = true;
			parallel_clear(w);
			w->step = PQsendQuery(w->conn, "ROLLBACK") != 0 ?
			    STEP_ROLLBACK : STEP_IDLE;
			return (0);
		}
		if (PQntuples(w->rs[1]) != 1) {
			x->host->message(x->run, "range %d of pass %" PRId64
			    " is not where this run left it (at block %"
			    PRId64 "): another run copies it?", w->range->no,
			    x->st->pass, w->range->next);
			x->failed = true;
			x->stop = true;
			parallel_clear(w);
			w->step = PQsendQuery(w->conn, "ROLLBACK") != 0 ?
			    STEP_ROLLBACK : STEP_IDLE;
			return (0);
		}
		parallel_clear(w);
		if (PQsendQuery(w->conn, "COMMIT") == 0)
			rc = -1;
		else
			w->step = STEP_COMMIT;
		break;
	case STEP_COMMIT:
		parallel_clear(w);
		parallel_committed(x, w);
		break;
	default:
		break;
	}
	if (rc == -1) {
		if (w->err == NULL)
			w->err = PQmakeEmptyPGresult(w->conn,
			    PGRES_FATAL_ERROR);
		return (parallel_failed(x, w));
	}
	return (0);
}

static bool
parallel_busy(const struct pctx *x)
{
	for (int i = 0; i < x->nw; i++)
		if (x->w[i].step != STEP_IDLE)
			return (true);
	return (false);
}

/* A free worker takes the next range nobody is copying. */
static struct prange *
parallel_next_range(struct pctx *x)
{
	for (int i = 0; i < x->nranges; i++)
		if (!x->ranges[i].busy && x->ranges[i].next <
		    x->ranges[i].end) {
			x->ranges[i].busy = true;
			return (&x->ranges[i]);
		}
	return (NULL);
}

static bool
parallel_finished(const struct pctx *x)
{
	for (int i = 0; i < x->nranges; i++)
		if (x->ranges[i].next < x->ranges[i].end)
			return (false);
	return (true);
}

static void
parallel_close(struct pctx *x)
{
	for (int i = 0; i < x->nw; i++) {
		parallel_clear(&x->w[i]);
		if (x->w[i].cancel != NULL)
			PQfreeCancel(x->w[i].cancel);
		if (x->w[i].conn != NULL)
			PQfinish(x->w[i].conn);
	}
	free(x->w);
	free(x->ranges);
	x->w = NULL;
	x->ranges = NULL;
	x->nw = 0;
	x->nranges = 0;
}

static void
parallel_cancel_all(struct pctx *x)
{
	char	 err[256];

	for (int i = 0; i < x->nw; i++)
		if (x->w[i].step != STEP_IDLE && x->w[i].cancel != NULL)
			(void)PQcancel(x->w[i].cancel, err, sizeof err);
}

static int
parallel_open(struct pctx *x, int workers)
{
	if ((x->w = calloc((size_t)workers, sizeof *x->w)) == NULL) {
		x->host->message(x->run, "opening worker connections: out of "
		    "memory");
		return (-1);
	}
	for (x->nw = 0; x->nw < workers; x->nw++) {
		struct pworker *w = &x->w[x->nw];

		if ((w->conn = x->host->connect(x->run)) == NULL)
			return (-1);
		if ((w->cancel = PQgetCancel(w->conn)) == NULL) {
			x->host->message(x->run, "worker connection %d: no "
			    "cancel handle", x->nw + 1);
			x->nw++;
			return (-1);
		}
		w->size = x->st->size > 0 ? x->st->size :
		    x->host->opt_int(x->run, "batch_size");
		w->size = state_adapt_size(w->size, 1, 1, x->lo, x->hi);
	}
	return (0);
}

/* The event loop: until every range is done, or the run must stop. */
static void
parallel_loop(struct pctx *x)
{
	const struct qsched_host *host = x->host;
	struct pollfd	*pfd;
	int64_t		 now, last_progress = 0, wake;
	char		 why[200];
	int		 sig, rc, n, timeout;

	if ((pfd = calloc((size_t)x->nw, sizeof *pfd)) == NULL) {
		host->message(x->run, "copying: out of memory");
		x->failed = x->stop = true;
		return;
	}
	for (;;) {
		now = host->mono_us();
		if (!x->stop && host->cancelled(x->run)) {
			x->stop = true;
			parallel_cancel_all(x);
		}
		/* Health, every interval, on the run's own connection. */
		if (!x->stop && !x->draining && x->th->enabled &&
		    (x->th->last_check_us < 0 || now - x->th->last_check_us >=
		    x->th->interval_ms * 1000)) {
			x->th->last_check_us = now;
			rc = health_check(host, x->run, x->th, why, sizeof why,
			    &sig);
			if (rc == -1) {
				x->failed = x->stop = true;
			} else if (rc == 1) {
				/* The pause begins now; it shows while the
				 * batches in flight commit. */
				health_begin(host, x->run, x->th, why, sig);
				x->draining = true;
			}
		}
		if (x->draining && !parallel_busy(x) && !x->stop) {
			/* Every batch committed: wait out the pause. */
			x->th->last_check_us = -1;
			if (health_wait(host, x->run, x->th) == -1)
				x->stop = x->failed = !host->cancelled(x->run);
			x->draining = false;
			if (host->cancelled(x->run))
				x->stop = true;
			continue;
		}
		/* Start what can start. */
		wake = -1;
		for (int i = 0; i < x->nw && !x->stop && !x->draining; i++) {
			struct pworker *w = &x->w[i];

			if (w->step != STEP_IDLE)
				continue;
			if (w->not_before_us > now) {
				if (wake < 0 || w->not_before_us < wake)
					wake = w->not_before_us;
				continue;
			}
			if (w->range == NULL &&
			    (w->range = parallel_next_range(x)) == NULL)
				continue;
			if (parallel_start(x, w) == -1) {
				host->fail(x->run, NULL, "starting a batch on "
				    "worker connection %d", i + 1);
				x->failed = x->stop = true;
			}
		}
		if (!parallel_busy(x)) {
			if (x->stop || parallel_finished(x))
				break;
			if (wake < 0 && !x->draining)
				break;	/* cannot happen: nothing to wait for */
		}
		/* Wait for an answer, a retry's time, or the next check. */
		n = 0;
		timeout = 100;
		for (int i = 0; i < x->nw; i++)
			if (x->w[i].step != STEP_IDLE) {
				pfd[n].fd = PQsocket(x->w[i].conn);
				pfd[n].events = POLLIN;
				pfd[n].revents = 0;
				n++;
			}
		if (wake > 0 && (wake - now) / 1000 < timeout)
			timeout = (int)((wake - now) / 1000) + 1;
		if (poll(pfd, (nfds_t)n, timeout) == -1 && errno != EINTR) {
			host->message(x->run, "waiting for the worker "
			    "connections: %s", strerror(errno));
			x->failed = x->stop = true;
			parallel_cancel_all(x);
		}
		for (int i = 0; i < x->nw; i++) {
			struct pworker *w = &x->w[i];

			if (w->step == STEP_IDLE)
				continue;
			if (parallel_collect(w) == 1 &&
			    parallel_advance(x, w) == -1)
				x->failed = x->stop = true;
		}
		if (now - last_progress > 200000) {
			last_progress = now;
			host->progress(x->run, x->st->done + x->committed <
			    x->st->total ? x->st->done + x->committed :
			    x->st->total, x->st->total);
		}
	}
	free(pfd);
}

enum qsched_result
parallel_copy(const struct qsched_host *host, struct qsched_run *run,
    struct state *st, struct batch_totals *t, int64_t *size,
    struct health *th)
{
	struct pctx	 x;
	int		 workers = (int)host->opt_int(run, "parallel");
	enum qsched_result rc;

again:
	memset(&x, 0, sizeof x);
	x.host = host;
	x.run = run;
	x.st = st;
	x.t = t;
	x.th = th;
	x.target_ms = host->opt_duration_ms(run, "batch_time");
	x.pause_ms = host->opt_duration_ms(run, "pause");
	x.lo = host->opt_int(run, "batch_size_min");
	x.hi = host->opt_int(run, "batch_size_max");
	if (st->phase != PHASE_COPY)
		return (QSCHED_OK);
	if (query_statuses(host, run, x.statuses, sizeof x.statuses) == -1)
		return (QSCHED_FAIL);
	snprintf(x.h, sizeof x.h, "%" PRId64, st->hwm);
	snprintf(x.p, sizeof x.p, "%" PRId64, st->prev);
	snprintf(x.pass, sizeof x.pass, "%" PRId64, st->pass);
	snprintf(x.rid, sizeof x.rid, "%" PRId64, host->run_id(run));
	x.params[1] = x.h;
	x.params[2] = x.p;
	x.params[3] = x.statuses[0] != '\0' ? x.statuses : NULL;
	x.params[5] = x.pass;
	x.params[6] = x.rid;
	if (st->ranges == 0 && st->block < st->blocks &&
	    parallel_split(&x, workers) == -1)
		return (QSCHED_FAIL);
	if (st->ranges == 0 || st->block >= st->blocks) {
		/* Nothing was left to split: the copy is over. */
		st->ranges = 0;
		return (QSCHED_OK);
	}
	if (parallel_load(&x) == -1)
		return (QSCHED_FAIL);
	/* Rows committed in ranges by earlier runs: not this run's. */
	if (t->resumed == 0)
		t->resumed = x.committed;
	if (workers > x.nranges)
		workers = x.nranges;
	if ((x.sql = batch_sql(host, run, st->prev > 0)) == NULL) {
		parallel_close(&x);
		return (QSCHED_FAIL);
	}
	if (parallel_open(&x, workers) == -1) {
		parallel_close(&x);
		free((char *)x.sql);
		return (QSCHED_FAIL);
	}
	parallel_loop(&x);
	*size = x.nw > 0 ? x.w[0].size : *size;
	host->counter(run, "parallel_connections", x.nw);
	free((char *)x.sql);
	parallel_close(&x);
	if (x.rescan && !x.failed && !host->cancelled(run)) {
		st->ranges = 0;
		if (batch_rescan(host, run, st) == -1)
			return (QSCHED_FAIL);
		goto again;
	}
	if (host->cancelled(run))
		return (QSCHED_CANCELLED);
	if (x.failed)
		return (QSCHED_FAIL);
	rc = parallel_fold(&x) == -1 ? QSCHED_FAIL : QSCHED_OK;
	host->progress(run, st->done < st->total ? st->done : st->total,
	    st->total);
	return (rc);
}
