/*
 * run_names.c - the names of run statuses and triggers, as qsched.runs
 * stores them (its CHECK constraints list the same words) and the
 * commands print and read them.
 */
#include "qsched.h"

#include <string.h>

static const char *const run_status_names[] = {
	[RUN_RUNNING] = "running",
	[RUN_SUCCEEDED] = "succeeded",
	[RUN_FAILED] = "failed",
	[RUN_TIMED_OUT] = "timed_out",
	[RUN_CRASHED] = "crashed",
	[RUN_SKIPPED] = "skipped",
	[RUN_BLOCKED] = "blocked",
	[RUN_CANCELLED] = "cancelled",
	[RUN_ABANDONED] = "abandoned",
	[RUN_RETRY_SCHEDULED] = "retry_scheduled",
};

static const char *const run_trigger_names[] = {
	[TRIGGER_SCHEDULE] = "schedule",
	[TRIGGER_MANUAL] = "manual",
	[TRIGGER_CATCHUP] = "catchup",
	[TRIGGER_RETRY] = "retry",
};

const char *
run_status_name(enum run_status s)
{
	return (run_status_names[s]);
}

const char *
run_trigger_name(enum trigger t)
{
	return (run_trigger_names[t]);
}

int
run_status_parse(const char *name)
{
	for (size_t i = 0; i < sizeof run_status_names /
	    sizeof run_status_names[0]; i++)
		if (strcmp(run_status_names[i], name) == 0)
			return ((int)i);
	return (-1);
}

void
run_status_list(char *buf, size_t len)
{
	size_t	 n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof run_status_names /
	    sizeof run_status_names[0] && n < len; i++)
		n += (size_t)snprintf(buf + n, len - n, "%s%s", i ? ", " : "",
		    run_status_names[i]);
}
