/*
 * bench.c - the perf_benchmark plugin: measure the application's queue
 * operations on the legacy call_queue and on the separated tables, on the
 * live database, without changing a row: every operation runs in a
 * transaction that is rolled back (ops.c), from CLIENTS connections at
 * once (load.c), into a histogram (hist.c), with its plan (plan.c); the
 * results are stored and gated against the previous run (store.c).  A
 * busy database is not measured (guard.c).
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

#define MIN_MS		(60LL * 1000)

static const struct qsched_option bench_options[] = {
	{ "queue", QSCHED_OPT_STRING, 0, "unsigned_users", 0, 0,
	    "unsigned_users|outstanding_requests",
	    "the queue whose operations are measured" },
	{ "operations", QSCHED_OPT_STRING, 0, "all", 0, 0, NULL,
	    "all, or a comma-separated list of claim, get, add, remove, "
	    "eligible, next_pending" },
	{ "variants", QSCHED_OPT_STRING, 0, "all", 0, 0,
	    "all|legacy|separated", "measure both tables, or only call_queue "
	    "or only the separated table (with the shared reads)" },
	{ "clients", QSCHED_OPT_INT, 0, "4", 1, BENCH_MAX_CLIENTS, NULL,
	    "concurrent connections" },
	{ "duration", QSCHED_OPT_DURATION, 0, "5s", 100, 10 * MIN_MS, NULL,
	    "how long each operation is measured" },
	{ "iterations", QSCHED_OPT_INT, 0, "0", 0, 100000000, NULL,
	    "transactions per operation instead of a duration; 0: duration" },
	{ "warmup", QSCHED_OPT_DURATION, 0, "1s", 0, MIN_MS, NULL,
	    "unrecorded load before each operation" },
	{ "statement_timeout", QSCHED_OPT_DURATION, 0, "2s", 1, 10 * MIN_MS,
	    NULL, "statement_timeout of every measured statement" },
	{ "lock_timeout", QSCHED_OPT_DURATION, 0, "500ms", 1, MIN_MS, NULL,
	    "lock_timeout of every measured statement" },
	{ "next_n", QSCHED_OPT_INT, 0, "20", 1, 10000, NULL,
	    "how many entries the dialler's next-pending read fetches" },
	{ "regression_threshold", QSCHED_OPT_INT, 0, "20", 1, 10000, NULL,
	    "percent a p99 may grow over the reference run's (plus the "
	    "run-to-run spread) before it is slower; slower fails the run "
	    "with a plan change, or twice in a row" },
	{ "min_samples", QSCHED_OPT_INT, 0, "500", 1, 100000000, NULL,
	    "samples both runs need before a p99 is compared" },
	{ "min_regression_us", QSCHED_OPT_INT, 0, "1000", 0, 100000000, NULL,
	    "a p99 growth below this many microseconds never fails" },
	{ "max_lock_waiters", QSCHED_OPT_INT, 0, "2", 0, 100000, NULL,
	    "do not run while more sessions wait for a lock" },
	{ "max_active_backends", QSCHED_OPT_INT, 0, "10", 0, 100000, NULL,
	    "do not run while more other backends are active" },
	{ "max_replication_lag", QSCHED_OPT_DURATION, 0, "10s", 0,
	    24 * 60 * MIN_MS, NULL,
	    "do not run while a standby replays further behind" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

static int
bench_validate(const struct qsched_host *host, const char *option,
    const char *value, char *err, size_t errlen)
{
	(void)host;
	if (strcmp(option, "operations") == 0)
		return (ops_names_valid(value, err, errlen));
	return (0);
}

static void
bench_read_cfg(const struct qsched_host *host, struct qsched_run *run,
    struct bench_cfg *cfg, struct bench_limits *lim, struct bench_gate *gate)
{
	memset(cfg, 0, sizeof *cfg);
	cfg->queue = host->opt_string(run, "queue");
	cfg->table = strcmp(cfg->queue, "outstanding_requests") == 0 ?
	    "outstanding_requests_queue" : "unsigned_users_queue";
	cfg->operations = host->opt_string(run, "operations");
	cfg->variants = host->opt_string(run, "variants");
	cfg->clients = (int)host->opt_int(run, "clients");
	cfg->iterations = host->opt_int(run, "iterations");
	cfg->duration_us = host->opt_duration_ms(run, "duration") * 1000;
	cfg->warmup_us = host->opt_duration_ms(run, "warmup") * 1000;
	cfg->statement_timeout_ms = host->opt_duration_ms(run,
	    "statement_timeout");
	cfg->lock_timeout_ms = host->opt_duration_ms(run, "lock_timeout");
	cfg->next_n = host->opt_int(run, "next_n");
	snprintf(cfg->n_text, sizeof cfg->n_text, "%lld",
	    (long long)cfg->next_n);
	lim->max_lock_waiters = host->opt_int(run, "max_lock_waiters");
	lim->max_active_backends = host->opt_int(run, "max_active_backends");
	lim->max_replication_lag_ms = host->opt_duration_ms(run,
	    "max_replication_lag");
	lim->clients = cfg->clients;
	gate->threshold = (double)host->opt_int(run, "regression_threshold") /
	    100.0;
	gate->min_samples = host->opt_int(run, "min_samples");
	gate->min_regression_us = host->opt_int(run, "min_regression_us");
}

/* Which tables and functions exist, and an agent to claim for. */
static int
bench_probe(const struct qsched_host *host, struct qsched_run *run,
    struct bench_cfg *cfg, bool *source)
{
	const char	*params[1] = { cfg->table };
	PGresult	*res;

	if ((res = host->exec(run, "looking for the queue tables",
	    "SELECT to_regclass('user_call_scores') IS NOT NULL, "
	    "to_regclass('call_queue') IS NOT NULL, "
	    "to_regclass($1) IS NOT NULL "
	    " AND to_regprocedure('queue_claim_next(text,integer)') IS NOT NULL "
	    " AND to_regprocedure('queue_get(text,bigint)') IS NOT NULL "
	    " AND to_regprocedure('queue_remove(text,bigint)') IS NOT NULL "
	    " AND to_regprocedure('queue_add(text,bigint,integer,integer,"
	    "timestamp without time zone,text,uuid)') IS NOT NULL, "
	    "to_regclass('call_sessions') IS NOT NULL", 1, params)) == NULL)
		return (-1);
	*source = *PQgetvalue(res, 0, 0) == 't';
	cfg->have_legacy = *PQgetvalue(res, 0, 1) == 't';
	cfg->have_separated = *PQgetvalue(res, 0, 2) == 't';
	cfg->have_sessions = *PQgetvalue(res, 0, 3) == 't';
	PQclear(res);
	return (0);
}

/* The agent claims are made for: the lowest id in agents, or "".  Read
 * after the guard, under lock_timeout: it is the first lock taken. */
static int
bench_agent(const struct qsched_host *host, struct qsched_run *run,
    struct bench_cfg *cfg)
{
	char		 lt[24];
	const char	*params[1] = { lt };
	PGresult	*res;

	snprintf(lt, sizeof lt, "%lld", (long long)cfg->lock_timeout_ms);
	if ((res = host->exec(run, "choosing an agent: BEGIN", "BEGIN", 0,
	    NULL)) == NULL)
		return (-1);
	PQclear(res);
	if ((res = host->exec(run, "choosing an agent", "SELECT "
	    "set_config('lock_timeout', $1, true)", 1, params)) == NULL ||
	    (PQclear(res), res = host->exec(run, "choosing an agent",
	    "SELECT CASE WHEN to_regclass('agents') IS NULL THEN '' ELSE "
	    "(SELECT coalesce(min(id)::text, '') FROM agents) END", 0,
	    NULL)) == NULL) {
		PQclear(PQexec(host->conn(run), "ROLLBACK"));
		return (-1);
	}
	snprintf(cfg->agent, sizeof cfg->agent, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	if ((res = host->exec(run, "choosing an agent: COMMIT", "COMMIT", 0,
	    NULL)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

static int
bench_check(const struct qsched_host *host, struct qsched_run *run)
{
	struct bench_cfg cfg;
	struct bench_limits lim;
	struct bench_gate gate;
	bool		 source;

	bench_read_cfg(host, run, &cfg, &lim, &gate);
	if (bench_probe(host, run, &cfg, &source) == -1)
		return (-1);
	if (!source) {
		host->message(run, "table user_call_scores does not exist: is "
		    "this the application's database?");
		return (-1);
	}
	if (!cfg.have_legacy && !cfg.have_separated) {
		host->message(run, "neither call_queue nor %s with the queue "
		    "functions exists: nothing to measure", cfg.table);
		return (-1);
	}
	return (0);
}

/* Whether the options select OP. */
static bool
bench_wanted(const struct bench_cfg *cfg, const struct bench_op *op)
{
	if (strcmp(cfg->variants, "legacy") == 0 && op->variant != BV_LEGACY)
		return (false);
	if (strcmp(cfg->variants, "separated") == 0 &&
	    op->variant == BV_LEGACY)
		return (false);
	return (ops_selected(cfg->operations, op->name));
}

/* Why OP is not measured in this database, or NULL. */
static const char *
bench_skip_reason(const struct bench_cfg *cfg, const struct bench_op *op)
{
	if (op->variant == BV_LEGACY && !cfg->have_legacy)
		return ("call_queue does not exist (retired): legacy not "
		    "measured");
	if (op->variant == BV_SEPARATED && !cfg->have_separated)
		return ("the separated table or the queue functions do not "
		    "exist: apply the migrations (job schema-migrate)");
	if (op->needs_agent && cfg->agent[0] == '\0')
		return ("table agents has no agent to claim for");
	return (NULL);
}

/* The user ids OP draws from: BENCH_SAMPLE of them, read once. */
static int
bench_sample(const struct qsched_host *host, struct qsched_run *run,
    const struct bench_cfg *cfg, const struct bench_op *op,
    struct bench_users *u)
{
	const char	*params[1] = { cfg->queue };
	PGresult	*res;
	char		*sql;

	u->n = 0;
	if (op->sample == NULL)
		return (0);
	if ((sql = ops_sql(op->sample, cfg->table, cfg->have_sessions)) ==
	    NULL) {
		host->message(run, "out of memory");
		return (-1);
	}
	res = host->exec(run, "choosing users", sql,
	    strstr(sql, "$1") != NULL ? 1 : 0, params);
	free(sql);
	if (res == NULL)
		return (-1);
	for (int i = 0; i < PQntuples(res) && i < BENCH_SAMPLE; i++)
		snprintf(u->id[u->n++], sizeof u->id[0], "%s",
		    PQgetvalue(res, i, 0));
	PQclear(res);
	return (0);
}

/*
 * Half the control, into R->control: a tenth of the operation's duration
 * (100 ms to 1 s), or a sixteenth of its iterations.  It runs just
 * before and just after the operation, not during it: run alongside, it
 * would wait for the operation's own load (a dropped index's scans fill
 * the server's CPUs) and excuse the very regression it is there to tell
 * from a busy host.
 */
static int
bench_control_half(const struct qsched_host *host, struct qsched_run *run,
    struct bench_load *load, const struct bench_cfg *cfg,
    const struct bench_users *users, struct bench_result *r)
{
	struct bench_result *c;
	int64_t		 us = cfg->duration_us / 10, n = cfg->iterations / 16;
	int		 rc;

	if ((c = calloc(1, sizeof *c)) == NULL) {
		host->message(run, "out of memory");
		return (-1);
	}
	if (us < 100000)
		us = 100000;
	if (us > 1000000)
		us = 1000000;
	if (cfg->iterations > 0 && n < 50)
		n = 50;
	rc = load_run(load, &bench_control, users, us, n, c);
	hist_merge(&r->control, &c->hist);
	free(c);
	return (rc);
}

/* Measure OP into R. 0, or -1 (recorded). */
static int
bench_one(const struct qsched_host *host, struct qsched_run *run,
    const struct bench_cfg *cfg, struct bench_load *load,
    const struct bench_op *op, struct bench_result *r)
{
	static struct bench_users users;
	const char	*variant = ops_variant_name(op->variant);

	if (bench_sample(host, run, cfg, op, &users) == -1)
		return (-1);
	if (op->sample != NULL && users.n == 0) {
		r->skipped = true;
		snprintf(r->note, sizeof r->note, "no user to draw from "
		    "(empty queue)");
		return (0);
	}
	if (cfg->warmup_us > 0) {
		host->state(run, "warmup: %s/%s", op->name, variant);
		if (load_run(load, op, &users, cfg->warmup_us, 0, NULL) == -1)
			return (-1);
	}
	host->state(run, "measuring %s/%s", op->name, variant);
	if (bench_control_half(host, run, load, cfg, &users, r) == -1 ||
	    load_run(load, op, &users, cfg->duration_us, cfg->iterations,
	    r) == -1 ||
	    bench_control_half(host, run, load, cfg, &users, r) == -1)
		return (-1);
	host->state(run, "explaining %s/%s", op->name, variant);
	return (plan_explain(host, run, cfg, op, &users, r));
}

static void
bench_summary(const struct qsched_host *host, struct qsched_run *run,
    const struct bench_result *r, int n, bool dry)
{
	char		 msg[1024], key[64];
	size_t		 len;
	int		 measured = 0, skipped = 0;

	len = (size_t)snprintf(msg, sizeof msg, "%s", dry ?
	    "dry run (not stored): " : "");
	for (int i = 0; i < n; i++) {
		if (r[i].skipped) {
			skipped++;
			continue;
		}
		measured++;
		snprintf(key, sizeof key, "%s_%s_p99_us", r[i].op->name,
		    ops_variant_name(r[i].op->variant));
		host->counter(run, key, (int64_t)hist_percentile(&r[i].hist,
		    0.99));
		host->add_rows(run, (int64_t)r[i].hist.count);
		if (len < sizeof msg)
			len += (size_t)snprintf(msg + len, sizeof msg - len,
			    "%s%s/%s p99 %.3f ms", measured > 1 ? ", " : "",
			    r[i].op->name, ops_variant_name(r[i].op->variant),
			    (double)hist_percentile(&r[i].hist, 0.99) / 1000.0);
	}
	host->counter(run, "measured", measured);
	host->counter(run, "skipped", skipped);
	host->message(run, "%s%s%d measured, %d skipped", msg,
	    measured > 0 ? "; " : "", measured, skipped);
}

static enum qsched_result
bench_run(const struct qsched_host *host, struct qsched_run *run)
{
	struct bench_cfg cfg;
	struct bench_limits lim;
	struct bench_gate gate;
	struct bench_result *res = NULL;
	struct bench_load *load = NULL;
	enum qsched_result rc = QSCHED_FAIL;
	const char	*why;
	char		 reason[256];
	bool		 source;
	int		 n = 0, busy, total = 0, saved;

	bench_read_cfg(host, run, &cfg, &lim, &gate);
	if (ops_names_valid(cfg.operations, reason, sizeof reason) == -1) {
		host->message(run, "operations: %s", reason);
		return (QSCHED_FAIL);
	}
	if (bench_probe(host, run, &cfg, &source) == -1)
		return (QSCHED_FAIL);
	if ((busy = guard_busy(host, run, &lim, reason, sizeof reason)) != 0) {
		if (busy == -1)
			return (QSCHED_FAIL);
		host->message(run, "not measured: %s", reason);
		return (QSCHED_SKIP);
	}
	if (bench_agent(host, run, &cfg) == -1)
		return (QSCHED_FAIL);
	if (!host->dry_run(run) && store_schema(host, run) == -1)
		return (QSCHED_FAIL);
	for (int i = 0; i < bench_nops; i++)
		total += bench_wanted(&cfg, &bench_ops[i]);
	if ((res = calloc((size_t)total, sizeof *res)) == NULL) {
		host->message(run, "out of memory");
		return (QSCHED_FAIL);
	}
	if ((load = load_open(host, run, &cfg)) == NULL)
		goto out;
	host->progress(run, 0, total);
	for (int i = 0; i < bench_nops; i++) {
		const struct bench_op *op = &bench_ops[i];
		struct bench_result *r = &res[n];

		if (!bench_wanted(&cfg, op))
			continue;
		hist_init(&r->hist);
		hist_init(&r->control);
		r->op = op;
		n++;
		if ((why = bench_skip_reason(&cfg, op)) != NULL) {
			r->skipped = true;
			snprintf(r->note, sizeof r->note, "%s", why);
			host->log(run, QSCHED_LOG_NOTICE, "%s/%s skipped: %s",
			    op->name, ops_variant_name(op->variant), why);
			continue;
		}
		if (n > 1 && (busy = guard_busy(host, run, &lim, reason,
		    sizeof reason)) != 0) {
			if (busy == 1) {
				host->message(run, "stopped before %s/%s, "
				    "nothing stored: %s", op->name,
				    ops_variant_name(op->variant), reason);
				rc = QSCHED_SKIP;
			}
			goto out;
		}
		if (bench_one(host, run, &cfg, load, op, r) == -1) {
			if (load_client_lost(load))
				rc = QSCHED_RETRY;
			goto out;
		}
		if (host->cancelled(run)) {
			rc = QSCHED_CANCELLED;
			goto out;
		}
		host->progress(run, n, total);
	}
	load_close(load);
	load = NULL;
	host->state(run, NULL);
	bench_summary(host, run, res, n, host->dry_run(run));
	if (host->dry_run(run)) {
		rc = QSCHED_OK;
		goto out;
	}
	if ((saved = store_save(host, run, &cfg, &gate, res, n)) == -1)
		goto out;
	rc = saved == 1 ? QSCHED_FAIL : QSCHED_OK;
out:
	load_close(load);
	for (int i = 0; i < n; i++)
		free(res[i].plans);
	free(res);
	return (rc);
}

QSCHED_PLUGIN_DEFINE(
	.name = "perf_benchmark",
	.version = PACKAGE_VERSION,
	.summary = "measure the queue operations, legacy against separated, "
	    "in rolled-back transactions; store and gate the results",
	.options = bench_options,
	.check = bench_check,
	.run = bench_run,
	.validate = bench_validate,
)
