/*
 * flaky - fails with a real server error for its first attempts, so the
 * core's retry of transient SQLSTATEs can be tested end to end.
 */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "qsched-plugin.h"

static const struct qsched_option flaky_options[] = {
	{ .name = "fail_times", .type = QSCHED_OPT_INT, .default_value = "2",
	  .min = 0, .max = INT64_MAX, .help = "attempts that fail" },
	{ .name = "sqlstate", .type = QSCHED_OPT_STRING,
	  .default_value = "40001", .help = "SQLSTATE the failures raise" },
	{ .name = NULL },
};

/* A SQLSTATE is five digits or upper-case letters; nothing else may
 * reach the SQL text. */
static int
flaky_sqlstate_valid(const char *s)
{
	size_t	 i;

	if (strlen(s) != 5)
		return (0);
	for (i = 0; i < 5; i++) {
		if (!isdigit((unsigned char)s[i]) &&
		    !isupper((unsigned char)s[i]))
			return (0);
	}
	return (1);
}

static int
flaky_check(const struct qsched_host *host, struct qsched_run *run)
{
	const char	*state = host->opt_string(run, "sqlstate");

	if (!flaky_sqlstate_valid(state)) {
		host->message(run, "sqlstate: \"%s\" is not a SQLSTATE", state);
		return (-1);
	}
	return (0);
}

static enum qsched_result
flaky_run(const struct qsched_host *host, struct qsched_run *run)
{
	PGresult	*res;
	char		 sql[256];
	int		 attempt = host->attempt(run);
	const char	*state = host->opt_string(run, "sqlstate");

	if (attempt > host->opt_int(run, "fail_times"))
		return (QSCHED_OK);
	if (flaky_check(host, run) != 0)
		return (QSCHED_FAIL);
	snprintf(sql, sizeof sql, "DO $$BEGIN RAISE EXCEPTION "
	    "'flaky failure on purpose' USING ERRCODE = '%s'; END$$", state);
	res = PQexec(host->conn(run), sql);
	host->fail(run, res, "flaky attempt %d", attempt);
	PQclear(res);
	return (QSCHED_FAIL);
}

static const struct qsched_plugin flaky_plugin = {
	QSCHED_PLUGIN_HEADER,
	.name = "flaky",
	.version = "1.0",
	.summary = "fails its first attempts with a SQLSTATE (tests)",
	.options = flaky_options,
	.check = flaky_check,
	.run = flaky_run,
};

QSCHED_PLUGIN_EXPORT const struct qsched_plugin *
qsched_plugin_describe(void)
{
	return (&flaky_plugin);
}
