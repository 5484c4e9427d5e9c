/*
 * result - returns whatever its options say, so the core's handling of
 * each outcome (history status, exit status, retries) can be tested.
 */
#include <stdint.h>
#include <string.h>

#include "qsched-plugin.h"

static const struct qsched_option result_options[] = {
	{ .name = "result", .type = QSCHED_OPT_STRING, .default_value = "ok",
	  .choices = "ok|fail|retry|cancelled|skip",
	  .help = "what run() returns" },
	{ .name = "message", .type = QSCHED_OPT_STRING, .default_value = "",
	  .help = "the run's message; also recorded as the note \"echo\"" },
	{ .name = "rows", .type = QSCHED_OPT_INT, .default_value = "0",
	  .min = 0, .max = INT64_MAX, .help = "rows_processed to report" },
	{ .name = "check_fails", .type = QSCHED_OPT_BOOL,
	  .default_value = "false", .help = "make check() fail" },
	{ .name = NULL },
};

static int
result_check(const struct qsched_host *host, struct qsched_run *run)
{
	if (host->opt_bool(run, "check_fails")) {
		host->message(run, "check failed on purpose");
		return (-1);
	}
	return (0);
}

static enum qsched_result
result_run(const struct qsched_host *host, struct qsched_run *run)
{
	const char	*result = host->opt_string(run, "result");
	const char	*message = host->opt_string(run, "message");

	host->add_rows(run, host->opt_int(run, "rows"));
	host->counter(run, "answer", 42);
	host->note(run, "echo", message);
	if (*message != '\0')
		host->message(run, "%s", message);

	if (strcmp(result, "fail") == 0)
		return (QSCHED_FAIL);
	if (strcmp(result, "retry") == 0)
		return (QSCHED_RETRY);
	if (strcmp(result, "cancelled") == 0)
		return (QSCHED_CANCELLED);
	if (strcmp(result, "skip") == 0)
		return (QSCHED_SKIP);
	return (QSCHED_OK);
}

static const struct qsched_plugin result_plugin = {
	QSCHED_PLUGIN_HEADER,
	.name = "result",
	.version = "1.0",
	.summary = "returns the result its options name (tests)",
	.options = result_options,
	.check = result_check,
	.run = result_run,
};

QSCHED_PLUGIN_EXPORT const struct qsched_plugin *
qsched_plugin_describe(void)
{
	return (&result_plugin);
}
