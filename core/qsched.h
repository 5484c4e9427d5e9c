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
 * Returns -1 when there is none (@manual, or none in the search horizon). */
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

/* host.c - the services table handed to plugins (struct qsched_host). */
extern const struct qsched_host host_services;

/* flags.c - flags.ini, design section 3.5. */
#define FLAG_COUNT	4
extern const char *const flag_names[FLAG_COUNT];
struct flags {
	bool		 value[FLAG_COUNT];
	int		 line[FLAG_COUNT];	/* 0: default */
};
/* PATH NULL or "": defaults.  err: "FILE:LINE: unknown flag 'x'". */
int	 flags_load(const char *path, struct flags *f, char *err,
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
	struct option_value *options;	/* one per entry of the plugin's table */
	size_t		 noptions;
};
struct config {
	char		*path;
	char		*database;	/* "": PG* environment */
	char		*plugin_dir;
	char		*flags_file;
	char		*timezone;
	int64_t		 history_retention_ms;
	struct job	*jobs;
	size_t		 njobs;
};
/*
 * Parse PATH, load the plugins its jobs name and check every job's options
 * against its plugin's table.  err: "PATH:LINE: message".
 */
int	 config_load(const char *path, struct config **out, char *err,
	    size_t errlen);
void	 config_free(struct config *);
struct job	*config_job(const struct config *, const char *name);
/* --set KEY=VALUE for one run.  err: "--set KEY: message". */
int	 config_set_option(struct job *job, const char *assignment, char *err,
	    size_t errlen);
struct option_value *job_option(const struct job *job, const char *name);

#endif /* QSCHED_H */
