/*
 * cmd_flags.c - qsched flags: the feature flags a run started now would
 * see, where each value comes from, and who declared each flag.
 */
#include "qsched.h"

#include <stdio.h>
#include <string.h>

int
cmd_flags(struct cmd_ctx *ctx)
{
	struct config	*cfg = NULL;
	struct flags	 flags;
	char		 err[QSCHED_ERRLEN], where[64];
	const char	*section = NULL;
	int		 rc;

	if (ctx->argc != 1) {
		fprintf(stderr, "usage: qsched flags\n");
		return (QSCHED_EXIT_USAGE);
	}
	if ((rc = cmd_load_config(ctx, &cfg, true)) != QSCHED_EXIT_OK)
		return (rc);
	if (flags_load(cfg, &flags, err, sizeof err) == -1) {
		fprintf(stderr, "qsched: %s\n", err);
		config_free(cfg);
		return (QSCHED_EXIT_USAGE);
	}
	printf("# %s\n", *cfg->flags_file ? cfg->flags_file :
	    "no flags_file: defaults");
	if (flags.n == 0)
		printf("# no flag is declared by the plugins or jobs.conf\n");
	/* Grouped by section, in declaration order within each. */
	for (size_t s = 0; s < flags.n; s++) {
		size_t	 k;

		section = cfg->flags[s].section;
		for (k = 0; k < s; k++)
			if (strcmp(cfg->flags[k].section, section) == 0)
				break;
		if (k < s)
			continue;	/* printed with its first flag */
		printf("[%s]\n", section);
		for (size_t i = 0; i < flags.n; i++) {
			const struct flag_decl *d = &cfg->flags[i];

			if (strcmp(d->section, section) != 0)
				continue;
			if (flags.line[i] > 0)
				snprintf(where, sizeof where, "line %d",
				    flags.line[i]);
			else
				snprintf(where, sizeof where, "default");
			printf("%-26s = %-5s  # %s; declared by %s%s%s\n",
			    d->name, flags.value[i] ? "true" : "false", where,
			    d->declared_by, *d->help ? ": " : "", d->help);
		}
	}
	config_free(cfg);
	return (QSCHED_EXIT_OK);
}
