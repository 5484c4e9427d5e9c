/*
 * qsched-plugin.h - the interface between qsched and its job plugins.
 *
 * A plugin is a shared object in the configured plugin_dir, named
 * <name>.so, that exports exactly one symbol:
 *
 *	QSCHED_PLUGIN_EXPORT const struct qsched_plugin *
 *	qsched_plugin_describe(void);
 *
 * returning a pointer to a static const descriptor.  QSCHED_PLUGIN_DEFINE()
 * writes both:
 *
 *	QSCHED_PLUGIN_DEFINE(
 *		.name = "myjob", .version = "1.0", .summary = "...",
 *		.options = myjob_options, .run = myjob_run,
 *	)
 *
 * Build it with -fvisibility=hidden (libtool: -module -avoid-version
 * -export-symbols-regex '^qsched_plugin_describe$') so nothing else leaks.
 *
 * Life cycle.  The core dlopen()s the plugin once, in the parent process,
 * checks the descriptor (see "Refusals" below) and calls init().  Every run
 * happens in a forked worker process: run() is called there, with a
 * database connection the worker opened for that run.  A plugin that
 * crashes or hangs costs one run, never the scheduler.  fini() is called
 * in the parent when qsched exits; a plugin is never unloaded after a
 * successful init().
 *
 * Refusals.  The loader closes the plugin and logs one line naming the
 * field, the expected and the found value when: magic is not
 * QSCHED_PLUGIN_MAGIC; abi_major differs from the core's; abi_minor is
 * newer than the core's; size is smaller than QSCHED_PLUGIN_MIN_SIZE; name
 * differs from the file name; run is NULL; or init() returns non-zero.
 * Plugin files and plugin_dir must not be writable by group or others.
 *
 * Compatibility.  struct qsched_plugin and struct qsched_host only grow, by
 * appending members.  The core reads a plugin member added in minor N only
 * when the plugin's abi_minor >= N and size covers it; a plugin reads a
 * host member only when host->size covers it (QSCHED_HOST_HAS()).  ABI 1.0
 * plugins load unchanged.  The array elements struct qsched_option,
 * struct qsched_flag and struct qsched_metric are FROZEN for ABI 1: a plugin
 * indexes them with its own sizeof, so they can never grow; ABI 2 may
 * change them.
 *
 * Which host calls are valid where.  In run() and check(): all of them.
 * In init(), fini() and validate(), there is no run: the run argument is
 * NULL, and only log (with run NULL), mono_us and lock_key do anything;
 * every other call returns NULL, 0, false or -1 and records nothing.
 *
 * Threads: none.  Every callback runs on the process's only thread.
 */
#ifndef QSCHED_PLUGIN_H
#define QSCHED_PLUGIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

#ifdef __cplusplus
extern "C" {
#endif

#define QSCHED_PLUGIN_MAGIC	0x71736368u	/* "qsch" */
#define QSCHED_ABI_MAJOR	1
#define QSCHED_ABI_MINOR	1

#define QSCHED_PLUGIN_SYMBOL	"qsched_plugin_describe"
#define QSCHED_PLUGIN_EXPORT	__attribute__((visibility("default")))

#if defined(__GNUC__)
#define QSCHED_PRINTF(f, a)	__attribute__((format(printf, f, a)))
#else
#define QSCHED_PRINTF(f, a)
#endif

/* What run() returns; the core records the matching run status. */
enum qsched_result {
	QSCHED_OK = 0,		/* succeeded */
	QSCHED_FAIL = 1,	/* failed (retried if the SQLSTATE is transient) */
	QSCHED_RETRY = 2,	/* transient failure: retry per the job's retries */
	QSCHED_CANCELLED = 3,	/* stopped because cancelled() became true */
	QSCHED_SKIP = 4,	/* nothing to do or a flag said no: skipped */
};

/* Option value types.  Values are written in jobs.conf (or --set) as text. */
enum qsched_opt_type {
	QSCHED_OPT_STRING = 1,
	QSCHED_OPT_INT = 2,		/* decimal int64 */
	QSCHED_OPT_BOOL = 3,		/* true/false, yes/no, on/off, 1/0 */
	QSCHED_OPT_DURATION = 4,	/* "500ms" "30s" "5m" "2h" "14d", read as ms */
};

#define QSCHED_OPT_REQUIRED	0x1u	/* must be set in options { } */

/*
 * One entry of a plugin's option table; the table ends with an entry whose
 * name is NULL.  The core validates options { } against it at load time:
 * unknown names, values of the wrong type, values out of [min, max] (INT,
 * DURATION in ms; not checked when min == max == 0), strings not among
 * choices, and missing REQUIRED options are configuration errors.
 */
struct qsched_option {
	const char *name;		/* [a-z0-9_]+ */
	enum qsched_opt_type type;
	unsigned flags;			/* QSCHED_OPT_REQUIRED */
	const char *default_value;	/* config syntax; NULL: unset unless given */
	int64_t min;
	int64_t max;
	const char *choices;		/* STRING only: "a|b|c"; NULL: any */
	const char *help;		/* one line, shown by qsched plugins */
};

/* Log levels are syslog's. */
enum qsched_log_level {
	QSCHED_LOG_ERR = 3,
	QSCHED_LOG_WARNING = 4,
	QSCHED_LOG_NOTICE = 5,
	QSCHED_LOG_INFO = 6,
	QSCHED_LOG_DEBUG = 7,
};

/*
 * One feature flag the plugin reads (ABI 1.1); the table ends with an entry
 * whose name is NULL.  The core validates flags.ini against the flags that
 * all loaded plugins and jobs.conf declare: an undeclared flag in the file
 * is an error (FILE:LINE).  Two declarations of one flag must agree on
 * section and default.  Flags are booleans.  Frozen for ABI 1.
 */
struct qsched_flag {
	const char *section;		/* "queue_migration" */
	const char *name;		/* [a-z0-9_]+ */
	bool default_value;
	const char *help;		/* one line, shown by qsched flags */
};

/* What a declared metric is (ABI 1.1). */
enum qsched_metric_type {
	/* A gauge read by SQL: source is one read-only query, run by
	 * qsched metrics (and the daemon's /metrics) once per scrape on the
	 * database, with statement_timeout.  Every column but the last is a
	 * label (its name the label name, its value text); the last column is
	 * the value (a number, or NULL to leave the row out). */
	QSCHED_METRIC_GAUGE = 1,
	/* The same, for a value that only grows (the name ends in _total). */
	QSCHED_METRIC_COUNTER = 2,
	/* A counter summed over the finished runs of each job of this plugin
	 * from qsched.runs.metrics: source is the key the plugin sets with
	 * host->counter() (label: job). */
	QSCHED_METRIC_RUN_SUM = 3,
};

/*
 * One metric the plugin declares for OpenMetrics output (ABI 1.1); the
 * table ends with an entry whose name is NULL.  Names follow Prometheus
 * conventions: [a-z_][a-z0-9_]*, the unit in the name (_seconds, _bytes),
 * _total for counters.  The core prefixes nothing: choose names that start
 * with "qsched_".  Frozen for ABI 1.
 */
struct qsched_metric {
	const char *name;
	enum qsched_metric_type type;
	const char *help;		/* one line */
	const char *source;		/* SQL, or a metrics key (RUN_SUM) */
};

/* One run of one job, as the plugin sees it.  Opaque; owned by the core. */
struct qsched_run;

/*
 * Services the core offers to a plugin.  The plugin receives a pointer to
 * the core's table in every callback; the table and everything it returns
 * stay owned by the core unless a function says otherwise.
 */
struct qsched_host {
	uint32_t size;			/* sizeof the core's struct qsched_host */
	uint16_t abi_major;
	uint16_t abi_minor;
	const char *version;		/* qsched's version, e.g. "1.0.0" */

	/*
	 * conn - the run's database connection, opened by the worker for this
	 * run with application_name, lock_timeout and statement_timeout set.
	 * Borrowed: the plugin must not close it.  Starts in autocommit; the
	 * plugin may BEGIN/COMMIT as it likes and must leave no transaction
	 * open when run() returns.  NULL in init().
	 */
	PGconn *(*conn)(struct qsched_run *run);

	/* job - the job's name from jobs.conf.  run_id - its qsched.runs id
	 * (0 under qsched check).  attempt - 1 for the first try, 2.. for
	 * retries.  dry_run - true under qsched run --dry-run: report what
	 * would be done and change nothing. */
	const char *(*job)(struct qsched_run *run);
	int64_t (*run_id)(struct qsched_run *run);
	int (*attempt)(struct qsched_run *run);
	bool (*dry_run)(struct qsched_run *run);

	/*
	 * cancelled - true once the run must stop (timeout, daemon stopping,
	 * ^C on qsched run).  The core has then also cancelled the query in
	 * flight on conn.  Long plugins check it between batches and return
	 * QSCHED_CANCELLED, leaving committed work consistent.
	 */
	bool (*cancelled)(struct qsched_run *run);

	/*
	 * Option getters, by the name in the plugin's table.  The value is the
	 * one from jobs.conf, overridden by --set, else the table's default.
	 * opt_is_set is false only for an option with no default and no value.
	 * Getting an unset option returns "" / 0 / false.  Strings are owned
	 * by the core and live as long as the run.
	 */
	bool (*opt_is_set)(struct qsched_run *run, const char *name);
	const char *(*opt_string)(struct qsched_run *run, const char *name);
	int64_t (*opt_int)(struct qsched_run *run, const char *name);
	bool (*opt_bool)(struct qsched_run *run, const char *name);
	int64_t (*opt_duration_ms)(struct qsched_run *run, const char *name);

	/*
	 * flag - the value of feature flag NAME ("populate_legacy_queue") from
	 * flags.ini as read at the start of this run: 1 or 0, or -1 if qsched
	 * knows no such flag.  Effective flags are recorded in the run's
	 * metrics by the core.
	 */
	int (*flag)(struct qsched_run *run, const char *name);

	/* log - one line to qsched's log, prefixed with job=... run=...;
	 * run may be NULL (in init/fini). */
	void (*log)(struct qsched_run *run, int level, const char *fmt, ...)
	    QSCHED_PRINTF(3, 4);

	/*
	 * progress - DONE units of TOTAL (TOTAL < 0: unknown).  Cheap; call it
	 * per batch.  Shown by qsched status and on a terminal as a live line
	 * with rate and ETA.
	 */
	void (*progress)(struct qsched_run *run, int64_t done, int64_t total);

	/* add_rows - add N to the run's rows_processed. */
	void (*add_rows)(struct qsched_run *run, int64_t n);

	/* counter / note - set a named integer / text value in the run's
	 * metrics (jsonb).  NAME is copied; setting a name again replaces it. */
	void (*counter)(struct qsched_run *run, const char *name, int64_t value);
	void (*note)(struct qsched_run *run, const char *name, const char *value);

	/* message - set the run's one-line outcome message (qsched.runs.message). */
	void (*message)(struct qsched_run *run, const char *fmt, ...)
	    QSCHED_PRINTF(2, 3);

	/*
	 * fail - record a database failure: the message becomes "<what>:
	 * <server message>" and the run's sqlstate the result's SQLSTATE
	 * (from RES, or from the connection when RES is NULL; 08006 when the
	 * connection is lost).  Return QSCHED_FAIL afterwards: the core
	 * retries transient SQLSTATEs (classes 08, 40001, 40P01, 55P03,
	 * 57P01-57P03, 53300) on its own.
	 */
	void (*fail)(struct qsched_run *run, const PGresult *res,
	    const char *fmt, ...) QSCHED_PRINTF(3, 4);

	/*
	 * Checkpoint store, kept per job in qsched.checkpoints.  put and clear
	 * run on conn, so they commit or roll back with the plugin's open
	 * transaction: commit a batch and its checkpoint together.  get
	 * returns a malloc()ed string the plugin frees with free(), or NULL if
	 * none is stored (or on error, then logged).  put/clear return 0 or -1.
	 */
	char *(*checkpoint_get)(struct qsched_run *run, const char *key);
	int (*checkpoint_put)(struct qsched_run *run, const char *key,
	    const char *value);
	int (*checkpoint_clear)(struct qsched_run *run, const char *key);

	/* ---- ABI 1.1: test with QSCHED_HOST_HAS(host, member) ---- */

	/*
	 * exec - run SQL on conn, with NPARAMS text parameters (PARAMS may be
	 * NULL when NPARAMS is 0; then several ;-separated statements may be
	 * sent at once).  RETURN VALUE: the result, PGRES_COMMAND_OK or
	 * PGRES_TUPLES_OK, which the plugin PQclear()s; NULL on failure, after
	 * recording it as fail(run, res, "%s", what) does (message
	 * "<what>: <server message>" and the SQLSTATE).
	 */
	PGresult *(*exec)(struct qsched_run *run, const char *what,
	    const char *sql, int nparams, const char *const *params);

	/* mono_us - the core's monotonic clock, in microseconds. */
	int64_t (*mono_us)(void);

	/*
	 * connect - open one more connection to the run's database with the
	 * run's parameters: the same conninfo, application_name
	 * "qsched/<job>/<run id>/<n>", the job's statement_timeout and
	 * lock_timeout, TCP keepalives.  Owned by the plugin, which
	 * PQfinish()es it before run() returns (the core closes any left
	 * open, and the server ends it when the worker dies).  RETURN VALUE:
	 * the connection, or NULL after recording the failure (SQLSTATE
	 * 08001) like fail().
	 */
	PGconn *(*connect)(struct qsched_run *run);

	/*
	 * state - a short live state of the run ("throttled: autovacuum on
	 * call_queue"), shown by qsched status and its progress line until
	 * it is replaced; NULL or "" clears it.  Cheap; rate-limited by the
	 * core.
	 */
	void (*state)(struct qsched_run *run, const char *fmt, ...)
	    QSCHED_PRINTF(2, 3);

	/*
	 * lock_key - the 64-bit key of the PostgreSQL advisory lock qsched
	 * uses for NAME in lock class LOCK_CLASS (pg_advisory_lock(bigint)).
	 * Stable across hosts, versions and PostgreSQL releases.  A plugin
	 * names its own class after itself ("legacy_backfill"); "job" and
	 * "qsched" are the core's.  See qsched-plugin(3), LOCKS.
	 */
	int64_t (*lock_key)(const char *lock_class, const char *name);
};

#define QSCHED_HOST_HAS(host, member)					\
	((host)->size >= offsetof(struct qsched_host, member) +		\
	    sizeof((host)->member))

/*
 * The descriptor.  QSCHED_PLUGIN_DEFINE() (below) fills in magic, version
 * and size; by hand, initialise it with QSCHED_PLUGIN_HEADER:
 *
 *	static const struct qsched_plugin plugin = {
 *		QSCHED_PLUGIN_HEADER,
 *		.name = "sql", .version = "1.0", .summary = "...",
 *		.options = options, .run = sql_run,
 *	};
 */
struct qsched_plugin {
	uint32_t magic;
	uint16_t abi_major;
	uint16_t abi_minor;
	uint32_t size;			/* sizeof(struct qsched_plugin) */
	const char *name;		/* must equal the file name without .so */
	const char *version;
	const char *summary;
	const struct qsched_option *options;	/* may be NULL */

	/* init - once in the parent after loading; 0 or -1 (then refused). */
	int (*init)(const struct qsched_host *host);

	/*
	 * check - optional preconditions (tables exist, options agree), run by
	 * qsched check and in the worker before run().  0 if fine; -1 after
	 * host->message or host->fail said why.
	 */
	int (*check)(const struct qsched_host *host, struct qsched_run *run);

	/* run - do the job's work; required. */
	enum qsched_result (*run)(const struct qsched_host *host,
	    struct qsched_run *run);

	/* fini - optional; in the parent at exit. */
	void (*fini)(const struct qsched_host *host);

	/* ---- ABI 1.1: read by the core only when abi_minor >= 1 ---- */

	/*
	 * validate - optional; check one option value beyond its type,
	 * bounds and choices (a memory size, a list of statuses), where the
	 * value is read: when jobs.conf is loaded with its plugins, and for
	 * every --set before anything runs.  No run and no database.  OPTION
	 * is the name in the table, VALUE the text as written.  0 if fine;
	 * -1 after writing a one-line reason to ERR (ERRLEN bytes, without
	 * the option's name: the core adds it, with the file and line).
	 */
	int (*validate)(const struct qsched_host *host, const char *option,
	    const char *value, char *err, size_t errlen);

	/* flags - the feature flags the plugin reads; may be NULL. */
	const struct qsched_flag *flags;

	/* metrics - what the plugin adds to qsched metrics; may be NULL. */
	const struct qsched_metric *metrics;
};

#define QSCHED_PLUGIN_HEADER						\
	.magic = QSCHED_PLUGIN_MAGIC,					\
	.abi_major = QSCHED_ABI_MAJOR,					\
	.abi_minor = QSCHED_ABI_MINOR,					\
	.size = sizeof(struct qsched_plugin)

/* The size of an ABI 1.0 descriptor: the smallest the loader accepts. */
#define QSCHED_PLUGIN_MIN_SIZE						\
	(offsetof(struct qsched_plugin, fini) +				\
	    sizeof(((struct qsched_plugin *)0)->fini))

/* Whether descriptor D carries MEMBER (for the core). */
#define QSCHED_PLUGIN_HAS(d, member)					\
	((d)->abi_minor >= 1 && (d)->size >=				\
	    offsetof(struct qsched_plugin, member) + sizeof((d)->member))

/*
 * QSCHED_PLUGIN_DEFINE(members...) - the descriptor and the one exported
 * function, in one go; the arguments are designated initialisers.
 */
#define QSCHED_PLUGIN_DEFINE(...)					\
	static const struct qsched_plugin qsched_plugin_descriptor_ = {	\
		QSCHED_PLUGIN_HEADER,					\
		__VA_ARGS__						\
	};								\
	QSCHED_PLUGIN_EXPORT const struct qsched_plugin *		\
	qsched_plugin_describe(void)					\
	{								\
		return (&qsched_plugin_descriptor_);			\
	}

typedef const struct qsched_plugin *qsched_plugin_describe_fn(void);

QSCHED_PLUGIN_EXPORT const struct qsched_plugin *qsched_plugin_describe(void);

#ifdef __cplusplus
}
#endif

#endif /* QSCHED_PLUGIN_H */
