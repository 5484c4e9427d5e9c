/*
 * backfill.c - the legacy_backfill plugin: copy the call_queue rows of the
 * unsigned_users and outstanding_requests queue types into
 * unsigned_users_queue and outstanding_requests_queue, in batches that
 * each commit with their checkpoint, then prove nothing was lost.  A
 * later run is a sync pass over what the app wrote since.
 *
 * A run: take the plugin's lock; resume the pass the checkpoint describes,
 * or plan a new one (plan.c); copy batch after batch (batch.c, or
 * parallel.c on several connections), adapting the batch size to
 * batch_time, pacing to max_rate and pause, and waiting while the
 * database is unhealthy (throttle.c); prove (proof.c); mark the pass
 * done.  qsched-plugins(7) has the operator's
 * view.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backfill.h"

/*
 * One legacy_backfill job at a time per database, whatever the jobs are
 * called: they share the bookkeeping tables.  A session lock, keyed by
 * host->lock_key() (stable across PostgreSQL releases, unlike the server's
 * text hashes), polled never: a second run is skipped.
 */
#define BACKFILL_LOCK_CLASS	"legacy_backfill"
#define BACKFILL_LOCK_NAME	"bookkeeping"

static const struct query_rels backfill_rels = {
	"qsched.backfill_conflicts",
	"qsched.backfill_positions",
};

/* What a dry run reads when the bookkeeping tables do not exist yet. */
static const struct query_rels backfill_empty_rels = {
	"(SELECT NULL::uuid AS legacy_id, NULL::text AS reason, "
	"NULL::bigint AS pass_id WHERE false)",
	"(SELECT NULL::uuid AS legacy_id, NULL::integer AS queue_position "
	"WHERE false)",
};

static const struct qsched_option backfill_options[] = {
	{ "batch_size", QSCHED_OPT_INT, 0, "5000", BACKFILL_BATCH_MIN,
	    BACKFILL_BATCH_MAX, NULL,
	    "rows in the first batch; later ones adapt to batch_time" },
	{ "batch_time", QSCHED_OPT_DURATION, 0, "250ms", 10, 600000, NULL,
	    "the time one batch should take; the size adapts within "
	    "100..50000 rows and halves after a statement timeout" },
	{ "statuses", QSCHED_OPT_STRING, 0, "all", 0, 0, NULL,
	    "legacy statuses to copy: \"all\" or a list of pending, assigned, "
	    "completed, invalid" },
	{ "max_rate", QSCHED_OPT_INT, 0, NULL, 1, 100000000, NULL,
	    "at most this many rows per second (default: no limit)" },
	{ "pause", QSCHED_OPT_DURATION, 0, "0", 0, 3600000, NULL,
	    "wait between batches" },
	{ "resync", QSCHED_OPT_BOOL, 0, "false", 0, 0, NULL,
	    "examine every row below the high-water mark, not only those "
	    "written since the previous pass" },
	{ "batch_size_min", QSCHED_OPT_INT, 0, "100", BACKFILL_BATCH_MIN,
	    BACKFILL_BATCH_MAX, NULL,
	    "the adaptive batch size never goes below this many rows" },
	{ "batch_size_max", QSCHED_OPT_INT, 0, "50000", BACKFILL_BATCH_MIN,
	    BACKFILL_BATCH_MAX, NULL,
	    "the adaptive batch size never goes above this many rows" },
	{ "parallel", QSCHED_OPT_INT, 0, "1", 1, BACKFILL_PARALLEL_MAX, NULL,
	    "worker connections copying block ranges at once" },
	{ "work_mem", QSCHED_OPT_STRING, 0, "64MB", 0, 0, NULL,
	    "work_mem of the run's own connection (plan and proof: whole-table "
	    "sorts and hashes); \"\" keeps the server's" },
	{ "throttle", QSCHED_OPT_BOOL, 0, "true", 0, 0, NULL,
	    "pause while the database is unhealthy (the signals below)" },
	{ "throttle_interval", QSCHED_OPT_DURATION, 0, "1s", 10, 600000, NULL,
	    "how often the signals are read, and rechecked while paused" },
	{ "pause_on_vacuum", QSCHED_OPT_BOOL, 0, "true", 0, 0, NULL,
	    "pause while a VACUUM works on a target table" },
	{ "pause_on_lock_waiters", QSCHED_OPT_BOOL, 0, "true", 0, 0, NULL,
	    "pause while a session waits for a lock on a target table or "
	    "call_queue" },
	{ "max_replica_lag", QSCHED_OPT_DURATION, 0, "10s", 0, 86400000, NULL,
	    "pause while a standby lags more (0: not watched)" },
	{ "max_archive_backlog", QSCHED_OPT_INT, 0, "42", 0, 1000000, NULL,
	    "pause while more WAL segments wait for archiving (0: not "
	    "watched)" },
	{ "canary_latency", QSCHED_OPT_DURATION, 0, "100ms", 0, 600000, NULL,
	    "pause while a rolled-back claim takes longer (0: no canary)" },
	{ "canary_queue", QSCHED_OPT_STRING, 0, "unsigned_users", 0, 0,
	    "unsigned_users|outstanding_requests",
	    "the separated queue the canary claims from" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

static int
backfill_check(const struct qsched_host *host, struct qsched_run *run)
{
	char		 err[256];
	PGresult	*res;
	int		 rc = 0;

	if (query_statuses_valid(host->opt_string(run, "statuses"), err,
	    sizeof err) == -1) {
		host->message(run, "%s", err);
		return (-1);
	}
	/* The live-entry rule is the migrations' unique index: without it
	 * a copy could give a user a second live entry. */
	res = query_exec(host, run, "checking the tables", "SELECT "
	    "string_agg(n, ', ') FROM unnest(ARRAY['call_queue', "
	    "'user_call_scores', 'unsigned_users_queue', "
	    "'outstanding_requests_queue', "
	    "'unsigned_users_queue_user_id_live_key', "
	    "'outstanding_requests_queue_user_id_live_key']) AS n "
	    "WHERE to_regclass(n) IS NULL", 0, NULL, NULL);
	if (res == NULL)
		return (-1);
	if (!PQgetisnull(res, 0, 0)) {
		host->message(run, "missing: %s (run the schema-migrate job "
		    "first)", PQgetvalue(res, 0, 0));
		rc = -1;
	}
	PQclear(res);
	if (rc == -1)
		return (-1);
	/* hash_record_extended() and TID range scans. */
	res = query_exec(host, run, "checking the server version",
	    "SELECT current_setting('server_version_num')::int >= 140000, "
	    "current_setting('server_version')", 0, NULL, NULL);
	if (res == NULL)
		return (-1);
	if (*PQgetvalue(res, 0, 0) != 't') {
		host->message(run, "PostgreSQL %s: legacy_backfill needs 14 or "
		    "later", PQgetvalue(res, 0, 1));
		rc = -1;
	}
	PQclear(res);
	return (rc);
}

/* The pass in the checkpoint: 1 read, 0 none, -1 unreadable or error. */
static int
backfill_state(const struct qsched_host *host, struct qsched_run *run,
    struct state *st)
{
	char	*value;

	memset(st, 0, sizeof *st);
	if ((value = host->checkpoint_get(run, BACKFILL_CHECKPOINT)) == NULL)
		return (0);
	if (state_parse(value, st) == -1) {
		host->message(run, "checkpoint \"%s\" of job %s is "
		    "unreadable: \"%.200s\"; delete it from qsched.checkpoints "
		    "to start over (copies are kept and compared)",
		    BACKFILL_CHECKPOINT, host->job(run), value);
		free(value);
		return (-1);
	}
	free(value);
	return (1);
}

static void
backfill_metrics(const struct qsched_host *host, struct qsched_run *run,
    const struct state *st, const struct batch_totals *t, int64_t size,
    int64_t examined)
{
	char	 name[64];
	int64_t	 ins = 0, upd = 0, unch = 0, conf = 0;

	for (int i = 0; i < BACKFILL_NTYPES; i++) {
		snprintf(name, sizeof name, "inserted_%s", state_types[i]);
		host->counter(run, name, t->inserted[i]);
		snprintf(name, sizeof name, "updated_%s", state_types[i]);
		host->counter(run, name, t->updated[i]);
		snprintf(name, sizeof name, "conflicts_%s", state_types[i]);
		host->counter(run, name, t->conflicts[i]);
		ins += t->inserted[i];
		upd += t->updated[i];
		unch += t->unchanged[i];
		conf += t->conflicts[i];
	}
	for (int k = 0; k < 4; k++) {
		snprintf(name, sizeof name, "conflict_%s", batch_reasons[k]);
		host->counter(run, name, t->reasons[k]);
	}
	host->counter(run, "inserted", ins);
	host->counter(run, "updated", upd);
	host->counter(run, "unchanged", unch);
	host->counter(run, "conflicts", conf);
	host->counter(run, "examined", examined);
	host->counter(run, "batches", t->batches);
	host->counter(run, "final_batch_size", size);
	host->counter(run, "statement_timeouts", t->timeouts);
	host->counter(run, "batch_retries", t->retries);
	host->counter(run, "pass", st->pass);
	host->counter(run, "pass_examined", st->done);
	host->counter(run, "high_water_mark", st->hwm);
	host->counter(run, "previous_high_water_mark", st->prev);
	host->add_rows(run, examined);
}

static void
backfill_proof_metrics(const struct qsched_host *host, struct qsched_run *run,
    const struct proof *pr)
{
	char	 name[64];

	for (int i = 0; i < BACKFILL_NTYPES; i++) {
		snprintf(name, sizeof name, "source_%s", state_types[i]);
		host->counter(run, name, pr->t[i].source);
		snprintf(name, sizeof name, "copied_%s", state_types[i]);
		host->counter(run, name, pr->t[i].copied);
		snprintf(name, sizeof name, "recorded_conflicts_%s",
		    state_types[i]);
		host->counter(run, name, pr->t[i].conflicts);
	}
	host->note(run, "validation", pr->why);
}

/*
 * --dry-run: what a run would examine, and the proof as the tables stand,
 * in one read-only snapshot; nothing is written, not even the
 * bookkeeping tables.
 */
static enum qsched_result
backfill_dry_run(const struct qsched_host *host, struct qsched_run *run)
{
	const struct query_rels *rels = &backfill_rels;
	struct plan_counts pc;
	struct state	 st;
	struct proof	 pr;
	int64_t		 hwm, prev = 0;
	int		 have, exist;

	if (query_command(host, run, "beginning the dry run", "BEGIN "
	    "ISOLATION LEVEL REPEATABLE READ READ ONLY") == -1)
		return (QSCHED_FAIL);
	if ((exist = plan_tables_exist(host, run)) == -1 ||
	    plan_hwm(host, run, &hwm) == -1)
		goto fail;
	if (!exist)
		rels = &backfill_empty_rels;
	have = exist ? backfill_state(host, run, &st) : 0;
	if (have == -1)
		goto fail;
	printf("legacy_backfill dry run (job %s)\n", host->job(run));
	if (have && (st.phase == PHASE_COPY || st.phase == PHASE_PROOF)) {
		printf("  pass %" PRId64 " is in progress: %" PRId64 " of %"
		    PRId64 " rows examined; the next run resumes it\n",
		    st.pass, st.done, st.total);
		hwm = st.hwm;
		prev = st.prev;
	} else if (have && !host->opt_bool(run, "resync")) {
		printf("  sync pass: rows written since pass %" PRId64 "\n",
		    st.pass);
		prev = st.hwm;
	} else
		printf("  full pass: every row\n");
	if (plan_count(host, run, hwm, prev, &pc, true, stdout) == -1)
		goto fail;
	printf("  rows to examine: %" PRId64 " (unsigned_users %" PRId64
	    ", outstanding_requests %" PRId64 "); left out by statuses: %"
	    PRId64 "\n", pc.todo, pc.todo_type[0], pc.todo_type[1],
	    pc.skipped);
	if (proof_run(host, run, rels, hwm, &pr) == -1)
		goto fail;
	proof_print(&pr, stdout);
	fflush(stdout);
	backfill_proof_metrics(host, run, &pr);
	host->counter(run, "to_examine", pc.todo);
	if (query_command(host, run, "ending the dry run", "ROLLBACK") == -1)
		return (QSCHED_FAIL);
	host->message(run, "dry run: %" PRId64 " rows to examine, nothing "
	    "copied; proof as the tables stand: %s", pc.todo, pr.ok ? "holds" :
	    pr.why);
	return (QSCHED_OK);
fail:
	if (PQstatus(host->conn(run)) == CONNECTION_OK)
		PQclear(PQexec(host->conn(run), "ROLLBACK"));
	return (host->cancelled(run) ? QSCHED_CANCELLED : QSCHED_FAIL);
}

/* Start a pass, or resume the one in the checkpoint. */
static int
backfill_begin(const struct qsched_host *host, struct qsched_run *run,
    struct state *st, int64_t *resumed)
{
	struct plan_counts pc;
	int		 have;
	int64_t		 prev;

	if ((have = backfill_state(host, run, st)) == -1)
		return (-1);
	if (have && (st->phase == PHASE_COPY || st->phase == PHASE_PROOF)) {
		*resumed = st->done;
		host->log(run, QSCHED_LOG_NOTICE, "resuming pass %" PRId64
		    " (%s) after %" PRId64 " of %" PRId64 " rows", st->pass,
		    state_phase_name(st->phase), st->done, st->total);
		return (plan_count(host, run, st->hwm, st->prev, &pc, true,
		    NULL));
	}
	prev = have && !host->opt_bool(run, "resync") ? st->hwm : 0;
	memset(st, 0, sizeof *st);
	st->phase = PHASE_COPY;
	st->pass = host->run_id(run);
	st->prev = prev;
	st->size = host->opt_int(run, "batch_size");
	if (plan_hwm(host, run, &st->hwm) == -1 ||
	    plan_count(host, run, st->hwm, st->prev, &pc, true, NULL) == -1)
		return (-1);
	st->total = pc.todo;
	return (plan_begin(host, run, st, &pc));
}

/* Commit a phase change on its own (autocommit). */
static int
backfill_phase(const struct qsched_host *host, struct qsched_run *run,
    struct state *st, enum state_phase phase)
{
	char	 value[512];

	st->phase = phase;
	state_format(st, value, sizeof value);
	if (host->checkpoint_put(run, BACKFILL_CHECKPOINT, value) == -1) {
		host->fail(run, NULL, "writing the checkpoint");
		return (-1);
	}
	return (0);
}

static enum qsched_result
backfill_copy(const struct qsched_host *host, struct qsched_run *run,
    struct state *st, struct batch_totals *t, int64_t *size,
    struct health *th)
{
	int64_t		 target = host->opt_duration_ms(run, "batch_time");
	int64_t		 pause = host->opt_duration_ms(run, "pause");
	int64_t		 rate = host->opt_is_set(run, "max_rate") ?
	    host->opt_int(run, "max_rate") : 0;
	int64_t		 lo = host->opt_int(run, "batch_size_min");
	int64_t		 hi = host->opt_int(run, "batch_size_max");
	int64_t		 t0, elapsed, before, wait;
	int		 rc;

	/* A pass split into ranges goes on in ranges, whatever parallel
	 * says now. */
	if (host->opt_int(run, "parallel") > 1 || st->ranges > 0)
		return (parallel_copy(host, run, st, t, size, th));
	while (st->phase == PHASE_COPY) {
		if (host->cancelled(run))
			return (QSCHED_CANCELLED);
		if (health_wait(host, run, th) == -1)
			return (host->cancelled(run) ? QSCHED_CANCELLED :
			    QSCHED_FAIL);
		before = st->done;
		t0 = host->mono_us() / 1000;
		if ((rc = batch_run(host, run, st, size, t)) == -1)
			return (host->cancelled(run) ? QSCHED_CANCELLED :
			    QSCHED_FAIL);
		if (rc == 0)
			return (backfill_phase(host, run, st, PHASE_PROOF) ==
			    -1 ? QSCHED_FAIL : QSCHED_OK);
		elapsed = host->mono_us() / 1000 - t0;
		host->progress(run, st->done < st->total ? st->done :
		    st->total, st->total);
		*size = state_adapt_size(*size, elapsed, target, lo, hi);
		wait = pause;
		if (rate > 0 && (st->done - before) * 1000 / rate - elapsed >
		    wait)
			wait = (st->done - before) * 1000 / rate - elapsed;
		if (wait > 0 && !health_sleep(host, run, wait))
			return (QSCHED_CANCELLED);
	}
	return (QSCHED_OK);
}

static enum qsched_result
backfill_run(const struct qsched_host *host, struct qsched_run *run)
{
	struct batch_totals t;
	struct health	 th;
	struct state	 st;
	struct proof	 pr;
	enum qsched_result rc = QSCHED_FAIL;
	PGresult	*res;
	char		 key[24];
	const char	*keyp[1] = { key };
	int64_t		 size, resumed = -1, examined, t0;
	bool		 locked = false;

	memset(&t, 0, sizeof t);
	memset(&st, 0, sizeof st);
	/* The worker ran backfill_check() already. */
	if (host->dry_run(run))
		return (backfill_dry_run(host, run));

	snprintf(key, sizeof key, "%" PRId64, host->lock_key(BACKFILL_LOCK_CLASS,
	    BACKFILL_LOCK_NAME));
	if ((res = query_exec(host, run, "taking the backfill lock",
	    "SELECT pg_try_advisory_lock($1::bigint)", 1, NULL, keyp)) == NULL)
		return (QSCHED_FAIL);
	locked = *PQgetvalue(res, 0, 0) == 't';
	PQclear(res);
	if (!locked) {
		host->message(run, "another legacy_backfill job is running in "
		    "this database");
		return (QSCHED_SKIP);
	}
	/*
	 * The plan and the proof sort and hash whole tables: at the
	 * server's default work_mem (4MB) they spill to disk at a million
	 * rows.  The batches are small and run as they would anyway.
	 */
	if (*host->opt_string(run, "work_mem") != '\0') {
		const char *wm[1] = { host->opt_string(run, "work_mem") };

		if ((res = query_exec(host, run, "setting work_mem",
		    "SELECT set_config('work_mem', $1, false)", 1, NULL,
		    wm)) == NULL)
			goto out;
		PQclear(res);
	}
	t0 = host->mono_us() / 1000;
	if (plan_tables(host, run) == -1 ||
	    backfill_begin(host, run, &st, &resumed) == -1)
		goto out;
	host->counter(run, "plan_ms", host->mono_us() / 1000 - t0);
	if (resumed >= 0)
		host->counter(run, "resumed_after", resumed);
	size = st.size > 0 ? st.size : host->opt_int(run, "batch_size");
	size = state_adapt_size(size, 1, 1, host->opt_int(run,
	    "batch_size_min"), host->opt_int(run, "batch_size_max"));
	host->progress(run, st.done, st.total);
	examined = st.done;
	t0 = host->mono_us() / 1000;
	throttle_init(host, run, &th);
	rc = backfill_copy(host, run, &st, &t, &size, &th);
	host->counter(run, "copy_ms", host->mono_us() / 1000 - t0);
	health_metrics(host, run, &th);
	host->state(run, NULL);
	examined = st.done - examined - t.resumed;
	if (t.resumed > 0)
		host->counter(run, "resumed_after", (resumed > 0 ? resumed : 0) +
		    t.resumed);
	backfill_metrics(host, run, &st, &t, size, examined);
	if (rc != QSCHED_OK) {
		if (rc == QSCHED_CANCELLED)
			host->message(run, "cancelled after %" PRId64 " of %"
			    PRId64 " rows; the next run resumes", st.done,
			    st.total);
		goto out;
	}

	rc = QSCHED_FAIL;
	t0 = host->mono_us() / 1000;
	if (proof_run(host, run, &backfill_rels, st.hwm, &pr) == -1)
		goto out;
	host->counter(run, "proof_ms", host->mono_us() / 1000 - t0);
	backfill_proof_metrics(host, run, &pr);
	/* Done either way: a failed proof is reported by every later run
	 * until it holds (resync repairs copies changed by others). */
	if (backfill_phase(host, run, &st, PHASE_DONE) == -1)
		goto out;
	if (!pr.ok) {
		host->message(run, "proof failed: %s", pr.why);
		goto out;
	}
	host->message(run, "%" PRId64 " rows examined: %" PRId64 " inserted, "
	    "%" PRId64 " updated, %" PRId64 " unchanged, %" PRId64 " conflicts "
	    "(qsched.backfill_conflicts); proof holds: unsigned_users %" PRId64
	    " = %" PRId64 " copied + %" PRId64 " conflicts, "
	    "outstanding_requests %" PRId64 " = %" PRId64 " copied + %" PRId64
	    " conflicts", examined, t.inserted[0] + t.inserted[1],
	    t.updated[0] + t.updated[1], t.unchanged[0] + t.unchanged[1],
	    t.conflicts[0] + t.conflicts[1], pr.t[0].source, pr.t[0].copied,
	    pr.t[0].conflicts, pr.t[1].source, pr.t[1].copied,
	    pr.t[1].conflicts);
	rc = QSCHED_OK;
out:
	if (locked && PQstatus(host->conn(run)) == CONNECTION_OK)
		PQclear(PQexecParams(host->conn(run), "SELECT "
		    "pg_advisory_unlock($1::bigint)", 1, NULL, keyp, NULL, NULL,
		    0));
	return (rc);
}

/* Option values the table's types cannot check, refused at load/--set. */
static int
backfill_validate(const struct qsched_host *host, const char *option,
    const char *value, char *err, size_t errlen)
{
	(void)host;
	if (strcmp(option, "statuses") == 0)
		return (query_statuses_valid(value, err, errlen));
	return (0);
}

/* What qsched metrics shows of a backfill (qsched(8), METRICS). */
static const struct qsched_metric backfill_exported[] = {
	{ "qsched_backfill_throttle_pauses_total", QSCHED_METRIC_RUN_SUM,
	    "pauses of legacy_backfill for the database's health",
	    "throttle_pauses" },
	{ "qsched_backfill_throttled_ms_total", QSCHED_METRIC_RUN_SUM,
	    "milliseconds legacy_backfill spent paused for the database's "
	    "health", "throttled_ms" },
	{ NULL, 0, NULL, NULL },
};

QSCHED_PLUGIN_DEFINE(
	.name = "legacy_backfill",
	.version = PACKAGE_VERSION,
	.summary = "copy call_queue rows into the separated queue tables, "
	    "resumable, with a conservation proof",
	.options = backfill_options,
	.check = backfill_check,
	.run = backfill_run,
	.validate = backfill_validate,
	.metrics = backfill_exported,
)
