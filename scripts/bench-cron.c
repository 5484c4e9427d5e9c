/*
 * bench-cron.c - what one cron_next() and one cron_parse() cost, per
 * schedule: built and run by scripts/bench-cron.sh.
 *
 * Each schedule's cron_next is timed from STARTS instants spread over the
 * 400-year cycle (2026 to 2426, a prime number of seconds apart, so they
 * land at every time of day and year); the median and the 99th
 * percentile of the calls, in microseconds, are printed with the median's
 * ratio to that of "*\/15 * * * *" in UTC, the baseline, measured in the
 * same run.  (The maximum is the machine's noise: a preempted call.)  The
 * worst case is then timed on its own: the longest wait there is, 40 years
 * from 29 February 2088 to 2128, a Sunday, the search crossing 2100.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STARTS	20000

static double
bench_now_us(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (ts.tv_sec * 1e6 + ts.tv_nsec / 1e3);
}

static int
bench_cmp(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return ((x > y) - (x < y));
}

int
main(void)
{
	static const struct {
		const char	*expr;
		const char	*zone;
	} cases[] = {
		{ "*/15 * * * *", "UTC" },
		{ "30 1 * * 1-5", "Europe/London" },
		{ "* * * * * *", "Europe/London" },
		{ "0 0 29 2 */7", "UTC" },
		{ "0 0 29 2 */7", "Europe/London" },
		{ "59 59 23 29 2 */7", "Australia/Lord_Howe" },
		{ "0 0 */31 2 1", "UTC" },
		{ "0 0 13 * 5", "America/New_York" },
	};
	static double	 us[STARTS];
	struct cron	 c;
	char		 err[QSCHED_ERRLEN];
	double		 base = 0, t0, med, p99;
	time_t		 from = 1767225600, n;	/* 2026-01-01 UTC */
	const time_t	 step = 631133;	/* prime, about a week */
	size_t		 i, k;
	int		 r;

	printf("| schedule | zone | median µs | p99 µs | median ratio |\n");
	printf("|---|---|---|---|---|\n");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (cron_parse(cases[i].expr, &c, err, sizeof err) != 0) {
			fprintf(stderr, "%s: %s\n", cases[i].expr, err);
			return (1);
		}
		for (k = 0; k < STARTS; k++) {
			t0 = bench_now_us();
			r = cron_next(&c, cases[i].zone,
			    from + (time_t)k * step, &n);
			us[k] = bench_now_us() - t0;
			if (r != 0) {
				fprintf(stderr, "%s: no fire\n", cases[i].expr);
				return (1);
			}
		}
		qsort(us, STARTS, sizeof us[0], bench_cmp);
		med = us[STARTS / 2];
		p99 = us[STARTS * 99 / 100];
		if (i == 0)
			base = med;
		printf("| `%s` | %s | %.2f | %.1f | %.2f |\n", cases[i].expr,
		    cases[i].zone, med, p99, med / base);
	}

	/* The worst case, 2001 times over: the median and p99 of a call. */
	{
		static const char *const zones[] = {
			"UTC", "Europe/London", "Australia/Lord_Howe"
		};
		time_t	 after = 3728851200;	/* 2088-02-29 00:00 UTC */

		printf("\n| worst case: `0 0 29 2 */7` after 2088-02-29 | "
		    "median µs | p99 µs | fire |\n|---|---|---|---|\n");
		(void)cron_parse("0 0 29 2 */7", &c, err, sizeof err);
		for (i = 0; i < sizeof zones / sizeof zones[0]; i++) {
			for (k = 0; k < 2001; k++) {
				t0 = bench_now_us();
				r = cron_next(&c, zones[i], after + 86400, &n);
				us[k] = bench_now_us() - t0;
			}
			qsort(us, 2001, sizeof us[0], bench_cmp);
			printf("| %s | %.2f | %.1f | %s |\n", zones[i], us[1000],
			    us[1980], r == 0 ? tz_format(zones[i], n, err,
			    sizeof err) : "none");
		}
	}

	/* cron_parse now searches for a fire: time it, the rarest too. */
	{
		static const char *const exprs[] = {
			"*/15 * * * *", "0 0 29 2 */7", "0 0 31 2,4 */7",
		};

		printf("\n| cron_parse of | median µs | p99 µs |\n");
		printf("|---|---|---|\n");
		for (i = 0; i < sizeof exprs / sizeof exprs[0]; i++) {
			for (k = 0; k < 2001; k++) {
				t0 = bench_now_us();
				(void)cron_parse(exprs[i], &c, err, sizeof err);
				us[k] = bench_now_us() - t0;
			}
			qsort(us, 2001, sizeof us[0], bench_cmp);
			printf("| `%s` | %.2f | %.1f |\n", exprs[i], us[1000],
			    us[1980]);
		}
	}
	return (0);
}
