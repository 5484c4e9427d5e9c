/*
 * progress - reports progress in steps, so progress display, history
 * progress and cancellation between batches can be tested.
 */
#include <stdint.h>
#include <time.h>

#include "qsched-plugin.h"

static const struct qsched_option progress_options[] = {
	{ .name = "steps", .type = QSCHED_OPT_INT, .default_value = "10",
	  .min = 1, .max = 1000000, .help = "number of steps" },
	{ .name = "step_ms", .type = QSCHED_OPT_DURATION,
	  .default_value = "100ms", .help = "time each step takes" },
	{ .name = NULL },
};

static enum qsched_result
progress_run(const struct qsched_host *host, struct qsched_run *run)
{
	struct timespec	 ts;
	int64_t		 steps = host->opt_int(run, "steps");
	int64_t		 ms = host->opt_duration_ms(run, "step_ms");
	int64_t		 i;

	for (i = 1; i <= steps; i++) {
		host->progress(run, i, steps);
		ts.tv_sec = (time_t)(ms / 1000);
		ts.tv_nsec = (long)(ms % 1000) * 1000000L;
		/* A signal cuts the step short; cancellation is checked. */
		(void)nanosleep(&ts, NULL);
		if (host->cancelled(run))
			return (QSCHED_CANCELLED);
	}
	host->add_rows(run, steps);
	return (QSCHED_OK);
}

static const struct qsched_plugin progress_plugin = {
	QSCHED_PLUGIN_HEADER,
	.name = "progress",
	.version = "1.0",
	.summary = "counts steps with progress reports (tests)",
	.options = progress_options,
	.run = progress_run,
};

QSCHED_PLUGIN_EXPORT const struct qsched_plugin *
qsched_plugin_describe(void)
{
	return (&progress_plugin);
}
