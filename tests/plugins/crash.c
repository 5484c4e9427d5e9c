/*
 * crash - dies of SIGSEGV in run(), so the core can show that a crashing
 * plugin costs one run and is recorded as crashed.
 */
#include <signal.h>
#include <stddef.h>

#include "qsched-plugin.h"

/*
 * A sanitizer would report the bad write and exit instead of letting the
 * signal kill the process; the test is about the signal, so step aside.
 */
static enum qsched_result __attribute__((no_sanitize_address,
    no_sanitize_undefined))
crash_run(const struct qsched_host *host, struct qsched_run *run)
{
	volatile int *volatile	 p = NULL;

	host->log(run, QSCHED_LOG_NOTICE, "crashing on purpose");
	signal(SIGSEGV, SIG_DFL);
	*p = 1;
	return (QSCHED_FAIL);
}

static const struct qsched_plugin crash_plugin = {
	QSCHED_PLUGIN_HEADER,
	.name = "crash",
	.version = "1.0",
	.summary = "writes through a NULL pointer (tests)",
	.run = crash_run,
};

QSCHED_PLUGIN_EXPORT const struct qsched_plugin *
qsched_plugin_describe(void)
{
	return (&crash_plugin);
}
