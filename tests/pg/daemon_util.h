/*
 * daemon_util.h - helpers shared by the tests/pg_daemon* suites: start a
 * daemon, wait for a line in its log, stop it.  Static, header-only:
 * each suite is one program.
 */
#ifndef DAEMON_UTIL_H
#define DAEMON_UTIL_H

#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <criterion/criterion.h>

#include "th.h"

/* These suites mostly sleep: run many of their tests at once. */
#define DAEMON_TEST_JOBS	8

#define DAEMON_MAIN							\
int									\
main(int argc, char *argv[])						\
{									\
	struct criterion_test_set *tests = criterion_initialize();	\
	int	 rc = 0;						\
									\
	criterion_options.jobs = DAEMON_TEST_JOBS;			\
	if (criterion_handle_args(argc, argv, true))			\
		rc = !criterion_run_all_tests(tests);			\
	criterion_finalize(tests);					\
	return (rc);							\
}

static inline void
du_sleep_ms(int ms)
{
	struct timespec	 ts = { ms / 1000, (long)(ms % 1000) * 1000000 };

	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Create the qsched schema, so a test can poll qsched.runs at once. */
static inline void
du_schema(const char *conf)
{
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "init", NULL), 0, "%s", o.err);
	th_out_free(&o);
}

/* Whether the daemon's log has TEXT within TIMEOUT_MS. */
static inline bool
du_log_has(pid_t pid, const char *text, int timeout_ms)
{
	struct th_out	 o;
	bool		 found;

	for (int waited = 0;; waited += 50) {
		th_output(pid, &o);
		found = strstr(o.err, text) != NULL;
		th_out_free(&o);
		if (found || waited >= timeout_ms)
			return (found);
		du_sleep_ms(50);
	}
}

/* The daemon's log so far (malloc'ed). */
static inline char *
du_log(pid_t pid)
{
	struct th_out	 o;

	th_output(pid, &o);
	free(o.out);
	return (o.err);
}

/* Start `qsched daemon` and wait until it says it started. */
static inline pid_t
du_start(const char *conf)
{
	pid_t	 pid = th_qsched_spawn(conf, "daemon", NULL);

	cr_assert(du_log_has(pid, "daemon started", 30000),
	    "the daemon did not start: %s", du_log(pid));
	return (pid);
}

/* SIGTERM and wait: asserts a clean exit (0) within TIMEOUT_MS. */
static inline void
du_stop(pid_t pid, int timeout_ms)
{
	int	 status;

	th_kill(pid, SIGTERM);
	status = th_wait(pid, timeout_ms);
	cr_assert_eq(status, 0, "the daemon exited %d: %s", status,
	    du_log(pid));
}

#endif /* DAEMON_UTIL_H */
