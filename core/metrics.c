/*
 * metrics.c - qsched's metrics in the Prometheus text format (0.0.4) and
 * in OpenMetrics 1.0: what qsched.runs, qsched.daemons, qsched.job_locks
 * and the plugins' declared metrics say (the "DB part"), and what a live
 * daemon knows about itself (the "live part", metrics_http.c).
 *
 * Memory and time stay flat however long the history: the counters, the
 * duration histogram, the last success and failure and the failures in a
 * row are read from the views qsched.job_totals_live and
 * qsched.job_metric_totals_live: one row per job (and per plugin counter)
 * folded by the daemon's heartbeat, plus the runs settled since, read
 * from a primary key range (sql/core/0004_job_totals.sql).  Reading never
 * folds: reporting commands do not write.  The other queries
 * read only the open runs (a partial index), the locks and the heartbeats.
 *
 * Everything here runs on whichever thread calls it, on the connection it
 * is given; nothing reads the clock of a time zone (tz.c is not
 * thread-safe): times are epoch seconds computed by PostgreSQL, except
 * the schedule interval, which metrics_jobs() computes on the main thread.
 */
#include "qsched.h"
#include "metrics_pipe.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Final statuses, as qsched.runs spells them: the label "status". */
static const char *const metrics_statuses[] = {
	"succeeded", "failed", "timed_out", "crashed", "skipped", "blocked",
	"cancelled", "abandoned",
};
#define METRICS_NSTATUS	(sizeof metrics_statuses / sizeof *metrics_statuses)

/*
 * Duration histogram buckets (qsched(8), METRICS): the bound in ms and the
 * qsched.job_totals column that counts the runs at most that long.
 */
static const struct {
	int64_t		 ms;
	const char	*column;
} metrics_buckets[] = {
	{ 100, "le_100ms" }, { 1000, "le_1s" }, { 5000, "le_5s" },
	{ 15000, "le_15s" }, { 60000, "le_1m" }, { 300000, "le_5m" },
	{ 900000, "le_15m" }, { 1800000, "le_30m" }, { 3600000, "le_1h" },
	{ 7200000, "le_2h" }, { 21600000, "le_6h" }, { 86400000, "le_1d" },
};
#define METRICS_NBUCKET	(sizeof metrics_buckets / sizeof *metrics_buckets)

/* The schedule interval is the longest gap among this many fires. */
#define METRICS_INTERVAL_FIRES	16

/* Totals of the final runs of one job (a row of qsched.job_totals). */
struct metrics_acc {
	int64_t		 status[METRICS_NSTATUS];
	int64_t		 count;			/* runs with a duration */
	int64_t		 sum_ms;
	int64_t		 bucket[METRICS_NBUCKET];
	int64_t		 rows;
	double		 last_success;		/* epoch s; 0: none */
	double		 last_failure;
	int64_t		 consecutive;		/* failures since a success */
};

/* One RUN_SUM series: job JOB's sum of metrics key DEF->source. */
struct metrics_key {
	size_t		 job;
	const struct qsched_metric *def;
};

/* The DB part as the last successful refresh saw it. */
struct metrics_snap {
	char		**jobs;			/* names, as refreshed */
	size_t		 njobs;
	struct metrics_acc *acc;		/* per job */
	int		*running;
	int		*retries;
	bool		*throttled;
	bool		*locked;
	struct metrics_key *keys;
	double		*sums;			/* per key */
	size_t		 nkeys;
	struct buf	 daemons_age;		/* sample lines */
	struct buf	 daemons_lease;
	struct metrics_family *fam;		/* plugin SQL metrics */
	size_t		 nfam;
};

/* A plugin-declared GAUGE or COUNTER, read by its SQL. */
struct metrics_family {
	const struct qsched_metric *def;
	bool		 ok;			/* the query succeeded */
	struct buf	 samples;
	size_t		 stmt;			/* in metrics_db's fams */
	bool		 preparing;		/* this refresh prepares it */
};

/*
 * The statements a refresh runs are prepared once per connection: parsing
 * and planning them again on every scrape cost about as much server time
 * as running them.  The core's have fixed names (metrics_stmts); a plugin
 * SQL metric gets "qsched_metrics_fN", N its index here, prepared the
 * first time a refresh runs it on the connection.
 */
struct metrics_prep {
	char		*sql;
	bool		 ready;		/* prepared on the connection */
};

struct metrics_db {
	struct metrics_snap *good;
	int64_t		 good_mono;	/* ms; when good was taken */
	bool		 last_ok;
	double		 refresh_s;	/* how long the last refresh took */
	int64_t		 wait_ms;	/* a refresh waits this long at most */
	/* The connection and backend the core's statements were prepared
	 * on; a refresh that fails prepares them again. */
	const PGconn	*prep_conn;
	int		 prep_pid;
	struct metrics_prep *fams;
	size_t		 nfams;
};

/*
 * The exposition has a few thousand samples (about 35 per job), formatted
 * on every scrape: the functions below copy runs of plain characters at
 * once and format numbers on the stack, without a malloc() per piece.
 */
static void
metrics_label_value(struct buf *b, const char *v)
{
	size_t	 n;

	for (;;) {
		n = strcspn(v, "\\\"\n");
		buf_add(b, v, n);
		v += n;
		if (*v == '\0')
			break;
		buf_puts(b, *v == '\\' ? "\\\\" : *v == '"' ? "\\\"" : "\\n");
		v++;
	}
}

static void
metrics_value(struct buf *b, double v)
{
	char		 num[64], *p = num + sizeof num;
	uint64_t	 u;

	if (isnan(v))
		buf_puts(b, "NaN");
	else if (isinf(v))
		buf_puts(b, v > 0 ? "+Inf" : "-Inf");
	else if (v == floor(v) && fabs(v) < 1e15) {
		/* What "%.0f" prints, "-0" included. */
		u = (uint64_t)fabs(v);
		do {
			*--p = (char)('0' + u % 10);
			u /= 10;
		} while (u != 0);
		if (signbit(v))
			*--p = '-';
		buf_add(b, p, (size_t)(num + sizeof num - p));
	} else {
		snprintf(num, sizeof num, "%.6f", v);
		buf_puts(b, num);
	}
}

/*
 * One sample line: NAME{K1="V1",K2="V2"} VALUE.  LABELS is NULL or a list
 * of NLABELS key/value pairs.
 */
static void
metrics_sample(struct buf *b, const char *name, const char *const *labels,
    size_t nlabels, double v)
{
	buf_puts(b, name);
	for (size_t i = 0; i < nlabels; i++) {
		buf_add(b, i == 0 ? "{" : ",", 1);
		buf_puts(b, labels[2 * i]);
		buf_add(b, "=\"", 2);
		metrics_label_value(b, labels[2 * i + 1]);
		buf_add(b, "\"", 1);
	}
	buf_puts(b, nlabels > 0 ? "} " : " ");
	metrics_value(b, v);
	buf_add(b, "\n", 1);
}

static void
metrics_job_sample(struct buf *b, const char *name, const char *job,
    double v)
{
	const char	*l[2] = { "job", job };

	metrics_sample(b, name, l, 1, v);
}

/*
 * HELP and TYPE of a family.  OpenMetrics names a counter's family
 * without its _total, the text format with it.
 */
static void
metrics_family(struct buf *b, enum metrics_format f, const char *name,
    const char *type, const char *help)
{
	size_t	 n = strlen(name);

	if (f == METRICS_OPENMETRICS && strcmp(type, "counter") == 0 &&
	    n > 6 && strcmp(name + n - 6, "_total") == 0)
		n -= 6;
	buf_printf(b, "# HELP %.*s ", (int)n, name);
	for (const char *p = help; *p != '\0'; p++) {
		if (*p == '\\')
			buf_puts(b, "\\\\");
		else if (*p == '\n')
			buf_puts(b, "\\n");
		else if (*p == '"' && f == METRICS_OPENMETRICS)
			buf_puts(b, "\\\"");
		else
			buf_add(b, p, 1);
	}
	buf_printf(b, "\n# TYPE %.*s %s\n", (int)n, name, type);
}

static bool
metrics_name_valid(const char *name, bool label)
{
	if (name == NULL || *name == '\0' || (*name >= '0' && *name <= '9'))
		return (false);
	if (label && strncmp(name, "__", 2) == 0)
		return (false);
	for (const char *p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '_' ||
		    (*p == ':' && !label)))
			return (false);
	return (true);
}

/* Names the core uses itself: a plugin may not take them. */
static bool
metrics_core_name(const char *name)
{
	return (strncmp(name, "qsched_job_", 11) == 0 ||
	    strncmp(name, "qsched_daemon_", 14) == 0 ||
	    strncmp(name, "qsched_metrics_", 15) == 0);
}

/* The first job of PLUGIN's: where its SQL metrics are read from. */
static size_t
metrics_plugin_job(const struct metrics_live *lv, const char *plugin)
{
	size_t	 i;

	for (i = 0; i < lv->njobs; i++)
		if (strcmp(lv->jobs[i].plugin, plugin) == 0)
			break;
	return (i);
}

static bool
metrics_defs_have(const struct qsched_metric *d, size_t n, const char *name)
{
	for (size_t j = 0; d != NULL && d[j].name != NULL && j < n; j++)
		if (strcmp(d[j].name, name) == 0)
			return (true);
	return (false);
}

/*
 * Whether the core reads entry K of job JOB's plugin metrics: a valid
 * entry, not a core name, and the first of its name (in the plugin's
 * table, and among plugins in the order of their first jobs).
 */
static bool
metrics_def_usable(const struct metrics_live *lv, size_t job, size_t k)
{
	const struct qsched_metric *def = &lv->jobs[job].defs[k];
	size_t		 first = metrics_plugin_job(lv, lv->jobs[job].plugin);

	if (!metrics_name_valid(def->name, false) || def->source == NULL ||
	    def->help == NULL || metrics_core_name(def->name) ||
	    (def->type != QSCHED_METRIC_GAUGE &&
	    def->type != QSCHED_METRIC_COUNTER &&
	    def->type != QSCHED_METRIC_RUN_SUM))
		return (false);
	if (metrics_defs_have(lv->jobs[job].defs, k, def->name))
		return (false);
	for (size_t i = 0; i < first; i++)
		if (metrics_plugin_job(lv, lv->jobs[i].plugin) == i &&
		    metrics_defs_have(lv->jobs[i].defs, SIZE_MAX, def->name))
			return (false);
	return (true);
}

/* ---- the live part's configuration side (main thread) ---- */

/* The longest gap between the next fires, or 0 (manual, disabled). */
static int64_t
metrics_interval(const struct job *job, time_t now)
{
	time_t	 t, prev;
	int64_t	 gap = 0;

	if (!job->enabled || job->cron.manual ||
	    cron_next(&job->cron, job->timezone, now, &prev) == -1)
		return (0);
	for (int i = 0; i < METRICS_INTERVAL_FIRES; i++) {
		if (cron_next(&job->cron, job->timezone, prev, &t) == -1)
			break;
		if (t - prev > gap)
			gap = t - prev;
		prev = t;
	}
	return (gap);
}

void
metrics_jobs(struct metrics_live *lv, const struct config *cfg)
{
	time_t	 now = clock_now();

	metrics_live_free(lv);
	lv->database = xstrdup(cfg->database);
	lv->njobs = cfg->njobs;
	lv->jobs = xcalloc(cfg->njobs > 0 ? cfg->njobs : 1, sizeof *lv->jobs);
	for (size_t i = 0; i < cfg->njobs; i++) {
		const struct job *job = &cfg->jobs[i];
		struct metrics_job *mj = &lv->jobs[i];

		mj->name = xstrdup(job->name);
		mj->plugin = xstrdup(job->plugin_name);
		mj->schedule = xstrdup(job->schedule);
		mj->lock_key = lock_job_key(job);
		mj->interval_s = metrics_interval(job, now);
		/* Descriptors are static in plugins never unloaded. */
		if (job->plugin != NULL &&
		    QSCHED_PLUGIN_HAS(job->plugin->desc, metrics))
			mj->defs = job->plugin->desc->metrics;
	}
}

void
metrics_live_copy(struct metrics_live *dst, const struct metrics_live *src)
{
	metrics_live_free(dst);
	*dst = *src;
	dst->database = src->database != NULL ? xstrdup(src->database) : NULL;
	dst->jobs = xcalloc(src->njobs > 0 ? src->njobs : 1,
	    sizeof *dst->jobs);
	for (size_t i = 0; i < src->njobs; i++) {
		dst->jobs[i] = src->jobs[i];
		dst->jobs[i].name = xstrdup(src->jobs[i].name);
		dst->jobs[i].plugin = xstrdup(src->jobs[i].plugin);
		dst->jobs[i].schedule = xstrdup(src->jobs[i].schedule);
	}
}

void
metrics_live_free(struct metrics_live *lv)
{
	for (size_t i = 0; i < lv->njobs; i++) {
		free(lv->jobs[i].name);
		free(lv->jobs[i].plugin);
		free(lv->jobs[i].schedule);
	}
	free(lv->jobs);
	free(lv->database);
	lv->jobs = NULL;
	lv->njobs = 0;
	lv->database = NULL;
}

/* ---- the DB part ---- */

struct metrics_db *
metrics_db_new(int64_t wait_ms)
{
	struct metrics_db *db = xcalloc(1, sizeof *db);

	db->wait_ms = wait_ms;
	return (db);
}

static void
metrics_snap_free(struct metrics_snap *s)
{
	if (s == NULL)
		return;
	for (size_t i = 0; i < s->njobs; i++)
		free(s->jobs[i]);
	free(s->jobs);
	free(s->acc);
	free(s->running);
	free(s->retries);
	free(s->throttled);
	free(s->locked);
	free(s->keys);
	free(s->sums);
	buf_free(&s->daemons_age);
	buf_free(&s->daemons_lease);
	for (size_t i = 0; i < s->nfam; i++)
		buf_free(&s->fam[i].samples);
	free(s->fam);
	free(s);
}

void
metrics_db_free(struct metrics_db *db)
{
	if (db == NULL)
		return;
	for (size_t i = 0; i < db->nfams; i++)
		free(db->fams[i].sql);
	free(db->fams);
	metrics_snap_free(db->good);
	free(db);
}

/* The job names as a PostgreSQL array literal: {"a","b"}; malloc()ed. */
static char *
metrics_array(const char *const *v, size_t n)
{
	struct buf	 b = { NULL, 0, 0 };

	buf_puts(&b, "{");
	for (size_t i = 0; i < n; i++) {
		buf_puts(&b, i > 0 ? ",\"" : "\"");
		for (const char *p = v[i]; *p != '\0'; p++) {
			if (*p == '"' || *p == '\\')
				buf_add(&b, "\\", 1);
			buf_add(&b, p, 1);
		}
		buf_puts(&b, "\"");
	}
	buf_puts(&b, "}");
	return (buf_take(&b));
}

static size_t
metrics_job_index(const struct metrics_snap *s, const char *name)
{
	for (size_t i = 0; i < s->njobs; i++)
		if (strcmp(s->jobs[i], name) == 0)
			return (i);
	return ((size_t)-1);
}

static int64_t
metrics_int(const PGresult *res, int row, int col)
{
	return (PQgetisnull(res, row, col) ? 0 :
	    strtoll(PQgetvalue(res, row, col), NULL, 10));
}

static double
metrics_double(const PGresult *res, int row, int col)
{
	return (PQgetisnull(res, row, col) ? 0 :
	    strtod(PQgetvalue(res, row, col), NULL));
}

#define METRICS_SCHEMA_HINT					\
	"the qsched schema predates qsched.job_totals (version 4): "	\
	"`qsched init` upgrades it"

/* The totals of jobs $1, from qsched.job_totals_live. */
static char *
metrics_runs_sql(void)
{
	struct buf	 q = { NULL, 0, 0 };

	buf_puts(&q, "SELECT t.job");
	for (size_t i = 0; i < METRICS_NSTATUS; i++)
		buf_printf(&q, ", t.%s", metrics_statuses[i]);
	buf_puts(&q, ", t.duration_count, t.duration_sum_ms");
	for (size_t i = 0; i < METRICS_NBUCKET; i++)
		buf_printf(&q, ", t.%s", metrics_buckets[i].column);
	buf_puts(&q, ", t.rows_processed, extract(epoch FROM t.last_success), "
	    "extract(epoch FROM t.last_failure), t.consecutive_failures "
	    "FROM qsched.job_totals_live t WHERE t.job = ANY ($1::text[])");
	return (buf_take(&q));
}

static void
metrics_read_runs(const PGresult *res, struct metrics_snap *s)
{
	for (int row = 0; row < PQntuples(res); row++) {
		struct metrics_acc *a;
		size_t		 j = metrics_job_index(s, PQgetvalue(res, row,
		    0));
		int		 col = 1;

		if (j == (size_t)-1)
			continue;
		a = &s->acc[j];
		for (size_t i = 0; i < METRICS_NSTATUS; i++)
			a->status[i] = metrics_int(res, row, col++);
		a->count = metrics_int(res, row, col++);
		a->sum_ms = metrics_int(res, row, col++);
		for (size_t i = 0; i < METRICS_NBUCKET; i++)
			a->bucket[i] = metrics_int(res, row, col++);
		a->rows = metrics_int(res, row, col++);
		a->last_success = metrics_double(res, row, col++);
		a->last_failure = metrics_double(res, row, col++);
		a->consecutive = metrics_int(res, row, col++);
	}
}

static void
metrics_read_sums(const PGresult *res, struct metrics_snap *s)
{
	for (int row = 0; row < PQntuples(res); row++)
		for (size_t i = 0; i < s->nkeys; i++)
			if (strcmp(s->jobs[s->keys[i].job], PQgetvalue(res,
			    row, 0)) == 0 && strcmp(s->keys[i].def->source,
			    PQgetvalue(res, row, 1)) == 0)
				s->sums[i] = metrics_double(res, row, 2);
}

static void
metrics_read_open(const PGresult *res, struct metrics_snap *s)
{
	size_t	 j;

	for (int row = 0; row < PQntuples(res); row++) {
		if ((j = metrics_job_index(s, PQgetvalue(res, row, 0))) ==
		    (size_t)-1)
			continue;
		s->running[j] = (int)metrics_int(res, row, 1);
		s->retries[j] = (int)metrics_int(res, row, 2);
		s->throttled[j] = *PQgetvalue(res, row, 3) == 't';
	}
}

static void
metrics_read_locks(const PGresult *res, const struct metrics_live *lv,
    struct metrics_snap *s)
{
	for (int row = 0; row < PQntuples(res); row++) {
		int64_t	 k = metrics_int(res, row, 0);

		for (size_t i = 0; i < lv->njobs && i < s->njobs; i++)
			if (lv->jobs[i].lock_key == k)
				s->locked[i] = true;
	}
}

static void
metrics_read_daemons(const PGresult *res, struct metrics_snap *s)
{
	for (int row = 0; row < PQntuples(res); row++) {
		const char	*l[6] = { "host", PQgetvalue(res, row, 0),
		    "pid", PQgetvalue(res, row, 1), "kind",
		    PQgetvalue(res, row, 2) };

		metrics_sample(&s->daemons_age,
		    "qsched_daemon_heartbeat_age_seconds", l, 3,
		    metrics_double(res, row, 3));
		metrics_sample(&s->daemons_lease,
		    "qsched_daemon_heartbeat_lease_seconds", l, 3,
		    metrics_double(res, row, 4));
	}
}

/*
 * A plugin's SQL metric: label columns, then the value.  A failing query
 * costs its own family (qsched_metrics_source_up 0), not the scrape.
 */
static void
metrics_read_family(const PGresult *res, struct metrics_family *fam)
{
	const char	**l;
	char		*end;
	int		 nf = PQnfields(res);
	double		 v;

	if (nf < 1)
		return;
	for (int c = 0; c < nf - 1; c++)
		if (!metrics_name_valid(PQfname(res, c), true)) {
			log_debug("metrics: %s: column \"%s\" is not a label "
			    "name", fam->def->name, PQfname(res, c));
			return;
		}
	l = xcalloc((size_t)nf * 2, sizeof *l);
	fam->ok = true;
	for (int row = 0; row < PQntuples(res); row++) {
		if (PQgetisnull(res, row, nf - 1))
			continue;
		v = strtod(PQgetvalue(res, row, nf - 1), &end);
		if (*end != '\0') {
			fam->ok = false;
			continue;
		}
		for (int c = 0; c < nf - 1; c++) {
			l[2 * c] = PQfname(res, c);
			l[2 * c + 1] = PQgetvalue(res, row, c);
		}
		metrics_sample(&fam->samples, fam->def->name, l,
		    (size_t)nf - 1, v);
	}
	free(l);
}

static struct metrics_snap *
metrics_snap_new(const struct metrics_live *lv)
{
	struct metrics_snap *s = xcalloc(1, sizeof *s);
	size_t		 n = lv->njobs > 0 ? lv->njobs : 1;

	s->njobs = lv->njobs;
	s->jobs = xcalloc(n, sizeof *s->jobs);
	for (size_t i = 0; i < lv->njobs; i++)
		s->jobs[i] = xstrdup(lv->jobs[i].name);
	s->acc = xcalloc(n, sizeof *s->acc);
	s->running = xcalloc(n, sizeof *s->running);
	s->retries = xcalloc(n, sizeof *s->retries);
	s->throttled = xcalloc(n, sizeof *s->throttled);
	s->locked = xcalloc(n, sizeof *s->locked);
	for (size_t i = 0; i < lv->njobs; i++)
		for (size_t k = 0; lv->jobs[i].defs != NULL &&
		    lv->jobs[i].defs[k].name != NULL; k++) {
			const struct qsched_metric *def = &lv->jobs[i].defs[k];

			if (!metrics_def_usable(lv, i, k))
				continue;
			if (def->type == QSCHED_METRIC_RUN_SUM) {
				s->keys = xrealloc(s->keys, (s->nkeys + 1) *
				    sizeof *s->keys);
				s->keys[s->nkeys].job = i;
				s->keys[s->nkeys++].def = def;
			} else if (metrics_plugin_job(lv,
			    lv->jobs[i].plugin) == i) {
				s->fam = xrealloc(s->fam, (s->nfam + 1) *
				    sizeof *s->fam);
				memset(&s->fam[s->nfam], 0, sizeof *s->fam);
				s->fam[s->nfam++].def = def;
			}
		}
	s->sums = xcalloc(s->nkeys > 0 ? s->nkeys : 1, sizeof *s->sums);
	return (s);
}


/* RUN_SUM totals of keys $2 of jobs $1 (pairwise). */
#define METRICS_SUMS_SQL						\
	"SELECT t.job, t.key, t.total FROM qsched.job_metric_totals_live t "	\
	"JOIN unnest($1::text[], $2::text[]) AS k(job, key) "		\
	"ON t.job = k.job AND t.key = k.key"

/* The core's statements, in the order a refresh runs and reads them. */
enum metrics_stmt {
	METRICS_RUNS, METRICS_SUMS, METRICS_OPEN, METRICS_LOCKS,
	METRICS_DAEMONS, METRICS_NSTMT
};

static const struct {
	const char	*name;
	const char	*what;		/* for errors */
	const char	*sql;		/* NULL: metrics_runs_sql() */
} metrics_stmts[METRICS_NSTMT] = {
	{ "qsched_metrics_runs", "run totals", NULL },
	{ "qsched_metrics_sums", "plugin run totals", METRICS_SUMS_SQL },
	{ "qsched_metrics_open", "open runs",
	    "SELECT job, count(*) FILTER (WHERE status = 'running'), "
	    "count(*) FILTER (WHERE status = 'retry_scheduled'), "
	    "coalesce(bool_or(status = 'running' AND state LIKE 'throttled%'), "
	    "false) FROM qsched.runs "
	    "WHERE status IN ('running', 'retry_scheduled') AND NOT dry_run "
	    "AND job = ANY ($1::text[]) GROUP BY job" },
	{ "qsched_metrics_locks", "job locks",
	    "SELECT DISTINCT lock_key FROM qsched.job_locks "
	    "WHERE granted AND lock_key = ANY ($1::bigint[])" },
	{ "qsched_metrics_daemons", "qsched.daemons",
	    "SELECT host, pid::text, kind, extract(epoch FROM "
	    "clock_timestamp() - heartbeat_at), lease_ms / 1000.0 "
	    "FROM qsched.daemons ORDER BY host, pid" },
};

/*
 * Whether the core's statements are prepared on CONN: the same
 * connection and backend as the last refresh, and that refresh went
 * through (a failed one may have left them half prepared).
 */
static bool
metrics_prepared(const struct metrics_db *db, const PGconn *conn)
{
	return (db->last_ok && db->prep_conn == conn &&
	    db->prep_pid == PQbackendPID(conn));
}

/*
 * The refresh is one round trip: libpq's pipeline mode sends every query
 * at once.  The core's queries share one REPEATABLE READ READ ONLY
 * transaction, so they see one snapshot: a run that settles meanwhile is
 * either in the totals and out of the open runs, or the reverse.  Its COMMIT
 * follows in a sync of its own, which also ends it when it failed.  Each
 * plugin query follows in a sync of its own, so its failure (a missing
 * table) costs only its family.
 */

/*
 * Send the core's queries; ARRAYS hold the arrays they need.  When
 * PREPARE, they are prepared first, after whatever a failed refresh left
 * prepared is dropped, in the same sync: a preparation that fails (a
 * lock held on qsched.runs) skips the rest instead of letting the
 * statements prepared before it wait for the same lock again.
 */
static void
metrics_send(struct metrics_pipe *p, const struct metrics_snap *s,
    const char *const *arrays, bool prepare)
{
	const char	*params[2];
	char		*runs_sql;

	metrics_pipe_send(p, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ, "
	    "READ ONLY", 0, NULL);
	if (prepare) {
		metrics_pipe_send(p, "deallocate", "DEALLOCATE ALL", 0, NULL);
		runs_sql = metrics_runs_sql();
		for (size_t i = 0; i < METRICS_NSTMT; i++)
			metrics_pipe_prepare(p, metrics_stmts[i].what,
			    metrics_stmts[i].name, metrics_stmts[i].sql != NULL ?
			    metrics_stmts[i].sql : runs_sql);
		free(runs_sql);
	}
	params[0] = arrays[0];
	metrics_pipe_exec(p, "run totals", metrics_stmts[METRICS_RUNS].name, 1,
	    params);
	if (s->nkeys > 0) {
		params[0] = arrays[1];
		params[1] = arrays[2];
		metrics_pipe_exec(p, "plugin run totals",
		    metrics_stmts[METRICS_SUMS].name, 2, params);
	}
	params[0] = arrays[0];
	metrics_pipe_exec(p, "open runs", metrics_stmts[METRICS_OPEN].name, 1,
	    params);
	params[0] = arrays[3];
	metrics_pipe_exec(p, "job locks", metrics_stmts[METRICS_LOCKS].name, 1,
	    params);
	metrics_pipe_exec(p, "qsched.daemons",
	    metrics_stmts[METRICS_DAEMONS].name, 0, NULL);
	metrics_pipe_sync(p);
	/* In a segment of its own: it also ends a transaction that failed,
	 * which a sync alone would leave open. */
	metrics_pipe_send(p, "commit", "COMMIT", 0, NULL);
	metrics_pipe_sync(p);
}

/* The index of SQL among DB's plugin statements, added if new. */
static size_t
metrics_fam_stmt(struct metrics_db *db, const char *sql)
{
	for (size_t i = 0; i < db->nfams; i++)
		if (strcmp(db->fams[i].sql, sql) == 0)
			return (i);
	db->fams = xrealloc(db->fams, (db->nfams + 1) * sizeof *db->fams);
	db->fams[db->nfams].sql = xstrdup(sql);
	db->fams[db->nfams].ready = false;
	return (db->nfams++);
}

/*
 * The plugins' SQL metrics, each in a sync of its own (prepared there the
 * first time), so a failing one (a missing table) costs only its family.
 */
static void
metrics_send_families(struct metrics_pipe *p, struct metrics_db *db,
    struct metrics_snap *s)
{
	char	 name[48];

	for (size_t i = 0; i < s->nfam; i++) {
		s->fam[i].stmt = metrics_fam_stmt(db, s->fam[i].def->source);
		snprintf(name, sizeof name, "qsched_metrics_f%zu",
		    s->fam[i].stmt);
		if (!db->fams[s->fam[i].stmt].ready) {
			metrics_pipe_prepare(p, s->fam[i].def->name, name,
			    s->fam[i].def->source);
			s->fam[i].preparing = true;
		}
		metrics_pipe_exec(p, s->fam[i].def->name, name, 0, NULL);
		metrics_pipe_sync(p);
	}
}

/*
 * Read the statements' preparation: 0, or -1 with ERR set (the schema
 * hint when the run totals' view is missing).
 */
static int
metrics_receive_prepared(struct metrics_pipe *p, char *err, size_t errlen)
{
	PGresult	*res;

	if ((res = metrics_pipe_result(p, "deallocate", err, errlen)) == NULL)
		return (-1);
	PQclear(res);
	for (size_t i = 0; i < METRICS_NSTMT; i++) {
		if ((res = metrics_pipe_result(p, metrics_stmts[i].what, err,
		    errlen)) == NULL) {
			/* A qsched metrics run against a schema that no
			 * daemon or qsched run has upgraded yet. */
			if (i == METRICS_RUNS && strstr(err, "42P01") != NULL)
				snprintf(err, errlen, "metrics: %s",
				    METRICS_SCHEMA_HINT);
			return (-1);
		}
		PQclear(res);
	}
	return (0);
}

/* Read what metrics_send() sent, in its order.  0, or -1 (err set). */
static int
metrics_receive(struct metrics_pipe *p, const struct metrics_live *lv,
    struct metrics_snap *s, bool prepare)
{
	static const char *const what[] = { "begin", "run totals",
	    "plugin run totals", "open runs", "job locks", "qsched.daemons" };
	PGresult	*res;
	char		 e[QSCHED_ERRLEN];
	int		 rc = 0;

	for (size_t q = 0; q < sizeof what / sizeof *what; q++) {
		if (q == 2 && s->nkeys == 0)
			continue;
		if (q == 1 && prepare &&
		    metrics_receive_prepared(p, p->err, p->errlen) == -1) {
			rc = -1;
			break;
		}
		if ((res = metrics_pipe_result(p, what[q], p->err,
		    p->errlen)) == NULL) {
			rc = -1;
			break;
		}
		switch (q) {
		case 1:
			metrics_read_runs(res, s);
			break;
		case 2:
			metrics_read_sums(res, s);
			break;
		case 3:
			metrics_read_open(res, s);
			break;
		case 4:
			metrics_read_locks(res, lv, s);
			break;
		case 5:
			metrics_read_daemons(res, s);
			break;
		default:
			break;
		}
		PQclear(res);
	}
	if (!metrics_pipe_skip(p))
		return (-1);
	if ((res = metrics_pipe_result(p, "commit", e, sizeof e)) != NULL)
		PQclear(res);
	else if (rc == 0) {
		snprintf(p->err, p->errlen, "%s", e);
		rc = -1;
	}
	if (!metrics_pipe_skip(p))
		return (-1);
	return (rc);
}

static int
metrics_receive_families(struct metrics_pipe *p, struct metrics_db *db,
    struct metrics_snap *s)
{
	PGresult	*res;
	char		 e[QSCHED_ERRLEN];

	for (size_t i = 0; i < s->nfam; i++) {
		if (s->fam[i].preparing) {
			res = metrics_pipe_result(p, s->fam[i].def->name, e,
			    sizeof e);
			if (res != NULL)
				db->fams[s->fam[i].stmt].ready = true;
			else
				log_debug("%s", e);
			PQclear(res);
		}
		res = metrics_pipe_result(p, s->fam[i].def->name, e, sizeof e);
		if (res != NULL) {
			metrics_read_family(res, &s->fam[i]);
			PQclear(res);
		} else if (!s->fam[i].preparing ||
		    db->fams[s->fam[i].stmt].ready)
			log_debug("%s", e);
		if (!metrics_pipe_skip(p))
			return (-1);
	}
	return (0);
}

int
metrics_db_refresh(struct metrics_db *db, PGconn *conn,
    const struct metrics_live *lv, char *err, size_t errlen)
{
	struct metrics_pipe p = { conn, 0, err, errlen, false,
	    clock_mono_ms() + db->wait_ms };
	struct metrics_snap *s;
	struct buf	 keys = { NULL, 0, 0 };
	char		*arrays[4];
	const char	**kj, **kk;
	int64_t		 t0 = clock_mono_us();
	bool		 prepare = !metrics_prepared(db, conn);
	int		 rc = -1;

	s = metrics_snap_new(lv);
	arrays[0] = metrics_array((const char *const *)s->jobs, s->njobs);
	kj = xcalloc(s->nkeys > 0 ? s->nkeys : 1, sizeof *kj);
	kk = xcalloc(s->nkeys > 0 ? s->nkeys : 1, sizeof *kk);
	for (size_t i = 0; i < s->nkeys; i++) {
		kj[i] = s->jobs[s->keys[i].job];
		kk[i] = s->keys[i].def->source;
	}
	arrays[1] = metrics_array(kj, s->nkeys);
	arrays[2] = metrics_array(kk, s->nkeys);
	free(kj);
	free(kk);
	buf_puts(&keys, "{");
	for (size_t i = 0; i < lv->njobs; i++)
		buf_printf(&keys, "%s%lld", i > 0 ? "," : "",
		    (long long)lv->jobs[i].lock_key);
	buf_puts(&keys, "}");
	arrays[3] = buf_take(&keys);
	if (prepare)
		for (size_t i = 0; i < db->nfams; i++)
			db->fams[i].ready = false;

	if (PQenterPipelineMode(conn) != 1) {
		snprintf(err, errlen, "metrics: cannot enter pipeline mode");
		goto out;
	}
	/* Everything in one round trip: the server's wait is bounded as a
	 * whole (p.until), so a slow database still costs one timeout. */
	metrics_send(&p, s, (const char *const *)arrays, prepare);
	metrics_send_families(&p, db, s);
	if (!p.failed && metrics_receive(&p, lv, s, prepare) == 0 &&
	    metrics_receive_families(&p, db, s) == 0)
		rc = 0;
	while (p.syncs > 0 && metrics_pipe_skip(&p))
		;
	if (PQexitPipelineMode(conn) != 1 && rc == 0) {
		snprintf(err, errlen, "metrics: cannot leave pipeline mode");
		rc = -1;
	}
	if (rc == -1)
		goto out;
	metrics_snap_free(db->good);
	db->good = s;
	s = NULL;
	db->good_mono = clock_mono_ms();
	db->prep_conn = conn;
	db->prep_pid = PQbackendPID(conn);
out:
	db->last_ok = rc == 0;
	db->refresh_s = (double)(clock_mono_us() - t0) / 1e6;
	metrics_snap_free(s);
	for (size_t i = 0; i < 4; i++)
		free(arrays[i]);
	return (rc);
}

/* ---- the exposition ---- */

static void
metrics_format_runs(struct buf *b, const struct metrics_snap *s,
    enum metrics_format f)
{
	char		 le[32];
	const char	*l[4];

	metrics_family(b, f, "qsched_job_runs_total", "counter",
	    "Finished runs of the job, by final status.");
	for (size_t i = 0; i < s->njobs; i++)
		for (size_t k = 0; k < METRICS_NSTATUS; k++) {
			l[0] = "job";
			l[1] = s->jobs[i];
			l[2] = "status";
			l[3] = metrics_statuses[k];
			metrics_sample(b, "qsched_job_runs_total", l, 2,
			    (double)s->acc[i].status[k]);
		}
	metrics_family(b, f, "qsched_job_duration_seconds", "histogram",
	    "Duration of the job's finished runs.");
	for (size_t i = 0; i < s->njobs; i++) {
		for (size_t k = 0; k <= METRICS_NBUCKET; k++) {
			if (k < METRICS_NBUCKET)
				snprintf(le, sizeof le, "%g",
				    (double)metrics_buckets[k].ms / 1000);
			else
				snprintf(le, sizeof le, "+Inf");
			l[0] = "job";
			l[1] = s->jobs[i];
			l[2] = "le";
			l[3] = le;
			metrics_sample(b, "qsched_job_duration_seconds_bucket",
			    l, 2, (double)(k < METRICS_NBUCKET ?
			    s->acc[i].bucket[k] : s->acc[i].count));
		}
		metrics_job_sample(b, "qsched_job_duration_seconds_sum",
		    s->jobs[i], (double)s->acc[i].sum_ms / 1000);
		metrics_job_sample(b, "qsched_job_duration_seconds_count",
		    s->jobs[i], (double)s->acc[i].count);
	}
	metrics_family(b, f, "qsched_job_rows_processed_total", "counter",
	    "Rows the job's finished runs processed.");
	for (size_t i = 0; i < s->njobs; i++)
		metrics_job_sample(b, "qsched_job_rows_processed_total",
		    s->jobs[i], (double)s->acc[i].rows);
	metrics_family(b, f, "qsched_job_last_success_timestamp_seconds",
	    "gauge", "When the job's last successful run finished (epoch).");
	for (size_t i = 0; i < s->njobs; i++)
		if (s->acc[i].last_success > 0)
			metrics_job_sample(b,
			    "qsched_job_last_success_timestamp_seconds",
			    s->jobs[i], s->acc[i].last_success);
	metrics_family(b, f, "qsched_job_last_failure_timestamp_seconds",
	    "gauge", "When the job's last failed run finished (epoch).");
	for (size_t i = 0; i < s->njobs; i++)
		if (s->acc[i].last_failure > 0)
			metrics_job_sample(b,
			    "qsched_job_last_failure_timestamp_seconds",
			    s->jobs[i], s->acc[i].last_failure);
	metrics_family(b, f, "qsched_job_consecutive_failures", "gauge",
	    "Failed runs of the job since its last success.");
	for (size_t i = 0; i < s->njobs; i++)
		metrics_job_sample(b, "qsched_job_consecutive_failures",
		    s->jobs[i], (double)s->acc[i].consecutive);
	metrics_family(b, f, "qsched_job_running", "gauge",
	    "Runs of the job in progress, on any host.");
	for (size_t i = 0; i < s->njobs; i++)
		metrics_job_sample(b, "qsched_job_running", s->jobs[i],
		    (double)s->running[i]);
	metrics_family(b, f, "qsched_job_retries_pending", "gauge",
	    "Retries of the job scheduled and not yet started.");
	for (size_t i = 0; i < s->njobs; i++)
		metrics_job_sample(b, "qsched_job_retries_pending", s->jobs[i],
		    (double)s->retries[i]);
	metrics_family(b, f, "qsched_job_throttled", "gauge",
	    "1 while a run of the job reports a state starting \"throttled\".");
	for (size_t i = 0; i < s->njobs; i++)
		metrics_job_sample(b, "qsched_job_throttled", s->jobs[i],
		    s->throttled[i] ? 1 : 0);
	metrics_family(b, f, "qsched_job_lock_held", "gauge",
	    "1 while a session holds the job's advisory lock.");
	for (size_t i = 0; i < s->njobs; i++)
		metrics_job_sample(b, "qsched_job_lock_held", s->jobs[i],
		    s->locked[i] ? 1 : 0);
}

static void
metrics_format_plugins(struct buf *b, const struct metrics_snap *s,
    enum metrics_format f)
{
	const char	*l[2];

	/* RUN_SUM keys of one metric name are contiguous per plugin; a
	 * name's family is written once, at its first key. */
	for (size_t i = 0; i < s->nkeys; i++) {
		const struct qsched_metric *def = s->keys[i].def;
		bool		 first = true;

		for (size_t k = 0; k < i && first; k++)
			if (strcmp(s->keys[k].def->name, def->name) == 0)
				first = false;
		if (!first)
			continue;
		metrics_family(b, f, def->name, "counter", def->help);
		for (size_t k = i; k < s->nkeys; k++)
			if (strcmp(s->keys[k].def->name, def->name) == 0) {
				l[0] = "job";
				l[1] = s->jobs[s->keys[k].job];
				metrics_sample(b, def->name, l, 1, s->sums[k]);
			}
	}
	for (size_t i = 0; i < s->nfam; i++) {
		metrics_family(b, f, s->fam[i].def->name,
		    s->fam[i].def->type == QSCHED_METRIC_COUNTER ? "counter" :
		    "gauge", s->fam[i].def->help);
		if (s->fam[i].samples.data != NULL)
			buf_puts(b, s->fam[i].samples.data);
	}
	metrics_family(b, f, "qsched_metrics_source_up", "gauge",
	    "1 if the plugin metric's query succeeded at the last refresh.");
	for (size_t i = 0; i < s->nfam; i++) {
		l[0] = "metric";
		l[1] = s->fam[i].def->name;
		metrics_sample(b, "qsched_metrics_source_up", l, 1,
		    s->fam[i].ok ? 1 : 0);
	}
}

static void
metrics_format_live(struct buf *b, const struct metrics_live *lv,
    enum metrics_format f)
{
	const char	*l[4];

	metrics_family(b, f, "qsched_job_info", "gauge",
	    "A configured job: its plugin and schedule (value 1).");
	for (size_t i = 0; i < lv->njobs; i++) {
		const char *li[6] = { "job", lv->jobs[i].name, "plugin",
		    lv->jobs[i].plugin, "schedule", lv->jobs[i].schedule };

		metrics_sample(b, "qsched_job_info", li, 3, 1);
	}
	metrics_family(b, f, "qsched_job_schedule_interval_seconds", "gauge",
	    "Longest gap between the job's next fires (scheduled jobs).");
	for (size_t i = 0; i < lv->njobs; i++)
		if (lv->jobs[i].interval_s > 0)
			metrics_job_sample(b,
			    "qsched_job_schedule_interval_seconds",
			    lv->jobs[i].name, (double)lv->jobs[i].interval_s);
	if (!lv->daemon)
		return;
	metrics_family(b, f, "qsched_job_next_fire_timestamp_seconds",
	    "gauge", "When the daemon fires the job next (epoch).");
	for (size_t i = 0; i < lv->njobs; i++)
		if (lv->jobs[i].next_fire != 0)
			metrics_job_sample(b,
			    "qsched_job_next_fire_timestamp_seconds",
			    lv->jobs[i].name, (double)lv->jobs[i].next_fire);
	metrics_family(b, f, "qsched_daemon_job_running", "gauge",
	    "Runs of the job this daemon has in progress.");
	for (size_t i = 0; i < lv->njobs; i++)
		metrics_job_sample(b, "qsched_daemon_job_running",
		    lv->jobs[i].name, (double)lv->jobs[i].running);
	metrics_family(b, f, "qsched_daemon_up", "gauge",
	    "1: this daemon is running and serving metrics.");
	metrics_sample(b, "qsched_daemon_up", NULL, 0, 1);
	metrics_family(b, f, "qsched_daemon_start_time_seconds", "gauge",
	    "When this daemon started (epoch).");
	metrics_sample(b, "qsched_daemon_start_time_seconds", NULL, 0,
	    (double)lv->started);
	metrics_family(b, f, "qsched_daemon_database_connected", "gauge",
	    "1 while the daemon's bookkeeping connection is up.");
	metrics_sample(b, "qsched_daemon_database_connected", NULL, 0,
	    lv->db_connected ? 1 : 0);
	metrics_family(b, f, "qsched_daemon_reconnects_total", "counter",
	    "Bookkeeping connections re-established after an outage.");
	metrics_sample(b, "qsched_daemon_reconnects_total", NULL, 0,
	    (double)lv->reconnects);
	metrics_family(b, f, "qsched_daemon_config_reloads_total", "counter",
	    "Configuration reloads (SIGHUP), by result.");
	l[0] = "result";
	l[1] = "ok";
	metrics_sample(b, "qsched_daemon_config_reloads_total", l, 1,
	    (double)lv->reloads_ok);
	l[1] = "failed";
	metrics_sample(b, "qsched_daemon_config_reloads_total", l, 1,
	    (double)lv->reloads_failed);
}

void
metrics_format(struct buf *b, const struct metrics_db *db,
    const struct metrics_live *lv, enum metrics_format f)
{
	const struct metrics_snap *s = db->good;

	buf_puts(b, "");
	if (s != NULL) {
		metrics_format_runs(b, s, f);
		metrics_format_plugins(b, s, f);
		metrics_family(b, f, "qsched_daemon_heartbeat_age_seconds",
		    "gauge", "Age of each qsched process's heartbeat in "
		    "qsched.daemons.");
		if (s->daemons_age.data != NULL)
			buf_puts(b, s->daemons_age.data);
		metrics_family(b, f, "qsched_daemon_heartbeat_lease_seconds",
		    "gauge", "Lease of each qsched process's heartbeat: older "
		    "means gone.");
		if (s->daemons_lease.data != NULL)
			buf_puts(b, s->daemons_lease.data);
	}
	metrics_format_live(b, lv, f);
	metrics_family(b, f, "qsched_metrics_db_up", "gauge",
	    "1 if the last refresh from the database succeeded.");
	metrics_sample(b, "qsched_metrics_db_up", NULL, 0, db->last_ok ? 1 : 0);
	metrics_family(b, f, "qsched_metrics_db_age_seconds", "gauge",
	    "Age of the database values served (last good refresh).");
	if (s != NULL)
		metrics_sample(b, "qsched_metrics_db_age_seconds", NULL, 0,
		    (double)(clock_mono_ms() - db->good_mono) / 1000);
	metrics_family(b, f, "qsched_metrics_db_refresh_seconds", "gauge",
	    "How long the last refresh from the database took.");
	metrics_sample(b, "qsched_metrics_db_refresh_seconds", NULL, 0,
	    db->refresh_s);
	if (f == METRICS_OPENMETRICS)
		buf_puts(b, "# EOF\n");
}
