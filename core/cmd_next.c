/*
 * cmd_next.c - qsched next JOB [-n N]: when a job will fire, in its own
 * zone and in UTC, so DST surprises show before they happen.
 */
#include "qsched.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

int
cmd_next(struct cmd_ctx *ctx)
{
	struct config	*cfg = NULL;
	struct job	*job;
	char		 local[64], utc[32], *end;
	time_t		 t;
	long		 n = 5;
	int		 ch, rc;

	while ((ch = getopt(ctx->argc, ctx->argv, "n:")) != -1) {
		switch (ch) {
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > 10000) {
				fprintf(stderr, "qsched: next: -n: \"%s\" is not "
				    "a count from 1 to 10000\n", optarg);
				return (QSCHED_EXIT_USAGE);
			}
			break;
		default:
			goto usage;
		}
	}
	if (optind != ctx->argc - 1)
		goto usage;
	if ((rc = cmd_load_config(ctx, &cfg, false)) != QSCHED_EXIT_OK)
		return (rc);
	if ((job = config_job(cfg, ctx->argv[optind])) == NULL) {
		fprintf(stderr, "qsched: %s: no job \"%s\"\n", cfg->path,
		    ctx->argv[optind]);
		config_free(cfg);
		return (QSCHED_EXIT_USAGE);
	}
	if (job->cron.manual)
		fprintf(stderr, "qsched: job \"%s\" is @manual: it runs only "
		    "by qsched run\n", job->name);
	else if (!job->enabled)
		fprintf(stderr, "qsched: job \"%s\" is disabled; were it "
		    "enabled it would fire at:\n", job->name);
	t = clock_now();
	for (long i = 0; i < n && !job->cron.manual; i++) {
		if (cron_next(&job->cron, job->timezone, t, &t) == -1)
			break;
		printf("%s  %s\n", tz_format(job->timezone, t, local,
		    sizeof local), tz_format_utc(t, utc, sizeof utc));
	}
	config_free(cfg);
	return (QSCHED_EXIT_OK);
usage:
	fprintf(stderr, "usage: qsched next JOB [-n N]\n");
	return (QSCHED_EXIT_USAGE);
}
