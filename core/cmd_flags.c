/*
 * cmd_flags.c - qsched flags: the feature flags a run started now would
 * see, and where each value comes from.
 */
#include "qsched.h"

#include <stdio.h>

int
cmd_flags(struct cmd_ctx *ctx)
{
	struct config	*cfg = NULL;
	struct flags	 flags;
	char		 err[QSCHED_ERRLEN], where[64];
	int		 rc;

	if (ctx->argc != 1) {
		fprintf(stderr, "usage: qsched flags\n");
		return (QSCHED_EXIT_USAGE);
	}
	if ((rc = cmd_load_config(ctx, &cfg)) != QSCHED_EXIT_OK)
		return (rc);
	if (flags_load(cfg->flags_file, &flags, err, sizeof err) == -1) {
		fprintf(stderr, "qsched: %s\n", err);
		config_free(cfg);
		return (QSCHED_EXIT_USAGE);
	}
	printf("# %s\n[queue_migration]\n", *cfg->flags_file ?
	    cfg->flags_file : "no flags_file: defaults");
	for (int i = 0; i < FLAG_COUNT; i++) {
		if (flags.line[i] > 0)
			snprintf(where, sizeof where, "line %d", flags.line[i]);
		else
			snprintf(where, sizeof where, "default");
		printf("%-26s = %-5s  # %s\n", flag_names[i],
		    flags.value[i] ? "true" : "false", where);
	}
	config_free(cfg);
	return (QSCHED_EXIT_OK);
}
