/*
 * hang - never finishes on its own, so the core's timeouts can be tested:
 * mode "sql" blocks in a query the core must cancel; mode "sleep" ignores
 * cancellation, so the core must kill the worker after its grace period.
 */
#include <string.h>
#include <unistd.h>

#include "qsched-plugin.h"

static const struct qsched_option hang_options[] = {
	{ .name = "mode", .type = QSCHED_OPT_STRING, .default_value = "sql",
	  .choices = "sql|sleep",
	  .help = "sql: wait in pg_sleep; sleep: loop, ignoring cancellation" },
	{ .name = NULL },
};

static enum qsched_result
hang_run(const struct qsched_host *host, struct qsched_run *run)
{
	PGresult	*res;

	if (strcmp(host->opt_string(run, "mode"), "sleep") == 0) {
		for (;;)
			sleep(1);
	}

	res = PQexec(host->conn(run), "select pg_sleep(3600)");
	if (host->cancelled(run)) {
		PQclear(res);
		return (QSCHED_CANCELLED);
	}
	host->fail(run, res, "pg_sleep");
	PQclear(res);
	return (QSCHED_FAIL);
}

static const struct qsched_plugin hang_plugin = {
	QSCHED_PLUGIN_HEADER,
	.name = "hang",
	.version = "1.0",
	.summary = "waits forever (tests)",
	.options = hang_options,
	.run = hang_run,
};

QSCHED_PLUGIN_EXPORT const struct qsched_plugin *
qsched_plugin_describe(void)
{
	return (&hang_plugin);
}
