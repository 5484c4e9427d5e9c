/*
 * health.h - health throttling, shared by the plugins that write in
 * batches (legacy_backfill, legacy_deprecation).  Built as a libtool
 * convenience library (plugins/libhealth.la) linked into each module,
 * compiled with the modules' -fvisibility=hidden: every module still
 * exports only qsched_plugin_describe (tests/plugin-exports.sh).
 *
 * Between batches a plugin calls health_wait(): at most every
 * throttle_interval it reads the signals, and while any is over its
 * threshold it waits, logging each pause once when it begins and once
 * when it ends, counting it (health_metrics) and showing the run's state
 * "throttled: <reason>" (qsched status).
 */
#ifndef QSCHED_HEALTH_H
#define QSCHED_HEALTH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qsched-plugin.h"

enum health_signal {
	HEALTH_VACUUM,
	HEALTH_LOCKS,
	HEALTH_LAG,
	HEALTH_ARCHIVE,
	HEALTH_CANARY,
	HEALTH_NSIGNALS
};
extern const char *const health_signals[HEALTH_NSIGNALS];

struct health {
	const char	*targets;	/* regclass[] literal SQL: vacuum */
	const char	*locked;	/* regclass[] literal SQL: waiters */
	bool		 enabled;
	bool		 vacuum;
	bool		 lock_waiters;
	bool		 archiving;	/* archive_mode is not off */
	bool		 archive_off;	/* the status is not readable */
	int64_t		 interval_ms;
	int64_t		 max_lag_ms;	/* 0: not watched */
	int64_t		 max_archive;	/* 0: not watched */
	int64_t		 canary_ms;	/* 0: no canary */
	const char	*canary_queue;
	int64_t		 last_check_us;	/* host->mono_us(), -1: never */
	char		 reason[200];	/* the pause going on, or "" */
	int		 signal;	/* its signal */
	int64_t		 pauses;
	int64_t		 by[HEALTH_NSIGNALS];
	int64_t		 paused_us;
	int64_t		 pause_start_us;	/* when the pause began, or 0 */
	int64_t		 canaries;
	int64_t		 canary_max_us;
	int64_t		 archive_ready;
};

/*
 * The options health_init() reads, for a plugin's option table (the
 * same names and defaults in every plugin that throttles).
 */
#define HEALTH_OPTIONS							\
	{ "throttle", QSCHED_OPT_BOOL, 0, "true", 0, 0, NULL,		\
	    "pause while the database is unhealthy (the signals below)" }, \
	{ "throttle_interval", QSCHED_OPT_DURATION, 0, "1s", 10, 600000,	\
	    NULL, "how often the signals are read, and rechecked while "	\
	    "paused" },							\
	{ "pause_on_vacuum", QSCHED_OPT_BOOL, 0, "true", 0, 0, NULL,	\
	    "pause while a VACUUM works on a table the job writes" },	\
	{ "pause_on_lock_waiters", QSCHED_OPT_BOOL, 0, "true", 0, 0, NULL, \
	    "pause while a session waits for a lock on a table the job "	\
	    "writes or reads" },						\
	{ "max_replica_lag", QSCHED_OPT_DURATION, 0, "10s", 0, 86400000,	\
	    NULL, "pause while a standby lags more (0: not watched)" },	\
	{ "max_archive_backlog", QSCHED_OPT_INT, 0, "42", 0, 1000000, NULL, \
	    "pause while more WAL segments wait for archiving (0: not "	\
	    "watched)" },							\
	{ "canary_latency", QSCHED_OPT_DURATION, 0, "100ms", 0, 600000,	\
	    NULL, "pause while a rolled-back claim takes longer (0: no "	\
	    "canary)" },							\
	{ "canary_queue", QSCHED_OPT_STRING, 0, "unsigned_users", 0, 0,	\
	    "unsigned_users|outstanding_requests",			\
	    "the separated queue the canary claims from" }

/*
 * Read the options into H.  TARGETS and LOCKED are SQL regclass[]
 * literals, borrowed (static strings): the tables whose vacuum, and
 * whose lock waiters, pause the job.
 */
/* Run SQL that returns nothing on the run's connection: 0, or -1 after
 * the failure is recorded (host->exec). */
int	 health_command(const struct qsched_host *, struct qsched_run *,
	    const char *what, const char *sql);
/* Sleep MS in short steps, so a cancel is seen at once; false if the
 * run is cancelled.  For any pause of a batching plugin. */
bool	 health_sleep(const struct qsched_host *, struct qsched_run *,
	    int64_t ms);
void	 health_init(const struct qsched_host *, struct qsched_run *,
	    struct health *h, const char *targets, const char *locked);
/* Read every signal once: 1 (WHY and SIG say which) over a threshold,
 * 0 healthy, -1 error.  Uses the run's connection, outside a
 * transaction. */
int	 health_check(const struct qsched_host *, struct qsched_run *,
	    struct health *, char *why, size_t len, int *sig);
/* A pause begins (or changes reason): log, count and show it once. */
void	 health_begin(const struct qsched_host *, struct qsched_run *,
	    struct health *, const char *why, int sig);
/* At most every interval: check, and while unhealthy wait.  0 to go on,
 * -1 failed or cancelled. */
int	 health_wait(const struct qsched_host *, struct qsched_run *,
	    struct health *);
/* The counters: throttle_pauses, throttle_pauses_<signal>, throttled_ms,
 * canary_claims, canary_max_us. */
void	 health_metrics(const struct qsched_host *, struct qsched_run *,
	    const struct health *);

#endif /* QSCHED_HEALTH_H */
