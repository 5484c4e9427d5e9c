/*
 * options - one option of every type, with bounds, choices and a required
 * one, for the config and option tests.  run() does nothing.
 */
#include "qsched-plugin.h"

static const struct qsched_option options_options[] = {
	{ .name = "name", .type = QSCHED_OPT_STRING,
	  .flags = QSCHED_OPT_REQUIRED, .help = "required string" },
	{ .name = "count", .type = QSCHED_OPT_INT, .default_value = "5",
	  .min = 0, .max = 100, .help = "integer 0-100" },
	{ .name = "enabled", .type = QSCHED_OPT_BOOL, .default_value = "true",
	  .help = "boolean" },
	{ .name = "every", .type = QSCHED_OPT_DURATION, .default_value = "1m",
	  .min = 1000, .max = 86400000, .help = "duration 1s-1d" },
	{ .name = "mode", .type = QSCHED_OPT_STRING, .default_value = "fast",
	  .choices = "fast|slow", .help = "fast or slow" },
	{ .name = NULL },
};

static enum qsched_result
options_run(const struct qsched_host *host, struct qsched_run *run)
{
	(void)host;
	(void)run;
	return (QSCHED_OK);
}

static const struct qsched_plugin options_plugin = {
	QSCHED_PLUGIN_HEADER,
	.name = "options",
	.version = "1.0",
	.summary = "declares one option of each type (tests)",
	.options = options_options,
	.run = options_run,
};

QSCHED_PLUGIN_EXPORT const struct qsched_plugin *
qsched_plugin_describe(void)
{
	return (&options_plugin);
}
