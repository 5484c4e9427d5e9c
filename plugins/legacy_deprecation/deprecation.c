/*
 * deprecation.c - the legacy_deprecation plugin: retire the legacy
 * call_queue on evidence (plan steps 7 and 9).  Per retired object (the
 * unsigned_users and outstanding_requests queue types of call_queue, and
 * the table) a state machine in qsched_legacy.retirement (ledger.c),
 * advanced one step per run when the flag and the evidence gates
 * (gates.c) allow it (plan.c): freeze, monitor, archive with a proof
 * (archive.c), purge what nothing references, and drop only on proof
 * (purge.c).  --set action=restore puts the archive back.
 * qsched-plugins(7) has the operator's view.
 */
#include <config.h>

#include <ctype.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "deprecation.h"

#define DEP_FLAG	"populate_legacy_queue"

static const struct qsched_option dep_options[] = {
	{ "monitoring_period", QSCHED_OPT_DURATION, 0, "14d", 0,
	    366LL * 86400000, NULL,
	    "how long the gates must hold, after the freeze, before the "
	    "archive; a failed gate restarts it" },
	{ "action", QSCHED_OPT_STRING, 0, "advance", 0, 0, "advance|restore",
	    "advance: the next step; restore: put the archive back into "
	    "call_queue and return to dual_write" },
	{ "allow_drop", QSCHED_OPT_BOOL, 0, "false", 0, 0, NULL,
	    "let the run DROP TABLE call_queue once nothing blocks it" },
	{ "confirm", QSCHED_OPT_STRING, 0, NULL, 0, 0, NULL,
	    "the archive digest of the last report, required for the drop" },
	{ "batch_size", QSCHED_OPT_INT, 0, "5000", 10, 100000, NULL,
	    "rows per archive, purge and restore batch" },
	{ "pause", QSCHED_OPT_DURATION, 0, "0", 0, 3600000, NULL,
	    "wait between batches" },
	{ "lock_timeout", QSCHED_OPT_DURATION, 0, "2s", 1, 600000, NULL,
	    "lock_timeout of each purge batch and of the drop" },
	{ "lock_retries", QSCHED_OPT_INT, 0, "5", 0, 100, NULL,
	    "retries of a purge batch after a lock timeout, with backoff" },
	{ "unsigned_job", QSCHED_OPT_STRING, 0, "unsigned-population", 0, 0,
	    NULL, "the job that populates unsigned_users_queue" },
	{ "outstanding_job", QSCHED_OPT_STRING, 0, "outstanding-population",
	    0, 0, NULL, "the job that populates outstanding_requests_queue" },
	HEALTH_OPTIONS,
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

/* The flag it reads, declared as queue_population declares it. */
static const struct qsched_flag dep_flags[] = {
	{ "queue_migration", DEP_FLAG, false,
	    "qsched also keeps the legacy call_queue rows of each queue type "
	    "in step (dual write)" },
	{ NULL, NULL, false, NULL },
};

static const struct qsched_metric dep_metrics[] = {
	{ "qsched_legacy_retirement_state", QSCHED_METRIC_GAUGE,
	    "state of each retired object: 0 dual_write .. 5 dropped",
	    "SELECT object, array_position(ARRAY['dual_write', 'frozen', "
	    "'monitoring', 'archived', 'purged', 'dropped'], state) - 1 "
	    "FROM qsched_legacy.retirement" },
	{ "qsched_legacy_purged_rows_total", QSCHED_METRIC_RUN_SUM,
	    "call_queue rows deleted by the purge", "purged_rows" },
	{ "qsched_legacy_throttle_pauses_total", QSCHED_METRIC_RUN_SUM,
	    "pauses of the archive and the purge while the database was "
	    "unhealthy", "throttle_pauses" },
	{ "qsched_legacy_throttled_ms_total", QSCHED_METRIC_RUN_SUM,
	    "milliseconds the archive and the purge waited for the "
	    "database's health", "throttled_ms" },
	{ NULL, 0, NULL, NULL },
};

void
dep_rollback(const struct qsched_host *host, struct qsched_run *run)
{
	PGconn	*conn = host->conn(run);

	if (PQstatus(conn) == CONNECTION_OK &&
	    PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
}

int
dep_appendf(char *buf, size_t len, const char *fmt, ...)
{
	size_t	 used = strlen(buf);
	va_list	 ap;
	int	 n;

	if (used + 1 >= len)
		return (0);
	va_start(ap, fmt);
	n = vsnprintf(buf + used, len - used, fmt, ap);
	va_end(ap);
	return (n);
}

static int
dep_validate(const struct qsched_host *host, const char *option,
    const char *value, char *err, size_t errlen)
{
	(void)host;
	if (strcmp(option, "confirm") == 0) {
		if (strlen(value) != 16)
			goto hex;
		for (const char *p = value; *p != '\0'; p++)
			if (!isxdigit((unsigned char)*p) ||
			    isupper((unsigned char)*p))
				goto hex;
		return (0);
	}
	if (strcmp(option, "unsigned_job") == 0 ||
	    strcmp(option, "outstanding_job") == 0) {
		if (*value == '\0' || strspn(value,
		    "abcdefghijklmnopqrstuvwxyz0123456789_-.") !=
		    strlen(value)) {
			snprintf(err, errlen, "not a job name");
			return (-1);
		}
	}
	return (0);
hex:
	snprintf(err, errlen, "not an archive digest (16 lowercase hex "
	    "digits, from the last report)");
	return (-1);
}

static int
dep_check(const struct qsched_host *host, struct qsched_run *run)
{
	static const char *const checked[] = {
		"confirm", "unsigned_job", "outstanding_job", NULL,
	};
	PGresult	*res;
	char		 err[256];
	int		 rc = 0;

	/* Until every core calls .validate, check the values here too. */
	for (int i = 0; checked[i] != NULL; i++)
		if (host->opt_is_set(run, checked[i]) &&
		    dep_validate(host, checked[i], host->opt_string(run,
		    checked[i]), err, sizeof err) == -1) {
			host->message(run, "option %s of job %s: \"%s\": %s",
			    checked[i], host->job(run), host->opt_string(run,
			    checked[i]), err);
			return (-1);
		}

	res = host->exec(run, "checking the tables", "SELECT string_agg(n, "
	    "', ') FROM unnest(ARRAY['user_call_scores', "
	    "'unsigned_users_queue', 'outstanding_requests_queue']) AS n "
	    "WHERE to_regclass(n) IS NULL", 0, NULL);
	if (res == NULL)
		return (-1);
	if (!PQgetisnull(res, 0, 0)) {
		host->message(run, "missing: %s (run the schema-migrate job "
		    "first)", PQgetvalue(res, 0, 0));
		rc = -1;
	}
	PQclear(res);
	return (rc);
}

static void
dep_objects(const struct qsched_host *host, struct qsched_run *run,
    struct object *objs)
{
	memset(objs, 0, sizeof *objs * DEP_NOBJECTS);
	objs[0].name = "unsigned_users";
	objs[0].table = "unsigned_users_queue";
	objs[0].job = host->opt_string(run, "unsigned_job");
	objs[1].name = "outstanding_requests";
	objs[1].table = "outstanding_requests_queue";
	objs[1].job = host->opt_string(run, "outstanding_job");
	objs[DEP_TABLE].name = "call_queue";
}

static void
dep_free(struct object *objs)
{
	for (int i = 0; i < DEP_NOBJECTS; i++)
		ledger_free(&objs[i]);
}

/* Read every object, the table first: the types' gates need its state. */
static int
dep_read(const struct qsched_host *host, struct qsched_run *run,
    struct object *objs, int64_t period_s, bool exists)
{
	if (ledger_read(host, run, &objs[DEP_TABLE], period_s, exists) == -1)
		return (-1);
	for (int i = 0; i < DEP_TABLE; i++)
		if (ledger_read(host, run, &objs[i], period_s, exists) == -1)
			return (-1);
	return (0);
}

/* The flag: 1 the legacy queue is still populated, 0 frozen. */
static bool
dep_legacy(const struct qsched_host *host, struct qsched_run *run, int *flag)
{
	*flag = host->flag(run, DEP_FLAG);
	/* Unknown to this qsched (a core before declared flags): keep the
	 * dual-write, the safe side. */
	return (*flag != 0);
}

static int
dep_measure(const struct qsched_host *host, struct qsched_run *run,
    struct object *objs, int index, bool legacy, int64_t period_s,
    char *blocked, size_t blen, struct plan *pl)
{
	*blocked = '\0';
	if (gates_measure(host, run, &objs[index], objs) == -1)
		return (-1);
	if (index == DEP_TABLE && objs[DEP_TABLE].state != ST_DROPPED &&
	    purge_drop_ready(host, run, objs, blocked, blen) == -1)
		return (-1);
	plan_object(objs, index, legacy, period_s, blocked, pl);
	return (0);
}

static enum qsched_result
dep_dry_run(const struct qsched_host *host, struct qsched_run *run,
    int64_t period_s)
{
	struct object	 objs[DEP_NOBJECTS];
	struct plan	 plans[DEP_NOBJECTS];
	char		 blocked[2048] = "";
	enum dep_state	 saved[DEP_TABLE];
	bool		 legacy;
	int		 exists, flag;

	dep_objects(host, run, objs);
	legacy = dep_legacy(host, run, &flag);
	if (health_command(host, run, "beginning the dry run", "BEGIN ISOLATION "
	    "LEVEL REPEATABLE READ READ ONLY") == -1)
		return (QSCHED_FAIL);
	if ((exists = ledger_exists(host, run)) == -1 ||
	    dep_read(host, run, objs, period_s, exists) == -1)
		goto fail;
	for (int i = 0; i < DEP_TABLE; i++)
		if (dep_measure(host, run, objs, i, legacy, period_s, blocked,
		    sizeof blocked, &plans[i]) == -1)
			goto fail;
	/* The table's step sees the types as this run would leave them. */
	for (int i = 0; i < DEP_TABLE; i++) {
		saved[i] = objs[i].state;
		objs[i].state = plan_target(&objs[i], &plans[i]);
	}
	if (dep_measure(host, run, objs, DEP_TABLE, legacy, period_s,
	    blocked, sizeof blocked, &plans[DEP_TABLE]) == -1)
		goto fail;
	for (int i = 0; i < DEP_TABLE; i++)
		objs[i].state = saved[i];
	printf("legacy_deprecation dry run (job %s)%s\n", host->job(run),
	    exists ? "" : "; " DEP_SCHEMA " does not exist yet");
	report_print(stdout, objs, plans, legacy, flag, blocked);
	fflush(stdout);
	report_metrics(host, run, objs, plans);
	dep_rollback(host, run);
	host->message(run, "dry run: %s %s, next: %s; %s %s, next: %s; "
	    "call_queue %s, next: %s", objs[0].name,
	    ledger_states[objs[0].state], plan_actions[plans[0].action],
	    objs[1].name, ledger_states[objs[1].state],
	    plan_actions[plans[1].action], ledger_states[objs[2].state],
	    plan_actions[plans[2].action]);
	dep_free(objs);
	return (QSCHED_OK);
fail:
	dep_rollback(host, run);
	dep_free(objs);
	return (host->cancelled(run) ? QSCHED_CANCELLED : QSCHED_FAIL);
}

/* Forget an object's unfinished archive and purge passes. */
static int
dep_clear_passes(const struct qsched_host *host, struct qsched_run *run,
    const struct object *obj)
{
	char	 key[64];

	snprintf(key, sizeof key, "archive_%s", obj->name);
	if (host->checkpoint_clear(run, key) == -1)
		return (-1);
	snprintf(key, sizeof key, "purge_%s", obj->name);
	return (host->checkpoint_clear(run, key));
}

static int
dep_rollback_object(const struct qsched_host *host, struct qsched_run *run,
    struct object *obj, int index, const char *why)
{
	char	*sql;
	int	 rc;

	if (asprintf(&sql, "BEGIN; DO $$ BEGIN IF to_regclass('" DEP_ARCHIVE
	    "') IS NOT NULL THEN DELETE FROM " DEP_ARCHIVE " WHERE %s; END IF; "
	    "IF to_regclass('" DEP_MAP "') IS NOT NULL THEN DELETE FROM "
	    DEP_MAP " WHERE object = '%s'; END IF; END $$",
	    archive_types(index), obj->name) == -1) {
		host->message(run, "out of memory");
		return (-1);
	}
	rc = health_command(host, run, "rolling back", sql);
	free(sql);
	if (rc == -1 || dep_clear_passes(host, run, obj) == -1 ||
	    ledger_move(host, run, obj, ST_DUAL_WRITE, 0, why) == -1 ||
	    health_command(host, run, "committing the rollback", "COMMIT") == -1) {
		dep_rollback(host, run);
		return (-1);
	}
	return (0);
}

/* Do PL's step for object INDEX: 0 done (or nothing to do), 1 stopped
 * (cancelled), -1 failed. */
static int
dep_step(const struct qsched_host *host, struct qsched_run *run,
    struct object *objs, int index, struct plan *pl, struct health *h,
    int64_t *purged)
{
	struct object	*obj = &objs[index];
	char		 why[2048], note[3072];
	int64_t		 deleted, kept;
	bool		 proved;
	int		 rc;

	switch (pl->action) {
	case ACT_NONE:
		return (0);
	case ACT_FREEZE:
		return (ledger_move(host, run, obj, ST_FROZEN, 0, pl->why));
	case ACT_ROLLBACK:
		return (dep_rollback_object(host, run, obj, index, pl->why));
	case ACT_MONITOR:
		return (ledger_move(host, run, obj, ST_MONITORING, 1, pl->why));
	case ACT_RESET_CLOCK:
		snprintf(note, sizeof note, "%sclock reset: %s",
		    obj->state == ST_MONITORING ? "monitoring " : "", pl->why);
		snprintf(pl->why, sizeof pl->why, "%s", note);
		return (ledger_move(host, run, obj, obj->state, 1, note));
	case ACT_ARCHIVE:
		rc = archive_run(host, run, obj, index, h, &proved, why,
		    sizeof why);
		if (rc <= 0)
			return (rc == 0 ? 1 : -1);
		if (!proved) {
			snprintf(pl->why, sizeof pl->why, "archive proof fails: "
			    "%s", why);
			host->message(run, "%s: %s", obj->name, pl->why);
			return (-1);
		}
		snprintf(note, sizeof note, "archive proof holds: %s; digest "
		    "%s", why, obj->digest);
		if (ledger_move(host, run, obj, ST_ARCHIVED, -1, note) == -1 ||
		    health_command(host, run, "committing the archive",
		    "COMMIT") == -1) {
			dep_rollback(host, run);
			return (-1);
		}
		snprintf(pl->why, sizeof pl->why, "%s", note);
		return (0);
	case ACT_PURGE:
		rc = purge_run(host, run, obj, index, h, &deleted, &kept, why,
		    sizeof why);
		*purged += deleted;
		if (rc <= 0)
			return (rc == 0 ? 1 : -1);
		snprintf(pl->why, sizeof pl->why, "%s", why);
		if (rc == 2) {
			host->log(run, QSCHED_LOG_WARNING, "%s: %s; stays "
			    "archived", obj->name, why);
			return (0);
		}
		return (ledger_move(host, run, obj, ST_PURGED, -1, why));
	case ACT_DROP:
		if (purge_drop(host, run) == -1)
			return (-1);
		snprintf(note, sizeof note, "%s; archive digest %s", pl->why,
		    obj->digest);
		if (ledger_move(host, run, obj, ST_DROPPED, 0, note) == -1 ||
		    health_command(host, run, "committing the drop", "COMMIT") ==
		    -1) {
			dep_rollback(host, run);
			return (-1);
		}
		return (0);
	}
	return (0);
}

static enum qsched_result
dep_restore(const struct qsched_host *host, struct qsched_run *run,
    struct object *objs, int64_t period_s)
{
	char	 note[256];
	int64_t	 rows;
	int	 rc;

	if (dep_read(host, run, objs, period_s, true) == -1)
		return (QSCHED_FAIL);
	if (objs[DEP_TABLE].state == ST_DROPPED) {
		host->message(run, "restore: call_queue is dropped; its rows "
		    "are in " DEP_ARCHIVE ", to be restored by hand into a "
		    "recreated table (the steps: qsched-plugins(7), LEGACY "
		    "DEPRECATION, Restore)");
		return (QSCHED_FAIL);
	}
	if ((rc = archive_restore(host, run, &objs[0], 0, &rows)) <= 0)
		return (rc == 0 ? QSCHED_CANCELLED : QSCHED_FAIL);
	snprintf(note, sizeof note, "restore: %" PRId64 " archived rows put "
	    "back into call_queue", rows);
	if (health_command(host, run, "finishing the restore", "BEGIN; DELETE "
	    "FROM " DEP_ARCHIVE "; DELETE FROM " DEP_MAP) == -1)
		goto fail;
	for (int i = 0; i < DEP_NOBJECTS; i++) {
		if (dep_clear_passes(host, run, &objs[i]) == -1)
			goto fail;
		if (objs[i].state != ST_DUAL_WRITE && ledger_move(host, run,
		    &objs[i], ST_DUAL_WRITE, 0, note) == -1)
			goto fail;
	}
	if (health_command(host, run, "committing the restore", "COMMIT") == -1)
		goto fail;
	host->counter(run, "restored_rows", rows);
	host->message(run, "%s; every object is back in dual_write (with "
	    "populate_legacy_queue = false the next run freezes again)", note);
	return (QSCHED_OK);
fail:
	dep_rollback(host, run);
	return (QSCHED_FAIL);
}

static enum qsched_result
dep_advance(const struct qsched_host *host, struct qsched_run *run,
    struct object *objs, int64_t period_s)
{
	struct plan	 plans[DEP_NOBJECTS];
	struct health	 h;
	char		 blocked[2048], msg[4096] = "";
	char		 name[64];
	int64_t		 purged = 0, t0;
	bool		 legacy;
	int		 flag, rc = 0;

	legacy = dep_legacy(host, run, &flag);
	health_init(host, run, &h, DEP_VACUUM_TABLES, DEP_HEALTH_TABLES);
	if (dep_read(host, run, objs, period_s, true) == -1)
		return (QSCHED_FAIL);
	for (int i = 0; i < DEP_NOBJECTS && rc == 0; i++) {
		enum dep_state	 from = objs[i].state;

		if (dep_measure(host, run, objs, i, legacy, period_s, blocked,
		    sizeof blocked, &plans[i]) == -1 ||
		    ledger_store_gates(host, run, &objs[i]) == -1) {
			rc = -1;
			break;
		}
		t0 = host->mono_us();
		rc = dep_step(host, run, objs, i, &plans[i], &h, &purged);
		if (plans[i].action == ACT_ARCHIVE ||
		    plans[i].action == ACT_PURGE) {
			snprintf(name, sizeof name, "%s_ms_%s",
			    plans[i].action == ACT_ARCHIVE ? "archive" :
			    "purge", objs[i].name);
			host->counter(run, name, (host->mono_us() - t0) / 1000);
		}
		if (from != objs[i].state)
			dep_appendf(msg, sizeof msg, "%s%s: %s -> %s", i > 0 ?
			    "; " : "", objs[i].name, ledger_states[from],
			    ledger_states[objs[i].state]);
		else
			dep_appendf(msg, sizeof msg, "%s%s: %s (%s)", i > 0 ?
			    "; " : "", objs[i].name, ledger_states[from],
			    plans[i].why);
	}
	host->counter(run, "purged_rows", purged);
	health_metrics(host, run, &h);
	if (rc != 0) {
		/* Each object reached so far is recorded; say where. */
		if (host->cancelled(run) || rc == 1) {
			host->message(run, "cancelled; the next run resumes "
			    "(%s)", msg);
			dep_free(objs);
			return (QSCHED_CANCELLED);
		}
		dep_free(objs);
		return (QSCHED_FAIL);
	}
	report_metrics(host, run, objs, plans);
	if (objs[DEP_TABLE].state == ST_PURGED && *blocked == '\0')
		dep_appendf(msg, sizeof msg, "; nothing blocks the drop");
	host->message(run, "%s", msg);
	dep_free(objs);
	return (QSCHED_OK);
}

static enum qsched_result
dep_run(const struct qsched_host *host, struct qsched_run *run)
{
	struct object	 objs[DEP_NOBJECTS];
	int64_t		 period_s = host->opt_duration_ms(run,
	    "monitoring_period") / 1000;
	char		 key[24];
	const char	*params[1] = { key };
	enum qsched_result rc;
	PGresult	*res;
	bool		 locked;

	if (host->dry_run(run))
		return (dep_dry_run(host, run, period_s));
	/* One retirement per database, whatever the jobs are called. */
	snprintf(key, sizeof key, "%" PRId64, host->lock_key(
	    "legacy_deprecation", "retirement"));
	if ((res = host->exec(run, "taking the retirement lock",
	    "SELECT pg_try_advisory_lock($1::bigint)", 1, params)) == NULL)
		return (QSCHED_FAIL);
	locked = *PQgetvalue(res, 0, 0) == 't';
	PQclear(res);
	if (!locked) {
		host->message(run, "another legacy_deprecation job is running "
		    "in this database");
		return (QSCHED_SKIP);
	}
	dep_objects(host, run, objs);
	if (ledger_prepare(host, run) == -1)
		rc = QSCHED_FAIL;
	else if (strcmp(host->opt_string(run, "action"), "restore") == 0)
		rc = dep_restore(host, run, objs, period_s);
	else
		rc = dep_advance(host, run, objs, period_s);
	dep_free(objs);
	host->state(run, NULL);
	dep_rollback(host, run);
	if (PQstatus(host->conn(run)) == CONNECTION_OK)
		PQclear(PQexecParams(host->conn(run), "SELECT "
		    "pg_advisory_unlock($1::bigint)", 1, NULL, params, NULL,
		    NULL, 0));
	return (rc);
}

QSCHED_PLUGIN_DEFINE(
	.name = "legacy_deprecation",
	.version = PACKAGE_VERSION,
	.summary = "retire the legacy call_queue on evidence: freeze, "
	    "monitor, archive with a proof, purge, drop only on proof",
	.options = dep_options,
	.check = dep_check,
	.run = dep_run,
	.validate = dep_validate,
	.flags = dep_flags,
	.metrics = dep_metrics,
)
