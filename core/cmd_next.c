/*
 * cmd_next.c - qsched next JOB [-n N] [--after TIME]: when a job will
 * fire, in its own zone and in UTC, so DST surprises show before they
 * happen.
 */
#include "qsched.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD_NEXT_TIME_FORMAT \
	"YYYY-MM-DD[ HH:MM[:SS]], optionally followed by Z or +HH:MM"

/* --after TIME as written: civil fields and, if given, a UTC offset. */
struct cmd_next_time {
	struct tm	 civil;
	bool		 has_offset;
	long		 offset;	/* seconds east of UTC */
};

/* N digits at *P as a number, advancing *P; -1 if they are not there. */
static int
cmd_next_digits(const char **p, int n)
{
	int	 v = 0;

	for (; n > 0; n--, (*p)++) {
		if (**p < '0' || **p > '9')
			return (-1);
		v = v * 10 + (**p - '0');
	}
	return (v);
}

static bool
cmd_next_leap(int y)
{
	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

/*
 * "2026-03-29", "2026-03-29 01:30", "2026-03-29T01:30:15Z",
 * "2026-03-29 01:30+01:00", "...-0500", "...+09".  -1 on anything else,
 * out-of-range fields included.
 */
static int
cmd_next_time_parse(const char *text, struct cmd_next_time *at)
{
	static const int	 mdays[] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	const char		*p = text;
	int			 y, mo, d, h = 0, mi = 0, s = 0, oh, om = 0;
	int			 sign;
	bool			 colon;

	memset(at, 0, sizeof *at);
	if ((y = cmd_next_digits(&p, 4)) < 1 || *p++ != '-' ||
	    (mo = cmd_next_digits(&p, 2)) < 1 || mo > 12 || *p++ != '-' ||
	    (d = cmd_next_digits(&p, 2)) < 1)
		return (-1);
	if (d > mdays[mo - 1] + (mo == 2 && cmd_next_leap(y)))
		return (-1);
	if (*p == ' ' || *p == 'T' || *p == 't') {
		p++;
		if ((h = cmd_next_digits(&p, 2)) < 0 || h > 23 ||
		    *p++ != ':' || (mi = cmd_next_digits(&p, 2)) < 0 ||
		    mi > 59)
			return (-1);
		if (*p == ':') {
			p++;
			if ((s = cmd_next_digits(&p, 2)) < 0 || s > 59)
				return (-1);
		}
		if (*p == 'Z' || *p == 'z') {
			at->has_offset = true;
			p++;
		} else if (*p == '+' || *p == '-') {
			sign = (*p++ == '+') ? 1 : -1;
			if ((oh = cmd_next_digits(&p, 2)) < 0 || oh > 23)
				return (-1);
			colon = (*p == ':');
			if (colon)
				p++;
			if ((colon || *p != '\0') &&
			    ((om = cmd_next_digits(&p, 2)) < 0 || om > 59))
				return (-1);
			at->has_offset = true;
			at->offset = sign * (oh * 3600L + om * 60L);
		}
	}
	if (*p != '\0')
		return (-1);
	at->civil.tm_year = y - 1900;
	at->civil.tm_mon = mo - 1;
	at->civil.tm_mday = d;
	at->civil.tm_hour = h;
	at->civil.tm_min = mi;
	at->civil.tm_sec = s;
	return (0);
}

/* The instant AT names: with its offset, or as a local time of ZONE. */
static time_t
cmd_next_time_instant(const struct cmd_next_time *at, const char *zone)
{
	struct tm	 tm = at->civil;

	if (at->has_offset)
		return (timegm(&tm) - at->offset);
	return (tz_civil_to_instant(zone, &tm));
}

int
cmd_next(struct cmd_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "after", required_argument, NULL, 'a' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_next_time	 at;
	struct config		*cfg = NULL;
	struct job		*job;
	char			 local[64], utc[32], *end;
	const char		*after = NULL;
	time_t			 t;
	long			 i, n = 5;
	int			 ch, rc;

	while ((ch = getopt_long(ctx->argc, ctx->argv, "n:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'n':
			n = strtol(optarg, &end, 10);
			if (*end != '\0' || n < 1 || n > 10000) {
				fprintf(stderr, "qsched: next: -n: \"%s\" is not "
				    "a count from 1 to 10000\n", optarg);
				return (QSCHED_EXIT_USAGE);
			}
			break;
		case 'a':
			after = optarg;
			if (cmd_next_time_parse(after, &at) != 0) {
				fprintf(stderr, "qsched: next: --after: \"%s\" "
				    "is not a time: expected %s\n", after,
				    CMD_NEXT_TIME_FORMAT);
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
	t = (after != NULL) ? cmd_next_time_instant(&at, job->timezone) :
	    clock_now();
	for (i = 0; i < n && !job->cron.manual; i++) {
		if (cron_next(&job->cron, job->timezone, t, &t) == -1)
			break;
		printf("%s  %s\n", tz_format(job->timezone, t, local,
		    sizeof local), tz_format_utc(t, utc, sizeof utc));
	}
	if (i == 0 && !job->cron.manual)
		fprintf(stderr, "qsched: job \"%s\" has no fire after %s "
		    "before the year 10000\n", job->name,
		    tz_format_utc(t, utc, sizeof utc));
	config_free(cfg);
	return (QSCHED_EXIT_OK);
usage:
	fprintf(stderr, "usage: qsched next JOB [-n N] [--after TIME]\n");
	return (QSCHED_EXIT_USAGE);
}
