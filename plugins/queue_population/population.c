/*
 * population.c - the queue_population plugin: refresh one separated queue
 * (unsigned_users or outstanding_requests) from user_call_scores with the
 * application's population rule, in one transaction that writes only the
 * entries that differ; with the flag populate_legacy_queue, keep the
 * legacy call_queue rows of that queue type in step the same way.
 * refresh.c holds the SQL and says why it is safe to run while agents
 * claim entries; changes.c decides when the change log lets a refresh
 * compare only the users that changed.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "population.h"

#define DAY_MS		(24LL * 3600 * 1000)

static const struct qsched_option population_options[] = {
	{ "queue", QSCHED_OPT_STRING, QSCHED_OPT_REQUIRED, NULL, 0, 0,
	    "unsigned_users|outstanding_requests",
	    "the queue to refresh, as user_call_scores.current_queue_type "
	    "names it" },
	{ "cooling_period", QSCHED_OPT_DURATION, 0, "2h", 0, 365 * DAY_MS,
	    NULL, "users with a score above 0 are queued only this long "
	    "after their created_at" },
	{ "max_size", QSCHED_OPT_INT, 0, "200", 0, 100000000, NULL,
	    "fill with scored users up to this many entries (new leads are "
	    "never capped); 0: no cap" },
	{ "assignment_lease", QSCHED_OPT_DURATION, 0, "30m", 1000, 7 * DAY_MS,
	    NULL, "assigned entries older than this go back to pending" },
	{ "work_mem", QSCHED_OPT_STRING, 0, "64MB", 0, 0, NULL,
	    "work_mem for the refresh transaction (its sorts and hashes)" },
	{ "full_refresh_every", QSCHED_OPT_DURATION, 0, "1h", 0, 7 * DAY_MS,
	    NULL, "compare the whole queue with the rule at least this "
	    "often; between, only the users the change log names; 0: "
	    "always" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

/* The flags this plugin reads (flags.ini, section [queue_migration]). */
static const struct qsched_flag population_flags[] = {
	{ "queue_migration", "populate_separated_tables", true,
	    "qsched refreshes the separated queue tables" },
	{ "queue_migration", "populate_legacy_queue", false,
	    "qsched also keeps the legacy call_queue rows of each queue type "
	    "in step (dual write)" },
	{ NULL, NULL, false, NULL },
};

/* One query answers every precondition; columns in this order. */
enum population_need {
	NEED_SOURCE,		/* user_call_scores */
	NEED_TABLE,		/* the queue table */
	NEED_LIVE_KEY,		/* its unique index on live entries */
	NEED_EXPIRE,		/* queue_expire_assignments() */
	NEED_LEGACY,		/* call_queue */
	NEED_SESSIONS,		/* call_sessions */
};

static int
population_check(const struct qsched_host *host, struct qsched_run *run)
{
	const struct queue_def *q = queues_find(host->opt_string(run,
	    "queue"));
	bool		 legacy = host->flag(run, "populate_legacy_queue") == 1;
	const char	*params[2];
	PGresult	*res;
	int		 missing = -1;

	if (q == NULL) {	/* the option's choices make this unreachable */
		host->message(run, "queue: \"%s\" is not a queue",
		    host->opt_string(run, "queue"));
		return (-1);
	}
	/* A run the flag skips needs nothing. */
	if (host->flag(run, "populate_separated_tables") == 0)
		return (0);
	params[0] = host->opt_string(run, "work_mem");
	res = PQexecParams(host->conn(run), "SELECT set_config('work_mem', "
	    "$1, true)", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		host->fail(run, res, "work_mem \"%s\"", params[0]);
		PQclear(res);
		return (-1);
	}
	PQclear(res);
	params[0] = q->table;
	params[1] = q->live_key;
	res = PQexecParams(host->conn(run),
	    "SELECT to_regclass('user_call_scores') IS NOT NULL, "
	    "to_regclass($1) IS NOT NULL, "
	    "EXISTS (SELECT 1 FROM pg_index WHERE indexrelid = "
	    "to_regclass($2) AND indisunique AND indisvalid), "
	    "to_regprocedure('queue_expire_assignments(text,interval)') "
	    "IS NOT NULL, "
	    "to_regclass('call_queue') IS NOT NULL, "
	    "to_regclass('call_sessions') IS NOT NULL",
	    2, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		host->fail(run, res, "checking the queue tables");
		PQclear(res);
		return (-1);
	}
	for (int i = NEED_SOURCE; i <= NEED_SESSIONS && missing == -1; i++)
		if (*PQgetvalue(res, 0, i) != 't' &&
		    (legacy || i < NEED_LEGACY))
			missing = i;
	PQclear(res);
	switch (missing) {
	case -1:
		return (0);
	case NEED_SOURCE:
		host->message(run, "table user_call_scores does not exist: "
		    "is this the application's database?");
		break;
	case NEED_TABLE:
		host->message(run, "table %s does not exist: apply the "
		    "migrations first (job schema-migrate)", q->table);
		break;
	case NEED_LIVE_KEY:
		host->message(run, "unique index %s (one live entry per user) "
		    "is missing or invalid: apply the migrations first (job "
		    "schema-migrate)", q->live_key);
		break;
	case NEED_EXPIRE:
		host->message(run, "function queue_expire_assignments(text, "
		    "interval) does not exist: apply the migrations first "
		    "(job schema-migrate)");
		break;
	default:
		host->message(run, "populate_legacy_queue is true but table "
		    "%s does not exist", missing == NEED_LEGACY ?
		    "call_queue" : "call_sessions");
		break;
	}
	return (-1);
}

static void
population_report(const struct qsched_host *host, struct qsched_run *run,
    const struct refresh_opts *o, const struct refresh_counts *c)
{
	int64_t		 rows;
	char		 legacy[256] = "";

	/*
	 * A scoped refresh knows nothing of the users it did not compare:
	 * "eligible" and "unchanged" are counted by full comparisons only.
	 */
	if (c->scoped) {
		host->counter(run, "compared", c->compared);
		host->counter(run, "neighbours", c->neighbours);
	} else {
		host->counter(run, "eligible", c->eligible);
		host->counter(run, "unchanged", c->unchanged);
		host->note(run, "full_reason", c->full_reason);
	}
	host->counter(run, "scoped", c->scoped);
	host->counter(run, "change_log_rows", c->log_rows);
	host->counter(run, "inserted", c->inserted);
	host->counter(run, "updated", c->updated);
	host->counter(run, "removed", c->removed);
	host->counter(run, "kept_assigned", c->kept_assigned);
	host->counter(run, "expired_assignments", c->expired_assignments);
	host->counter(run, "skipped_concurrent", c->skipped_concurrent);
	host->counter(run, "moved", c->moved);
	host->counter(run, "renumbered_all", c->renumbered_all);
	host->counter(run, "refresh_ms", c->elapsed_ms);
	host->counter(run, "max_size", o->max_size);
	rows = c->inserted + c->updated + c->removed + c->expired_assignments;
	if (o->legacy) {
		host->counter(run, "legacy_inserted", c->legacy_inserted);
		host->counter(run, "legacy_updated", c->legacy_updated);
		host->counter(run, "legacy_removed", c->legacy_removed);
		host->counter(run, "legacy_completed", c->legacy_completed);
		if (!c->scoped)
			host->counter(run, "legacy_unchanged",
			    c->legacy_unchanged);
		host->counter(run, "legacy_kept_assigned",
		    c->legacy_kept_assigned);
		rows += c->legacy_inserted + c->legacy_updated +
		    c->legacy_removed + c->legacy_completed;
		snprintf(legacy, sizeof legacy, "; call_queue: %lld inserted, "
		    "%lld updated, %lld deleted, %lld marked completed, %lld "
		    "unchanged, %lld assigned kept",
		    (long long)c->legacy_inserted, (long long)c->legacy_updated,
		    (long long)c->legacy_removed,
		    (long long)c->legacy_completed,
		    (long long)c->legacy_unchanged,
		    (long long)c->legacy_kept_assigned);
	}
	if (!o->dry_run)
		host->add_rows(run, rows);
	if (c->scoped)
		host->message(run, "%s%s: %lld changed user%s compared; "
		    "%lld inserted, %lld updated, %lld removed, %lld "
		    "assigned kept, %lld assignment%s expired%s",
		    o->dry_run ? "dry run (rolled back): " : "",
		    o->queue->name, (long long)c->compared,
		    c->compared == 1 ? "" : "s", (long long)c->inserted,
		    (long long)c->updated, (long long)c->removed,
		    (long long)c->kept_assigned,
		    (long long)c->expired_assignments,
		    c->expired_assignments == 1 ? "" : "s", legacy);
	else
		host->message(run, "%s%s: full comparison (%s): %lld "
		    "eligible; %lld inserted, %lld updated, %lld removed, "
		    "%lld unchanged, %lld assigned kept, %lld assignment%s "
		    "expired%s", o->dry_run ? "dry run (rolled back): " : "",
		    o->queue->name, c->full_reason,
		    (long long)c->eligible,
		    (long long)c->inserted, (long long)c->updated,
		    (long long)c->removed, (long long)c->unchanged,
		    (long long)c->kept_assigned,
		    (long long)c->expired_assignments,
		    c->expired_assignments == 1 ? "" : "s", legacy);
}

/* Refreshes in one run when each loses a race (a deadlock, a foreign
 * key race); then the job's own retries take over. */
#define POPULATION_RACE_TRIES	3

static enum qsched_result
population_run(const struct qsched_host *host, struct qsched_run *run)
{
	struct refresh_opts o;
	struct refresh_counts c;
	int		 separated;
	bool		 retry;

	memset(&o, 0, sizeof o);
	if ((o.queue = queues_find(host->opt_string(run, "queue"))) == NULL) {
		host->message(run, "queue: \"%s\" is not a queue",
		    host->opt_string(run, "queue"));
		return (QSCHED_FAIL);
	}
	host->note(run, "queue", o.queue->name);
	separated = host->flag(run, "populate_separated_tables");
	if (separated == -1) {
		host->message(run, "this qsched knows no flag "
		    "populate_separated_tables");
		return (QSCHED_FAIL);
	}
	if (separated == 0) {
		host->message(run, "populate_separated_tables is false: the "
		    "%s queue is not refreshed", o.queue->name);
		return (QSCHED_SKIP);
	}
	o.cooling_ms = host->opt_duration_ms(run, "cooling_period");
	o.max_size = host->opt_int(run, "max_size");
	o.lease_ms = host->opt_duration_ms(run, "assignment_lease");
	o.work_mem = host->opt_string(run, "work_mem");
	o.full_every_ms = host->opt_duration_ms(run, "full_refresh_every");
	o.legacy = host->flag(run, "populate_legacy_queue") == 1;
	o.dry_run = host->dry_run(run);

	host->progress(run, 0, 3);
	/*
	 * A race (refresh.c) is refreshed again at once: a failed attempt
	 * would keep the queue stale for a retry_delay, and fail the
	 * deprecation's "new queues healthy" gate for nothing.
	 */
	for (int tries = 1;; tries++) {
		if (refresh_run(host, run, &o, &c, &retry) == 0)
			break;
		if (host->cancelled(run))
			return (QSCHED_CANCELLED);
		if (!retry)
			return (QSCHED_FAIL);
		if (tries == POPULATION_RACE_TRIES)
			return (QSCHED_RETRY);
		host->counter(run, "race_retries", tries);
		host->log(run, QSCHED_LOG_NOTICE, "the refresh lost a race "
		    "(attempt %d of %d); refreshing again", tries,
		    POPULATION_RACE_TRIES);
	}
	host->progress(run, 3, 3);
	population_report(host, run, &o, &c);
	return (QSCHED_OK);
}

/*
 * What qsched metrics and the daemon's /metrics show of the queues (the
 * plan's "monitor the new system").  Each query reads the queue tables'
 * indexes (status, assigned_at; migration 0005) or, for the eligible
 * users, the population index (0008).  Times in the tables are UTC.
 */
#define POPULATION_NOW	"(now() AT TIME ZONE 'UTC')"
#define POPULATION_EACH(q, value, where)				\
	"SELECT '" q "' AS queue, " value " AS value FROM " q "_queue "	\
	"WHERE " where
#define POPULATION_AGE							\
	"coalesce(extract(epoch FROM " POPULATION_NOW " - min(available_from)), 0)"
#define POPULATION_CLAIMABLE						\
	"status = 'pending' AND available_from <= " POPULATION_NOW
#define POPULATION_RECENT						\
	"assigned_at > " POPULATION_NOW " - interval '5 minutes'"
/*
 * One branch per queue, its name a constant: each counts its own users
 * (an index-only scan of the population index) and anti-joins only its
 * own queue, where one statement for both queues anti-joined every user
 * with both queues under a filter on the queue's name.
 */
#define POPULATION_UNQUEUED(q)						\
	"SELECT '" q "' AS queue, count(*) AS value "			\
	"FROM user_call_scores u WHERE u.current_queue_type = '" q "' "	\
	"AND u.is_active AND (u.next_call_after IS NULL "		\
	"OR u.next_call_after <= " POPULATION_NOW ") AND NOT EXISTS ("	\
	"SELECT 1 FROM " q "_queue e WHERE e.user_id = u.user_id "	\
	"AND e.status IN ('pending', 'assigned'))"
static const struct qsched_metric population_metrics[] = {
	{ "qsched_queue_entries", QSCHED_METRIC_GAUGE,
	    "Live entries of the queue, by status (pending, assigned).",
	    "SELECT q.queue, s.status, CASE q.queue "
	    "WHEN 'unsigned_users' THEN (SELECT count(*) FROM "
	    "unsigned_users_queue e WHERE e.status = s.status) "
	    "ELSE (SELECT count(*) FROM outstanding_requests_queue e "
	    "WHERE e.status = s.status) END AS value "
	    "FROM (VALUES ('unsigned_users'), ('outstanding_requests')) "
	    "AS q(queue), (VALUES ('pending'), ('assigned')) AS s(status)" },
	{ "qsched_queue_oldest_claimable_age_seconds", QSCHED_METRIC_GAUGE,
	    "Age of the oldest pending entry available now (0: none).",
	    POPULATION_EACH("unsigned_users", POPULATION_AGE,
	    POPULATION_CLAIMABLE) " UNION ALL "
	    POPULATION_EACH("outstanding_requests", POPULATION_AGE,
	    POPULATION_CLAIMABLE) },
	{ "qsched_queue_eligible_unqueued_users", QSCHED_METRIC_GAUGE,
	    "Active users of the queue's type, due for a call, without a "
	    "live entry (cooling period and max_size not applied).",
	    POPULATION_UNQUEUED("unsigned_users") " UNION ALL "
	    POPULATION_UNQUEUED("outstanding_requests") },
	{ "qsched_queue_recent_claims", QSCHED_METRIC_GAUGE,
	    "Entries of the queue claimed by agents in the last 5 minutes.",
	    POPULATION_EACH("unsigned_users", "count(*)", POPULATION_RECENT)
	    " UNION ALL "
	    POPULATION_EACH("outstanding_requests", "count(*)",
	    POPULATION_RECENT) },
	{ "qsched_population_skipped_concurrent_total", QSCHED_METRIC_RUN_SUM,
	    "Entries a refresh left to the next one because an agent or the "
	    "application changed them meanwhile (conflicts).",
	    "skipped_concurrent" },
	{ "qsched_population_expired_assignments_total", QSCHED_METRIC_RUN_SUM,
	    "Assignments older than assignment_lease put back to pending.",
	    "expired_assignments" },
	{ NULL, 0, NULL, NULL },
};

/*
 * work_mem as the server reads it: an integer with an optional unit
 * (kB, MB, GB, TB; no unit: kB), from 64kB to 2147483647kB, so "lots"
 * is refused where it is written instead of failing every run.
 */
static int
population_validate(const struct qsched_host *host, const char *option,
    const char *value, char *err, size_t errlen)
{
	static const struct { const char *unit; long long kb; } units[] = {
		{ "", 1 }, { "kB", 1 }, { "MB", 1024 }, { "GB", 1024 * 1024 },
		{ "TB", 1024LL * 1024 * 1024 },
	};
	char		*end;
	long long	 n;

	(void)host;
	if (strcmp(option, "work_mem") != 0)
		return (0);
	n = strtoll(value, &end, 10);
	if (end == value || n < 0) {
		snprintf(err, errlen, "not a memory size (e.g. 64MB)");
		return (-1);
	}
	while (*end == ' ')
		end++;
	for (size_t i = 0; i < sizeof units / sizeof units[0]; i++) {
		if (strcmp(end, units[i].unit) != 0)
			continue;
		if (n > 2147483647LL / units[i].kb || n * units[i].kb < 64) {
			snprintf(err, errlen, "outside 64kB-2147483647kB");
			return (-1);
		}
		return (0);
	}
	snprintf(err, errlen, "unknown unit \"%s\" (kB, MB, GB, TB)", end);
	return (-1);
}

QSCHED_PLUGIN_DEFINE(
	.name = "queue_population",
	.version = PACKAGE_VERSION,
	.summary = "refresh a separated queue from user_call_scores, writing "
	    "only what changed",
	.options = population_options,
	.check = population_check,
	.run = population_run,
	.validate = population_validate,
	.flags = population_flags,
	.metrics = population_metrics,
)
