/*
 * qsched.h - internal interfaces of the qsched core, grouped by file.
 *
 * Conventions: functions are named by their file; they return 0 on success
 * and -1 on failure unless said otherwise.  Functions that take "char *err,
 * size_t errlen" write a one-line reason there on failure (no trailing
 * newline) and do not log it themselves: the caller decides where it goes.
 */
#ifndef QSCHED_H
#define QSCHED_H

#include <config.h>

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <poll.h>
#include <signal.h>
#include <sys/types.h>
#include <time.h>

#include <libpq-fe.h>

#include "qsched-plugin.h"

/* Exit statuses, design section 3.6. */
#define QSCHED_EXIT_OK		0	/* success */
#define QSCHED_EXIT_FAILED	1	/* the job failed, timed out, crashed */
#define QSCHED_EXIT_USAGE	2	/* usage or configuration error */
#define QSCHED_EXIT_DB		3	/* database unreachable */
#define QSCHED_EXIT_NOT_RUN	4	/* lock held, blocked, skipped */

#define QSCHED_ERRLEN		512

/* log.c */
void	 log_init(void);
void	 log_set_level(int level);
int	 log_get_level(void);
void	 log_msg(int level, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
void	 log_vmsg(int level, const char *fmt, va_list ap)
	    __attribute__((format(printf, 2, 0)));
void	 log_run(int level, const char *job, int64_t run_id,
	    const char *fmt, ...) __attribute__((format(printf, 4, 5)));
void	 log_vrun(int level, const char *job, int64_t run_id,
	    const char *fmt, va_list ap) __attribute__((format(printf, 4, 0)));
#define log_err(...)	log_msg(QSCHED_LOG_ERR, __VA_ARGS__)
#define log_warn(...)	log_msg(QSCHED_LOG_WARNING, __VA_ARGS__)
#define log_notice(...)	log_msg(QSCHED_LOG_NOTICE, __VA_ARGS__)
#define log_info(...)	log_msg(QSCHED_LOG_INFO, __VA_ARGS__)
#define log_debug(...)	log_msg(QSCHED_LOG_DEBUG, __VA_ARGS__)

/* clock.c - every clock read goes through here so tests can fake time. */
time_t	 clock_now(void);		/* wall clock, seconds */
int64_t	 clock_now_ms(void);		/* wall clock, milliseconds */
int64_t	 clock_mono_ms(void);		/* monotonic, milliseconds */
int64_t	 clock_mono_us(void);		/* monotonic, microseconds */
void	 clock_set_fake(int64_t wall_ms);	/* tests: freeze wall clock; <0 unfreezes */

/* xmalloc.c - allocation that aborts on exhaustion (start-up paths only). */
void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* duration.c - "500ms", "30s", "5m", "2h", "14d", also "1h30m"; "0". */
int	 duration_parse(const char *text, int64_t *ms, char *err,
	    size_t errlen);
char	*duration_format(int64_t ms, char *buf, size_t len);

/* tz.c - IANA time zones, by switching TZ (the process is single-threaded). */
int	 tz_check(const char *zone, char *err, size_t errlen);
void	 tz_localtime(const char *zone, time_t t, struct tm *tm);
/* First instant whose local civil time in ZONE is >= *civil; see cron.c. */
time_t	 tz_civil_to_instant(const char *zone, const struct tm *civil);
/* "2026-03-29 02:00:00 BST" */
char	*tz_format(const char *zone, time_t t, char *buf, size_t len);
/* "2026-03-29T01:00:00Z" */
char	*tz_format_utc(time_t t, char *buf, size_t len);

/* cron.c - schedules, design section 3.2. */
struct cron {
	uint64_t	 seconds;	/* bit n: second n (0-59) */
	uint64_t	 minutes;	/* bit n: minute n (0-59) */
	uint32_t	 hours;		/* bit n: hour n (0-23) */
	uint32_t	 doms;		/* bit n: day of month n (1-31) */
	uint16_t	 months;	/* bit n: month n (1-12) */
	uint8_t		 dows;		/* bit n: weekday n (0-6, 0 = Sunday) */
	bool		 dom_star;	/* day-of-month field began with '*' */
	bool		 dow_star;	/* day-of-week field began with '*' */
	bool		 manual;	/* @manual: never scheduled */
};
/* err names the field: "minute: 61 is outside 0-59". */
int	 cron_parse(const char *text, struct cron *c, char *err,
	    size_t errlen);
/* The first fire strictly after AFTER, in ZONE, DST rules applied.
 * Returns -1 when there is none: @manual, or none before the year 10000
 * (cron_parse refuses a schedule that never fires). */
int	 cron_next(const struct cron *c, const char *zone, time_t after,
	    time_t *next);

/* options.c - plugin option values, checked against the plugin's table. */
struct option_value {
	const struct qsched_option *def;	/* entry in the plugin's table */
	char		*text;		/* value as written; NULL: unset */
	int		 line;		/* jobs.conf line, 0 if default/--set */
	int64_t		 num;		/* INT, DURATION (ms), BOOL (0/1) */
};
/* Parse TEXT per DEF into V (replacing any earlier value).
 * err: "max_size: -1 is below the minimum 0". */
int	 option_parse(const struct qsched_option *def, const char *text,
	    struct option_value *v, char *err, size_t errlen);
int	 option_parse_bool(const char *text, bool *out);
const struct qsched_option *option_find(const struct qsched_option *table,
	    const char *name);

/* plugin.c - the loader, design section 4. */
struct plugin {
	char		*name;
	char		*path;
	void		*handle;
	const struct qsched_plugin *desc;
	struct plugin	*next;
};
/*
 * Load DIR/NAME.so (or return the one already loaded from that path), check
 * it and call its init().  err: "plugin DIR/x.so: abi_major: expected 1,
 * found 2".  Plugins are never unloaded after a successful init.
 */
struct plugin	*plugin_load(const char *dir, const char *name, char *err,
	    size_t errlen);
int	 plugin_name_valid(const char *name);	/* [a-z0-9_]+ */
/* Calls FN for every NAME.so in DIR, in name order; for qsched plugins. */
int	 plugin_scan(const char *dir,
	    void (*fn)(const char *name, struct plugin *p, const char *err,
	    void *arg), void *arg);
void	 plugin_fini_all(void);

/* buf.c - a growing string, for JSON and messages. */
struct buf {
	char		*data;		/* always NUL-terminated once used */
	size_t		 len;
	size_t		 cap;
};
void	 buf_add(struct buf *, const char *, size_t);
void	 buf_puts(struct buf *, const char *);
void	 buf_printf(struct buf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 buf_json_string(struct buf *, const char *);	/* quoted, escaped */
char	*buf_take(struct buf *);	/* the string; the buf is reset */
void	 buf_free(struct buf *);

/* host.c - the services table handed to plugins (struct qsched_host), and
 * the worker-side state of a run behind struct qsched_run. */
extern const struct qsched_host host_services;
struct metric {
	char		*name;
	bool		 is_text;
	int64_t		 num;
	char		*text;
};
struct qsched_run {
	struct run	*run;		/* the job, run id, attempt, dry run */
	PGconn		*conn;		/* the worker's connection */
	const struct flags *flags;	/* as read for this run */
	int		 fd;		/* report pipe to the parent */
	char		*message;
	char		 sqlstate[6];
	int64_t		 rows;
	struct metric	*metrics;
	size_t		 nmetrics;
	int64_t		 progress_sent;	/* mono ms of the last report */
	char		*state;		/* host->state(), as last reported */
	int		 nconns;	/* extra connections opened */
};
extern volatile sig_atomic_t host_cancelled;
/* The run's metrics as a JSON object, with "flags"; malloc()ed. */
char	*host_metrics_json(const struct qsched_run *);
void	 host_run_free(struct qsched_run *);

/* flags.c - flags.ini, checked against declared flags, design 3.5. */
#define FLAGS_MAX	64
struct config;
struct flag_decl {
	char		*section;
	char		*name;
	bool		 default_value;
	char		*help;
	char		*declared_by;	/* "plugin x, plugin y", "jobs.conf:12" */
};
/* The flags of one run: values of the declarations of CFG. */
struct flags {
	const struct config *cfg;
	size_t		 n;		/* cfg->nflags */
	bool		 value[FLAGS_MAX];
	int		 line[FLAGS_MAX];	/* 0: default */
};
struct flag_decl *flags_find_decl(const struct config *, const char *name);
/* Add a declaration (the caller checked it is new).  0, or -1 (err). */
int	 flags_declare(struct config *, const char *section, const char *name,
	    bool default_value, const char *help, const char *declared_by,
	    char *err, size_t errlen);
void	 flags_defaults(const struct config *, struct flags *f);
/* CFG's flags_file, NULL or "": defaults.  err: "FILE:LINE: unknown flag
 * 'x' ...".  Either the whole file is valid or *f is left untouched. */
int	 flags_load(const struct config *cfg, struct flags *f, char *err,
	    size_t errlen);
int	 flags_get(const struct flags *f, const char *name);	/* 1, 0, -1 */
/* {"use_new_queues":true,...}; malloc()ed. */
char	*flags_json(const struct flags *f);

/* config.c - jobs.conf, design section 3.5. */
enum overlap {
	OVERLAP_SKIP,
	OVERLAP_WAIT,
};
struct job {
	char		*name;
	int		 line;		/* line of job "name" { */
	char		*plugin_name;
	struct plugin	*plugin;
	char		*schedule;	/* as written */
	struct cron	 cron;
	char		*timezone;	/* effective: job's, global, "UTC" */
	int64_t		 timeout_ms;	/* 0: none */
	int		 retries;
	int64_t		 retry_delay_ms;
	enum overlap	 overlap;
	char		*lock;		/* effective: job's, else the job name */
	bool		 catch_up;
	char		**depends_on;
	size_t		 ndepends;
	bool		 enabled;
	int64_t		 lock_timeout_ms;	/* 0: server default */
	int64_t		 statement_timeout_ms;	/* 0: server default */
	int		 plugin_line;
	struct raw_option *raw;		/* options { } as written */
	size_t		 nraw;
	struct option_value *options;	/* bound: one per entry of the table */
	size_t		 noptions;
};
struct raw_option {
	char		*key;
	char		*value;
	int		 line;
};
struct config {
	char		*path;
	char		*database;	/* "": PG* environment */
	char		*plugin_dir;
	char		*flags_file;
	char		*timezone;
	int64_t		 history_retention_ms;
	char		*metrics_listen;	/* NULL: off */
	struct job	*jobs;
	size_t		 njobs;
	struct flag_decl *flags;	/* jobs.conf's, then the plugins' */
	size_t		 nflags;
	bool		 bound;		/* config_bind() done */
};
/*
 * Parse PATH: globals, jobs, options { } as written, depends_on, flag
 * declarations.  No plugin is loaded.  err: "PATH:LINE: message".
 */
int	 config_load_file(const char *path, struct config **out, char *err,
	    size_t errlen);
/* config_load_file(), then config_bind(). */
int	 config_load(const char *path, struct config **out, char *err,
	    size_t errlen);
/* config_bind.c: load every job's plugin, check its options against the
 * plugin's table and validate(), add the flags plugins declare.  err:
 * "PATH:LINE: message". */
int	 config_bind(struct config *, char *err, size_t errlen);
/* Parse TEXT into V, then the plugin's validate().  err: "name: ...". */
int	 config_option_set(struct job *job, struct option_value *v,
	    const char *text, char *err, size_t errlen);
void	 config_free(struct config *);
struct job	*config_job(const struct config *, const char *name);
/* The job names as a PostgreSQL text[] literal, in file order ("{}" for
 * no config); malloc()ed. */
char	*config_job_names(const struct config *);
/* --set KEY=VALUE for one run.  err: "--set KEY: message". */
int	 config_set_option(struct job *job, const char *assignment, char *err,
	    size_t errlen);
struct option_value *job_option(const struct job *job, const char *name);

/* db.c - libpq helpers shared by the parent and the worker. */
/* Connect with our application_name, TCP keepalives and a connect_timeout
 * of 10 s unless the conninfo says otherwise; OPTIONS ("-c k=v ...", may
 * be NULL) extend the conninfo's.  err: the server's or libpq's reason. */
PGconn	*db_connect(const char *conninfo, const char *appname,
	    const char *options, char *err, size_t errlen);
/* Where CONNINFO points, for messages, never with its password:
 * "host=h port=5432 dbname=d user=u", or "PG* environment". */
char	*db_target(const char *conninfo, char *buf, size_t len);
/* SQLSTATE of RES, or of the connection's state when RES is NULL ("08006"
 * for a lost connection); never NULL ("" when unknown). */
const char *db_sqlstate(const PGresult *res, const PGconn *conn);
/* Design 3.3 step 6: class 08, 40001, 40P01, 55P03, 57P01-57P03, 53300. */
bool	 db_transient(const char *sqlstate);
/* "SQLSTATE: primary message" on one line. */
char	*db_error(const PGresult *res, const PGconn *conn, char *buf,
	    size_t len);
/* Run SQL with text parameters; NULL on failure with err set. */
PGresult *db_query(PGconn *conn, const char *sql, int nparams,
	    const char *const *params, char *err, size_t errlen);
int	 db_exec(PGconn *conn, const char *sql, char *err, size_t errlen);
/* Bounds for the parent's bookkeeping: db_query()/db_exec() wait at most
 * QUERY_MS for an answer (0: no limit), connections CONNECT_S seconds. */
#define DB_BOOK_QUERY_MS	10000
#define DB_BOOK_CONNECT_S	"5"
void	 db_set_limits(int64_t query_ms, const char *connect_s);

/* schema.c - the qsched schema, created and upgraded from sql/core. */
struct schema_file {
	int		 version;
	const char	*name;
	const char	*sql;
};
extern const struct schema_file schema_files[];	/* core-sql.c, built */
extern const size_t schema_nfiles;
int	 schema_ensure(PGconn *conn, char *err, size_t errlen);
/* The applied version, 0 when there is no qsched schema, -1 on error. */
int	 schema_version(PGconn *conn, char *err, size_t errlen);

/* lock.c - every advisory lock qsched takes: classes, keys, holders. */
#define LOCK_CLASS_JOB		"job"		/* a job's lock, by lock name */
#define LOCK_CLASS_CORE		"qsched"	/* "schema": schema upgrades */
int64_t	 lock_key(const char *lock_class, const char *name);
int64_t	 lock_job_key(const struct job *job);
/* Name the worker's connection APP, set JOB's timeouts and take its lock
 * (waiting for it when overlap = wait).  1 taken, 0 held elsewhere, -1 on
 * error with the failed result in *FAILED (the caller clears it). */
int	 lock_take_job(PGconn *conn, const struct job *job, const char *app,
	    PGresult **failed);
void	 lock_release(PGconn *conn, int64_t key);
/* Describe who holds job lock NAME: "run 42 of job "x" on host h (pid 7)". */
int	 lock_holder(PGconn *conn, const char *name, char *buf, size_t len);
/* The application_name of run RUN_ID of JOB: "qsched/<job>/<id>", and
 * "qsched/<job>/<id>/<n>" for a plugin's extra connection N > 0. */
void	 lock_appname(const char *job, int64_t run_id, int n, char *app,
	    size_t len);

/* run.c - one attempt of one job, seen from the parent. */
/* A run's worker and backend pids and progress reach qsched.runs (and so
 * qsched status) a second after it starts, then at most once a second. */
#define RUN_SAVE_AFTER_MS	1000
enum trigger {
	TRIGGER_SCHEDULE,
	TRIGGER_MANUAL,
	TRIGGER_CATCHUP,
	TRIGGER_RETRY,
};
enum run_status {
	RUN_RUNNING,
	RUN_SUCCEEDED,
	RUN_FAILED,
	RUN_TIMED_OUT,
	RUN_CRASHED,
	RUN_SKIPPED,
	RUN_BLOCKED,
	RUN_CANCELLED,
	RUN_ABANDONED,
	RUN_RETRY_SCHEDULED,	/* a retry not yet run (history only) */
};
struct run {
	const struct config *cfg;
	struct job	*job;
	int64_t		 id;		/* qsched.runs.id; 0 until claimed */
	enum trigger	 trigger;
	time_t		 scheduled_for;	/* 0: none (manual) */
	int		 attempt;
	bool		 dry_run;

	pid_t		 pid;		/* worker; 0 when none */
	int		 fd;		/* worker's report pipe; -1 when closed */
	int		 gofd;		/* a waiting worker's start pipe, or -1 */
	char		*rbuf;		/* partial report records */
	size_t		 rlen;
	size_t		 rcap;
	int64_t		 started_mono;
	int64_t		 term_at;	/* mono ms: send SIGTERM (timeout) */
	int64_t		 kill_at;	/* mono ms: SIGKILL the process group */
	bool		 timed_out;
	bool		 cancelling;	/* stop requested (^C, daemon stop) */
	int		 backend_pid;

	int64_t		 done;		/* progress */
	int64_t		 total;
	int64_t		 progress_saved;	/* mono ms of last DB write; 0: none */
	char		*state;		/* the plugin's live state, or NULL */
	bool		 state_dirty;	/* changed since the last DB write */

	enum run_status	 status;	/* outcome */
	bool		 result_seen;	/* the worker reported its result */
	bool		 lock_busy;	/* skipped because the lock was held */
	bool		 retryable;
	char		*message;
	char		 sqlstate[6];
	char		 signal[16];
	int64_t		 rows;
	char		*metrics;	/* JSON object text */
	struct flags	 flags;		/* as read by run_start() */
	bool		 flags_bad;	/* flags.ini refused: not run */
	int64_t		 retry_id;	/* the retry_scheduled row, or 0 */
	int64_t		 retry_delay_ms;

	struct run	*next;		/* the daemon's list */
};
/* run_names.c */
const char	*run_status_name(enum run_status);
const char	*run_trigger_name(enum trigger);
int	 run_status_parse(const char *name);	/* enum run_status, or -1 */
void	 run_status_list(char *buf, size_t len);	/* "running, ..." */
struct run	*run_new(const struct config *, struct job *, enum trigger,
		    time_t scheduled_for, int attempt, bool dry_run);
void	 run_free(struct run *);
/*
 * Claim the fire (insert the history row), check dependencies and start
 * the worker.  Returns 1 when a worker was started, 0 when the run ended at
 * once (fire claimed elsewhere: r->id == 0; blocked: recorded), -1 on a
 * bookkeeping error (err set).
 */
int	 run_begin(struct run *r, PGconn *book, const struct flags *flags,
	    char *err, size_t errlen);
/* The one way a run starts, for the daemon and qsched run: read the
 * flags (a bad file is a failed run, recorded: r->flags_bad), then
 * run_begin().  Returns as run_begin(). */
int	 run_start(struct run *r, PGconn *book, char *err, size_t errlen);
/* flags.ini for this run (once): 0, or -1 with r->flags_bad and the
 * message set. */
int	 run_load_flags(struct run *r);
/* A manual run: fork its worker now, to connect while the parent does;
 * run_start() then lets it go. */
void	 run_prefork(struct run *r);
/* waitpid() said the worker ended: read what it left, then run_reaped(). */
void	 run_drain(struct run *r, PGconn *book, int wstatus);
bool	 run_should_retry(const struct run *r);
/* Record the outcome (run_end); when MAY_RETRY and the failure is
 * transient with retries left, register this process (KIND "daemon" or
 * "run") and schedule the retry row: r->retry_id, r->retry_delay_ms. */
int	 run_finish(struct run *r, PGconn *book, bool may_retry,
	    const char *kind, char *err, size_t errlen);
/* The report pipe is readable.  Once r->result_seen the outcome is final
 * and run_end() may record it while the worker is still exiting. */
void	 run_read(struct run *r, PGconn *book);
void	 run_reaped(struct run *r, int wstatus);	/* waitpid said it ended */
/* Mono ms of the next timer this run needs (timeout, kill), or -1. */
int64_t	 run_deadline(const struct run *r);
void	 run_timer(struct run *r, PGconn *book, int64_t now_mono);
void	 run_cancel(struct run *r, int64_t grace_ms);
/* Record the outcome; kill a stray backend.  0 or -1 (err set). */
int	 run_end(struct run *r, PGconn *book, char *err, size_t errlen);
int64_t	 run_retry_delay_ms(const struct job *, int attempt);
int	 run_exit_status(const struct run *r);

/* worker.c - the forked process that runs one attempt. */
/*
 * Fork the worker for R; returns its pid (R->fd set) or -1.  Without a run
 * id yet (R->id == 0) the worker connects at once and then waits for
 * worker_go(), so `qsched run` opens both its connections in parallel.
 */
pid_t	 worker_start(struct run *r, const struct flags *flags);
/* Tell a waiting worker its run id: it may start.  0 or -1. */
int	 worker_go(struct run *r);
/* A waiting worker's run will not happen (blocked, claimed elsewhere). */
void	 worker_abort(struct run *r);

/* report.c - the worker -> parent pipe protocol. */
enum report_type {
	REPORT_BACKEND = 'B',	/* backend pid */
	REPORT_PROGRESS = 'P',	/* "done total" */
	REPORT_RESULT = 'R',	/* "status lock_busy retryable rows sqlstate" */
	REPORT_MESSAGE = 'M',	/* text */
	REPORT_METRICS = 'J',	/* JSON object */
	REPORT_STATE = 'S',	/* the plugin's live state; "" clears it */
};
int	 report_send(int fd, enum report_type, const char *payload);
/* Parse one complete record from BUF; returns bytes used, 0 if incomplete. */
size_t	 report_parse(const char *buf, size_t len, enum report_type *type,
	    const char **payload, size_t *plen);

/* history.c - qsched.runs from the parent's bookkeeping connection. */
const char	*history_host(void);
/* Insert R's row with STATUS; sets r->id, or 0 if the fire was claimed
 * already. */
int	 history_insert(PGconn *book, struct run *r, enum run_status status,
	    char *err, size_t errlen);
int	 history_progress(PGconn *book, const struct run *r);
int	 history_finish(PGconn *book, const struct run *r, char *err,
	    size_t errlen);
/* 1 when every depends_on job succeeded once (names the missing one in
 * MISSING otherwise: 0), -1 on error. */
int	 history_deps_met(PGconn *book, const struct job *job, char *missing,
	    size_t len, char *err, size_t errlen);
/* Rows of this host left running by a process that is gone: abandoned.
 * Returns how many, or -1. */
int	 history_abandon_dead(PGconn *book, char *err, size_t errlen);
/* Liveness (qsched(8), RELIABILITY): this process's qsched.daemons row,
 * refreshed every HISTORY_HEARTBEAT_MS; runs of owners silent for longer
 * than their lease are abandoned by whoever beats next.  KIND: "daemon"
 * or "run".  *RETRY_IN (may be NULL): ms until the soonest retry of
 * CFG's jobs is due, -1 when none.  Returns how many runs it abandoned,
 * or -1. */
#define HISTORY_HEARTBEAT_MS	30000
#define HISTORY_LEASE_MS	120000
int	 history_heartbeat(PGconn *book, const struct config *cfg,
	    const char *kind, int64_t *retry_in, char *err, size_t errlen);
void	 history_unregister(PGconn *book);
bool	 history_is_registered(void);
/* Durable retries: a retry_scheduled row due in DELAY_MS (*ID, 0 when the
 * attempt is recorded already), claimed by one qsched (1; 0: taken),
 * cancelled before it ran.  Due retries of CFG's jobs others may take:
 * id, job, scheduled_for (epoch), attempt, due in ms; NULL on error. */
int	 history_schedule_retry(PGconn *book, const struct run *r,
	    int64_t delay_ms, int64_t *id, char *err, size_t errlen);
int	 history_claim_retry(PGconn *book, int64_t id, char *err,
	    size_t errlen);
int	 history_cancel_retry(PGconn *book, int64_t id, const char *why);
PGresult *history_due_retries(PGconn *book, const struct config *cfg,
	    char *err, size_t errlen);

/* signals.c - flag-setting handlers for SIGS; all of them blocked but
 * inside ppoll(WAITMASK); SIGPIPE ignored. */
void	 signals_setup(const int *sigs, size_t n, void (*handler)(int),
	    sigset_t *waitmask);

/* progress.c - the live line on a terminal, periodic log lines otherwise. */
void	 progress_show(const struct run *r);
void	 progress_clear(void);

/* format.c - query results as an aligned table, JSON or CSV. */
enum format {
	FORMAT_TABLE,
	FORMAT_JSON,
	FORMAT_CSV,
};
int	 format_parse(const char *name, enum format *f);
void	 format_result(const PGresult *res, enum format f, FILE *out);

/* cmd_*.c - the commands; each returns an exit status. */
struct cmd_ctx {
	const char	*config_path;
	int		 argc;
	char		**argv;		/* argv[0] is the command name */
};
int	 cmd_run(struct cmd_ctx *);
int	 cmd_init(struct cmd_ctx *);
int	 cmd_next(struct cmd_ctx *);
int	 cmd_history(struct cmd_ctx *);
int	 cmd_check(struct cmd_ctx *);
int	 cmd_flags(struct cmd_ctx *);
int	 cmd_plugins(struct cmd_ctx *);
/* Shared start-up: load the config, with its plugins when BIND (exit
 * status 2 on error), and connect (3 on error, also when a reading
 * command finds no schema). */
int	 cmd_load_config(struct cmd_ctx *, struct config **, bool bind);
enum cmd_schema {
	CMD_SCHEMA_ENSURE,	/* create or upgrade it, abandon dead runs */
	CMD_SCHEMA_READ,	/* read-only: it must exist */
	CMD_SCHEMA_ANY,		/* just connect (qsched check) */
};
int	 cmd_connect(const struct config *, PGconn **, enum cmd_schema);
/* check and daemon refuse a configuration without jobs: exit status 2. */
int	 cmd_require_jobs(const struct config *);
/* --format NAME of command CMD: 0, or -1 after saying what is wrong. */
int	 cmd_format_option(const char *cmd, const char *name, enum format *f);
/* --since T: a duration back from now ("2h", "7d") or a timestamp
 * PostgreSQL reads; the instant as timestamptz text, malloc()ed, or NULL
 * (err names --since). */
char	*cmd_since(PGconn *conn, const char *text, char *err, size_t errlen);
int	 cmd_daemon(struct cmd_ctx *);
int	 cmd_list(struct cmd_ctx *);
int	 cmd_status(struct cmd_ctx *);
int	 cmd_report(struct cmd_ctx *);

/* fire.c - the daemon's schedule state of one job, design section 3.2.
 * Fire times are instants; these functions are pure but for cron_next. */
#define FIRE_GRACE_MS	60000	/* a fire this late still runs as scheduled */
enum fire_due {
	FIRE_NONE,		/* nothing due yet */
	FIRE_RUN,		/* run the fire *when, trigger schedule */
	FIRE_MISSED,		/* *when passed more than FIRE_GRACE_MS ago */
};
struct fire {
	time_t		 next;		/* first fire not handled; 0: none */
	time_t		 catchup;	/* a missed fire to run once; 0: none */
};
/* The latest fire in (AFTER, UNTIL]: 0, or -1 when there is none. */
int	 fire_latest(const struct job *job, time_t after, time_t until,
	    time_t *latest);
/* Start-up: NEXT after NOW; for a catch_up job, CATCHUP is its latest fire
 * within HORIZON_MS before NOW (0: none).  Disabled and @manual jobs get
 * neither. */
void	 fire_start(struct fire *f, const struct job *job, time_t now,
	    int64_t horizon_ms);
/* At NOW_MS: every due fire is handled at once (several coalesce into the
 * latest, *first being the earliest of them); a missed one sets CATCHUP
 * for a catch_up job.  NEXT moves past NOW_MS. */
enum fire_due fire_due(struct fire *f, const struct job *job, int64_t now_ms,
	    time_t *when, time_t *first);
/* A fire due to run could not be claimed (database unreachable). */
void	 fire_missed(struct fire *f, const struct job *job, time_t when);

/* notify.c - systemd's sd_notify protocol, in tree: one datagram to
 * $NOTIFY_SOCKET ("/path" or "@abstract").  Without it, no-ops. */
int	 notify_init(char *err, size_t errlen);
void	 notify_send(const char *fmt, ...)
	    __attribute__((format(printf, 1, 2)));
void	 notify_close(void);

/* retention.c - history_retention, in small batches. */
#define RETENTION_BATCH		1000
/* Delete up to RETENTION_BATCH finished runs that started more than
 * RETENTION_MS ago and are folded into the per-job totals (totals_fold()
 * first), in one short statement.  How many, or -1. */
int	 retention_step(PGconn *book, int64_t retention_ms, char *err,
	    size_t errlen);

/* totals.c - fold the runs settled since the last fold into the per-job
 * totals (qsched.job_totals_fold(), sql/core/0004_job_totals.sql), in a
 * transaction of its own on BOOK.  The mark (every run at or below it is
 * counted), or -1. */
long long totals_fold(PGconn *book, char *err, size_t errlen);

/* daemon.c - the scheduler loop (qsched daemon); its parts share the
 * private daemon.h. */
struct daemon_opts {
	int64_t		 stop_wait_ms;	/* SIGTERM: wait this long for runs */
	int64_t		 fake_start_ms;	/* tests: wall clock starts here... */
	double		 fake_speed;	/* ...and runs this fast; 0: real */
};
struct config;
/* Run until SIGTERM/SIGINT; takes CFG.  Returns an exit status. */
int	 daemon_main(const char *config_path, struct config *cfg,
	    const struct daemon_opts *opts);

/* metrics.c - the Prometheus text format and OpenMetrics, from
 * qsched.job_totals, qsched.runs, qsched.daemons, qsched.job_locks, the
 * plugins' declared metrics and a live daemon (qsched(8), METRICS). */
enum metrics_format {
	METRICS_TEXT,		/* text/plain; version=0.0.4 */
	METRICS_OPENMETRICS,	/* application/openmetrics-text 1.0.0 */
};
struct metrics_job {
	char		*name;
	char		*plugin;
	char		*schedule;
	const struct qsched_metric *defs;	/* the plugin's; NULL: none */
	int64_t		 lock_key;
	int64_t		 interval_s;	/* longest gap between fires; 0: none */
	int		 running;	/* live: this daemon's runs */
	time_t		 next_fire;	/* live: 0 when none */
};
/* What the configuration and, in a daemon, the loop say. */
struct metrics_live {
	char		*database;
	struct metrics_job *jobs;
	size_t		 njobs;
	bool		 daemon;	/* the fields below are set */
	time_t		 started;
	bool		 db_connected;
	int64_t		 reconnects;
	int64_t		 reloads_ok;
	int64_t		 reloads_failed;
};
struct metrics_db;
/* LV's jobs from CFG (main thread only: schedules use tz.c). */
void	 metrics_jobs(struct metrics_live *lv, const struct config *cfg);
void	 metrics_live_copy(struct metrics_live *dst,
	    const struct metrics_live *src);
void	 metrics_live_free(struct metrics_live *);
/* A refresh waits WAIT_MS at most for the server. */
struct metrics_db *metrics_db_new(int64_t wait_ms);
void	 metrics_db_free(struct metrics_db *);
/* Read the DB part on CONN; on failure the last good values stay and
 * err says why ("metrics: run totals: 57014: canceling statement ..."). */
int	 metrics_db_refresh(struct metrics_db *, PGconn *conn,
	    const struct metrics_live *lv, char *err, size_t errlen);
void	 metrics_format(struct buf *, const struct metrics_db *,
	    const struct metrics_live *, enum metrics_format);

/* metrics_http.c - GET /metrics on metrics_listen (libmicrohttpd, its
 * own thread and database connection); the daemon's hooks. */
/* "HOST:PORT", "[V6]:PORT" or "PORT" (loopback).  err names the part. */
int	 metrics_http_parse(const char *listen, char *host, size_t hostlen,
	    char *port, size_t portlen, char *err, size_t errlen);
/* Listen on CFG->metrics_listen (nothing when unset).  err: the reason. */
int	 metrics_http_start(const struct config *cfg, char *err,
	    size_t errlen);
/* Once per loop iteration: what the daemon knows now.  Cheap. */
struct daemon;
void	 metrics_http_publish(const struct daemon *);
void	 metrics_http_stop(void);

/* cmd_metrics.c */
int	 cmd_metrics(struct cmd_ctx *);

#endif /* QSCHED_H */
