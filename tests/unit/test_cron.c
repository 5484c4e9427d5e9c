/*
 * test_cron.c - schedules and time zones: cron_parse, cron_next, tz_*.
 *
 * Times are written as UTC strings so a failure shows both sides
 * readably.  The DST cases follow design section 3.2: a time skipped by
 * spring forward fires once at the end of the gap, a time repeated by
 * fall back fires once, at its first occurrence.
 */
#include "qsched.h"

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAXFIRES	8

/* "2026-03-29T01:00:00Z" to time_t; aborts the test on a typo. */
static time_t
utc(const char *s)
{
	struct tm	 tm;
	char		*end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm);
	cr_assert(end != NULL && *end == '\0', "bad test time \"%s\"", s);
	return (timegm(&tm));
}

/* "2026-03-29 01:30:00" to a struct tm of civil fields. */
static struct tm
civil(const char *s)
{
	struct tm	 tm;
	char		*end;

	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%d %H:%M:%S", &tm);
	cr_assert(end != NULL && *end == '\0', "bad test time \"%s\"", s);
	return (tm);
}

static const char *
fmt(time_t t, char *buf, size_t len)
{
	return (tz_format_utc(t, buf, len));
}

static struct cron
parse_ok(const char *expr)
{
	struct cron	 c;
	char		 err[QSCHED_ERRLEN] = "";

	cr_assert_eq(cron_parse(expr, &c, err, sizeof err), 0,
	    "cron_parse(\"%s\") failed: %s", expr, err);
	return (c);
}

/*
 * cron_next: from AFTER, each expected fire in turn, each one the AFTER
 * of the next call.
 */
struct next_case {
	const char	*expr;
	const char	*zone;
	const char	*after;
	const char	*fires[MAXFIRES];
};

static const struct next_case next_cases[] = {
	/* Europe/London, 2026-03-29: 01:00 GMT becomes 02:00 BST at 01:00Z. */
	{ "30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z",
	    { "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z" } },
	{ "30 1 * * *", "Europe/London", "2026-03-29T00:59:59Z",
	    { "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z" } },
	{ "30 1 * * *", "Europe/London", "2026-03-29T01:00:00Z",
	    { "2026-03-30T00:30:00Z" } },
	{ "*/15 * * * *", "Europe/London", "2026-03-29T00:40:00Z",
	    { "2026-03-29T00:45:00Z", "2026-03-29T01:00:00Z",
	      "2026-03-29T01:15:00Z", "2026-03-29T01:30:00Z" } },
	{ "0 * * * *", "Europe/London", "2026-03-28T23:30:00Z",
	    { "2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z",
	      "2026-03-29T02:00:00Z", "2026-03-29T03:00:00Z" } },
	{ "0 2 * * *", "Europe/London", "2026-03-28T12:00:00Z",
	    { "2026-03-29T01:00:00Z", "2026-03-30T01:00:00Z" } },
	{ "0 30 1 * * *", "Europe/London", "2026-03-28T12:00:00Z",
	    { "2026-03-29T01:00:00Z", "2026-03-30T00:30:00Z" } },
	{ "* * * * * *", "Europe/London", "2026-03-29T00:59:58Z",
	    { "2026-03-29T00:59:59Z", "2026-03-29T01:00:00Z",
	      "2026-03-29T01:00:01Z" } },

	/* Europe/London, 2026-10-25: 02:00 BST becomes 01:00 GMT at 01:00Z. */
	{ "30 1 * * *", "Europe/London", "2026-10-24T12:00:00Z",
	    { "2026-10-25T00:30:00Z", "2026-10-26T01:30:00Z" } },
	{ "30 1 * * *", "Europe/London", "2026-10-25T01:15:00Z",
	    { "2026-10-26T01:30:00Z" } },
	{ "15 1 * * *", "Europe/London", "2026-10-25T00:20:00Z",
	    { "2026-10-26T01:15:00Z" } },
	{ "0 * * * *", "Europe/London", "2026-10-24T23:30:00Z",
	    { "2026-10-25T00:00:00Z", "2026-10-25T02:00:00Z",
	      "2026-10-25T03:00:00Z" } },
	{ "0 * * * *", "Europe/London", "2026-10-25T01:00:00Z",
	    { "2026-10-25T02:00:00Z" } },
	{ "*/30 * * * *", "Europe/London", "2026-10-25T00:00:00Z",
	    { "2026-10-25T00:30:00Z", "2026-10-25T02:00:00Z",
	      "2026-10-25T02:30:00Z" } },
	{ "* * * * * *", "Europe/London", "2026-10-25T00:59:58Z",
	    { "2026-10-25T00:59:59Z", "2026-10-25T02:00:00Z",
	      "2026-10-25T02:00:01Z" } },
	/* From inside the repeated hour: all of it has fired already. */
	{ "* * * * * *", "Europe/London", "2026-10-25T01:30:00Z",
	    { "2026-10-25T02:00:00Z" } },
	{ "*/10 * * * *", "Europe/London", "2026-10-25T01:05:00Z",
	    { "2026-10-25T02:00:00Z" } },

	/* America/New_York, 2026-03-08: 02:00 EST becomes 03:00 EDT, 07:00Z. */
	{ "30 2 * * *", "America/New_York", "2026-03-07T12:00:00Z",
	    { "2026-03-08T07:00:00Z", "2026-03-09T06:30:00Z" } },
	{ "0 3 * * *", "America/New_York", "2026-03-07T12:00:00Z",
	    { "2026-03-08T07:00:00Z", "2026-03-09T07:00:00Z" } },
	{ "*/30 * * * *", "America/New_York", "2026-03-08T06:45:00Z",
	    { "2026-03-08T07:00:00Z", "2026-03-08T07:30:00Z" } },
	/* 2026-11-01: 02:00 EDT becomes 01:00 EST at 06:00Z. */
	{ "30 1 * * *", "America/New_York", "2026-10-31T12:00:00Z",
	    { "2026-11-01T05:30:00Z", "2026-11-02T06:30:00Z" } },
	{ "0 * * * *", "America/New_York", "2026-11-01T04:30:00Z",
	    { "2026-11-01T05:00:00Z", "2026-11-01T07:00:00Z",
	      "2026-11-01T08:00:00Z" } },

	/* Half-hour DST: Australia/Lord_Howe. */
	{ "15 2 * * *", "Australia/Lord_Howe", "2026-10-03T00:00:00Z",
	    { "2026-10-03T15:30:00Z", "2026-10-04T15:15:00Z" } },
	{ "45 1 * * *", "Australia/Lord_Howe", "2026-04-04T00:00:00Z",
	    { "2026-04-04T14:45:00Z", "2026-04-05T15:15:00Z" } },

	/* Pacific/Apia skipped all of Friday 2011-12-30. */
	{ "0 12 * * *", "Pacific/Apia", "2011-12-29T00:00:00Z",
	    { "2011-12-29T22:00:00Z", "2011-12-30T10:00:00Z",
	      "2011-12-30T22:00:00Z" } },

	/* Leap days, and 2100 is not a leap year. */
	{ "0 0 29 2 *", "UTC", "2026-01-01T00:00:00Z",
	    { "2028-02-29T00:00:00Z", "2032-02-29T00:00:00Z" } },
	{ "0 0 29 2 *", "UTC", "2096-03-01T00:00:00Z",
	    { "2104-02-29T00:00:00Z" } },
	{ "0 0 31 * *", "UTC", "2026-01-31T00:00:00Z",
	    { "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z" } },

	/*
	 * Rarer than once in ten years (issue 9, finding 8): 29 February on
	 * a Sunday skips 2100, which is not a leap year; 1 February on a
	 * Monday.  Both ran out at a ten-year search horizon.
	 */
	{ "0 0 29 2 */7", "UTC", "2026-01-01T00:00:00Z",
	    { "2032-02-29T00:00:00Z", "2060-02-29T00:00:00Z",
	      "2088-02-29T00:00:00Z", "2128-02-29T00:00:00Z",
	      "2156-02-29T00:00:00Z", "2184-02-29T00:00:00Z",
	      "2224-02-29T00:00:00Z", "2252-02-29T00:00:00Z" } },
	{ "0 0 */31 2 1", "UTC", "2026-03-01T00:00:00Z",
	    { "2027-02-01T00:00:00Z", "2038-02-01T00:00:00Z",
	      "2044-02-01T00:00:00Z", "2049-02-01T00:00:00Z",
	      "2055-02-01T00:00:00Z", "2066-02-01T00:00:00Z" } },
	/* Both restricted: Sundays of February and the 29th. */
	{ "30 1 29 feb sun", "Europe/London", "2032-02-20T00:00:00Z",
	    { "2032-02-22T01:30:00Z", "2032-02-29T01:30:00Z",
	      "2033-02-06T01:30:00Z" } },
	{ "30 1 29 feb */7", "Europe/London", "2032-03-01T00:00:00Z",
	    { "2060-02-29T01:30:00Z", "2088-02-29T01:30:00Z" } },
	{ "0 0 29 2 */7", "UTC", "9900-01-01T00:00:00Z",
	    { "9920-02-29T00:00:00Z", "9948-02-29T00:00:00Z",
	      "9976-02-29T00:00:00Z" } },

	/* Day of month and day of week: OR when both are restricted. */
	{ "0 0 13 * 5", "UTC", "2026-03-01T00:00:00Z",
	    { "2026-03-06T00:00:00Z", "2026-03-13T00:00:00Z",
	      "2026-03-20T00:00:00Z", "2026-03-27T00:00:00Z",
	      "2026-04-03T00:00:00Z", "2026-04-10T00:00:00Z",
	      "2026-04-13T00:00:00Z" } },
	/* AND when either field starts with '*', a step over '*' too. */
	{ "0 0 */2 * 5", "UTC", "2026-03-01T00:00:00Z",
	    { "2026-03-13T00:00:00Z", "2026-03-27T00:00:00Z",
	      "2026-04-03T00:00:00Z", "2026-04-17T00:00:00Z" } },
	{ "0 0 13 * */1", "UTC", "2026-03-01T00:00:00Z",
	    { "2026-03-13T00:00:00Z", "2026-04-13T00:00:00Z" } },
	{ "0 0 * * 1-5", "UTC", "2026-03-06T12:00:00Z",
	    { "2026-03-09T00:00:00Z", "2026-03-10T00:00:00Z" } },
	{ "0 9 * * Mon-FRI", "UTC", "2026-03-06T12:00:00Z",
	    { "2026-03-09T09:00:00Z", "2026-03-10T09:00:00Z" } },
	{ "0 0 * * 7", "UTC", "2026-03-02T00:00:00Z",
	    { "2026-03-08T00:00:00Z", "2026-03-15T00:00:00Z" } },
	{ "0 0 * * 0", "UTC", "2026-03-02T00:00:00Z",
	    { "2026-03-08T00:00:00Z" } },
	{ "0 0 * * sat,sun", "UTC", "2026-03-02T00:00:00Z",
	    { "2026-03-07T00:00:00Z", "2026-03-08T00:00:00Z",
	      "2026-03-14T00:00:00Z" } },
	{ "0 0 1 JAN,jul *", "UTC", "2026-03-02T00:00:00Z",
	    { "2026-07-01T00:00:00Z", "2027-01-01T00:00:00Z" } },
	{ "5/20 1-13/10 * * *", "UTC", "2026-03-02T00:00:00Z",
	    { "2026-03-02T01:05:00Z", "2026-03-02T01:25:00Z",
	      "2026-03-02T01:45:00Z", "2026-03-02T11:05:00Z" } },

	/* Six fields: seconds first. */
	{ "*/2 * * * * *", "UTC", "2026-03-01T00:00:00Z",
	    { "2026-03-01T00:00:02Z", "2026-03-01T00:00:04Z" } },
	{ "*/2 * * * * *", "UTC", "2026-03-01T00:00:01Z",
	    { "2026-03-01T00:00:02Z" } },
	{ "30 0 12 * * *", "UTC", "2026-03-01T00:00:00Z",
	    { "2026-03-01T12:00:30Z", "2026-03-02T12:00:30Z" } },
	{ "59 59 23 31 12 *", "UTC", "2026-03-01T00:00:00Z",
	    { "2026-12-31T23:59:59Z", "2027-12-31T23:59:59Z" } },

	/* Macros, with surrounding space. */
	{ "@hourly", "UTC", "2026-03-01T00:10:00Z",
	    { "2026-03-01T01:00:00Z", "2026-03-01T02:00:00Z" } },
	{ "  @Daily\t", "UTC", "2026-03-01T00:10:00Z",
	    { "2026-03-02T00:00:00Z" } },
	{ "@midnight", "UTC", "2026-03-01T00:10:00Z",
	    { "2026-03-02T00:00:00Z" } },
	{ "@weekly", "UTC", "2026-03-02T00:00:00Z",
	    { "2026-03-08T00:00:00Z", "2026-03-15T00:00:00Z" } },
	{ "@monthly", "UTC", "2026-03-02T00:00:00Z",
	    { "2026-04-01T00:00:00Z" } },
	{ "@yearly", "UTC", "2026-03-02T00:00:00Z",
	    { "2027-01-01T00:00:00Z" } },
	{ "@annually", "Europe/London", "2026-03-02T00:00:00Z",
	    { "2027-01-01T00:00:00Z" } },
	{ "@daily", "America/New_York", "2026-03-02T00:00:00Z",
	    { "2026-03-02T05:00:00Z" } },
};

Test(cron_next, table)
{
	char	 got[32], want[32];
	size_t	 i, j;

	for (i = 0; i < sizeof next_cases / sizeof next_cases[0]; i++) {
		const struct next_case	*tc = &next_cases[i];
		struct cron		 c = parse_ok(tc->expr);
		time_t			 t = utc(tc->after), n;

		for (j = 0; j < MAXFIRES && tc->fires[j] != NULL; j++) {
			n = 0;
			cr_expect_eq(cron_next(&c, tc->zone, t, &n), 0,
			    "\"%s\" in %s after %s: no fire", tc->expr,
			    tc->zone, fmt(t, got, sizeof got));
			fmt(n, got, sizeof got);
			snprintf(want, sizeof want, "%s", tc->fires[j]);
			cr_expect_str_eq(got, want,
			    "\"%s\" in %s, fire %zu after %s: got %s, want %s",
			    tc->expr, tc->zone, j + 1, tc->after, got, want);
			t = utc(tc->fires[j]);
		}
	}
}

/*
 * Count fires on the whole local day: exactly one for a daily job, however
 * the clocks move.
 */
struct day_case {
	const char	*expr;
	const char	*zone;
	const char	*from;		/* UTC, strictly before the local day */
	const char	*to;		/* UTC, the end of the local day */
	int		 fires;
};

static const struct day_case day_cases[] = {
	{ "30 1 * * *", "Europe/London", "2026-10-24T23:00:00Z",
	    "2026-10-26T00:00:00Z", 1 },
	{ "30 1 * * *", "Europe/London", "2026-03-29T00:00:00Z",
	    "2026-03-29T23:00:00Z", 1 },
	{ "0 * * * *", "Europe/London", "2026-10-24T22:59:59Z",
	    "2026-10-26T00:00:00Z", 24 },	/* 25 hours, 24 hourly names */
	{ "0 * * * *", "Europe/London", "2026-03-28T23:59:59Z",
	    "2026-03-29T23:00:00Z", 23 },	/* 23 hours; 01:00 = 02:00 */
	{ "30 1 * * *", "America/New_York", "2026-11-01T04:00:00Z",
	    "2026-11-02T05:00:00Z", 1 },
	{ "30 2 * * *", "America/New_York", "2026-03-08T05:00:00Z",
	    "2026-03-09T04:00:00Z", 1 },
	{ "* * * * *", "Europe/London", "2026-10-24T22:59:59Z",
	    "2026-10-26T00:00:00Z", 1440 },
};

Test(cron_next, one_fire_per_local_time)
{
	size_t	 i;

	for (i = 0; i < sizeof day_cases / sizeof day_cases[0]; i++) {
		const struct day_case	*dc = &day_cases[i];
		struct cron		 c = parse_ok(dc->expr);
		time_t			 t = utc(dc->from), n;
		time_t			 end = utc(dc->to);
		int			 count = 0;

		while (cron_next(&c, dc->zone, t, &n) == 0 && n < end) {
			cr_assert_gt(n, t);
			count++;
			t = n;
		}
		cr_expect_eq(count, dc->fires, "\"%s\" in %s from %s to %s: "
		    "%d fires, want %d", dc->expr, dc->zone, dc->from, dc->to,
		    count, dc->fires);
	}
}

Test(cron_next, hourly_skips_repeated_hour)
{
	struct cron	 c = parse_ok("0 * * * *");
	time_t		 t = utc("2026-10-24T22:00:00Z"), n;
	time_t		 repeat = utc("2026-10-25T01:00:00Z");

	while (cron_next(&c, "Europe/London", t, &n) == 0 &&
	    n < utc("2026-10-25T06:00:00Z")) {
		cr_expect_neq(n, repeat, "fired again at 01:00 GMT");
		t = n;
	}
	cr_expect_geq(t, utc("2026-10-25T05:00:00Z"));
}

Test(cron_next, manual_never_fires)
{
	struct cron	 c = parse_ok("@manual");
	time_t		 n = 12345;

	cr_expect(c.manual);
	cr_expect_eq(cron_next(&c, "UTC", utc("2026-01-01T00:00:00Z"), &n), -1);
	cr_expect_eq(n, 12345, "next written for @manual");
}

/*
 * No horizon short of the 400-year cycle: a schedule that fires at all
 * fires again, up to the year 9999, where the search stops.
 */
Test(cron_next, no_horizon)
{
	struct cron	 c;
	time_t		 n;

	/* Feb 1 on a Monday: 2027, then not until 2038. */
	c = parse_ok("0 0 */31 2 1");
	cr_expect_eq(cron_next(&c, "UTC", utc("2027-03-01T00:00:00Z"), &n), 0,
	    "no fire after 2027-03-01");
	cr_expect_eq(n, utc("2038-02-01T00:00:00Z"));
	cr_expect_eq(cron_next(&c, "UTC", utc("9999-01-01T00:00:00Z"), &n), 0);
	cr_expect_eq(n, utc("9999-02-01T00:00:00Z"));
	n = 12345;
	cr_expect_eq(cron_next(&c, "UTC", utc("9999-02-01T00:00:00Z"), &n),
	    -1, "a fire after 9999-02-01");
	cr_expect_eq(n, 12345, "next written without a fire");
	c = parse_ok("0 0 29 2 */7");
	cr_expect_eq(cron_next(&c, "UTC", utc("9976-02-29T00:00:00Z"), &n),
	    -1, "a fire after the last Sunday 29 February before 10000");
	cr_expect_eq(cron_next(&c, "UTC", (time_t)1 << 60, &n), -1);
}

/*
 * What cron_parse's never-fires proof rests on: each date of the year,
 * 29 February too, falls on each weekday somewhere in any 400 years, at
 * most 40 years apart.  Schedules are built directly for every date and
 * weekday, as the grammar cannot name each weekday alone with a '*'.
 */
Test(cron_next, every_date_every_weekday)
{
	struct cron	 c;
	struct tm	 tm;
	time_t		 n, from = utc("2090-03-01T00:00:00Z");
	int		 m, d, w, worst = 0;

	for (m = 1; m <= 12; m++) {
		for (d = 1; d <= 31; d++) {
			memset(&tm, 0, sizeof tm);
			tm.tm_year = 2000 - 1900;	/* a leap year */
			tm.tm_mon = m - 1;
			tm.tm_mday = d;
			if (timegm(&tm) == -1 || tm.tm_mday != d)
				continue;	/* 30 February and such */
			for (w = 0; w < 7; w++) {
				memset(&c, 0, sizeof c);
				c.seconds = c.minutes = c.hours = 1;
				c.doms = 1U << d;
				c.months = (uint16_t)(1U << m);
				c.dows = (uint8_t)(1U << w);
				c.dow_star = true;
				cr_assert_eq(cron_next(&c, "UTC", from, &n), 0,
				    "%d-%02d on weekday %d: no fire", m, d, w);
				gmtime_r(&n, &tm);
				cr_assert(tm.tm_mon == m - 1 &&
				    tm.tm_mday == d && tm.tm_wday == w,
				    "%d-%02d on weekday %d: "
				    "fired on %d-%02d weekday %d", m, d, w,
				    tm.tm_mon + 1, tm.tm_mday, tm.tm_wday);
				if (tm.tm_year + 1900 - 2090 > worst)
					worst = tm.tm_year + 1900 - 2090;
			}
		}
	}
	/* From 2090 the longest wait crosses 2100: 29 February 2096 to 2136. */
	cr_expect_leq(worst, 46, "waited %d years", worst);
}

/*
 * A slow reference: walk every second, keep the latest local time seen,
 * and fire at an instant when a matching local time is reached for the
 * first time.  It shares nothing with cron_next() but the parsed bits.
 */
static bool
ref_match(const struct cron *c, time_t local)
{
	struct tm	 tm;
	bool		 dom, dow;

	/* Cheap rejections first: local is after 1970 here. */
	if (!(c->seconds & ((uint64_t)1 << (local % 60))) ||
	    !(c->minutes & ((uint64_t)1 << (local / 60 % 60))) ||
	    !(c->hours & (1U << (local / 3600 % 24))))
		return (false);
	gmtime_r(&local, &tm);
	if (!(c->months & (1U << (tm.tm_mon + 1))))
		return (false);
	dom = (c->doms & (1U << tm.tm_mday)) != 0;
	dow = (c->dows & (1U << tm.tm_wday)) != 0;
	return ((!c->dom_star && !c->dow_star) ? (dom || dow) : (dom && dow));
}

struct ref_case {
	const char	*zone;
	const char	*from;		/* some hours before a change */
	long		 hours;
};

static const struct ref_case ref_cases[] = {
	{ "Europe/London", "2026-03-28T12:00:00Z", 30 },
	{ "Europe/London", "2026-10-24T12:00:00Z", 30 },
	{ "America/New_York", "2026-03-07T18:00:00Z", 30 },
	{ "America/New_York", "2026-10-31T18:00:00Z", 30 },
	{ "Australia/Lord_Howe", "2026-10-03T00:00:00Z", 30 },
	{ "Australia/Lord_Howe", "2026-04-04T00:00:00Z", 30 },
	{ "America/Sao_Paulo", "2018-11-03T12:00:00Z", 30 },
	{ "America/Sao_Paulo", "2019-02-16T12:00:00Z", 30 },
	{ "Pacific/Apia", "2011-12-29T00:00:00Z", 48 },
	{ "America/St_Johns", "2026-11-01T00:00:00Z", 30 },
	{ "Asia/Kolkata", "2026-03-01T00:00:00Z", 26 },
};

static const char *const ref_exprs[] = {
	"0 * * * *", "*/15 * * * *", "30 1 * * *", "30 2 * * *",
	"0 0 * * *", "59 23 * * *", "*/7 1-3 * * *", "0 1,2 * * *",
	"*/20 * * * * *", "0 30 0 * * *",
};

Test(cron_next, matches_reference)
{
	char	 a[32], got[32], want[32];
	time_t	*local;
	size_t	 i, j, k, len;

	for (i = 0; i < sizeof ref_cases / sizeof ref_cases[0]; i++) {
		const struct ref_case	*rc = &ref_cases[i];
		time_t			 from = utc(rc->from);
		struct tm		 tm;

		/* Local time of every second from an hour before FROM. */
		len = (size_t)(rc->hours + 1) * 3600 + 1;
		local = malloc(len * sizeof *local);
		cr_assert_not_null(local);
		for (k = 0; k < len; k++) {
			tz_localtime(rc->zone, from - 3600 + (time_t)k, &tm);
			local[k] = from - 3600 + (time_t)k + tm.tm_gmtoff;
		}
		for (j = 0; j < sizeof ref_exprs / sizeof ref_exprs[0]; j++) {
			struct cron	 c = parse_ok(ref_exprs[j]);
			time_t		 t, high = local[0], l, n, after = from;
			int		 checked = 0;

			for (k = 1; k < len; k++) {
				if (local[k] <= high)
					continue;
				for (l = high + 1; l <= local[k]; l++)
					if (ref_match(&c, l))
						break;
				high = local[k];
				t = from - 3600 + (time_t)k;
				if (l > local[k] || t <= from)
					continue;
				/* T is a fire: cron_next must land on it. */
				n = 0;
				cr_assert_eq(cron_next(&c, rc->zone, after, &n),
				    0);
				cr_assert_eq(n, t, "\"%s\" in %s after %s: got "
				    "%s, want %s", ref_exprs[j], rc->zone,
				    fmt(after, a, sizeof a),
				    fmt(n, got, sizeof got),
				    fmt(t, want, sizeof want));
				after = t;
				checked++;
			}
			cr_assert_gt(checked, 0, "\"%s\" in %s: no fires",
			    ref_exprs[j], rc->zone);
		}
		free(local);
	}
}

/* The daemon calls cron_next after every fire; it must stay cheap. */
Test(cron_next, speed)
{
	struct cron	 c = parse_ok("*/15 * * * *");
	struct cron	 d = parse_ok("30 1 * * 1-5");
	time_t		 t = utc("2026-01-01T00:00:00Z"), n;
	char		 buf[32];
	int64_t		 start, ms;
	int		 i;

	start = clock_mono_ms();
	for (i = 0; i < 100000; i++) {
		cr_assert_eq(cron_next(&c, "Europe/London", t, &n), 0);
		t = n;
	}
	for (i = 0; i < 100000; i++)
		cr_assert_eq(cron_next(&d, "America/New_York", t, &n), 0);
	ms = clock_mono_ms() - start;
	cr_log_info("200000 cron_next calls: %lld ms", (long long)ms);
	/* 100k calls take well under a second; ASan and slow CI get room. */
	cr_expect_lt(ms, 20000, "200000 calls took %lld ms", (long long)ms);
	/*
	 * In UTC the fires are every quarter hour, less the four in each
	 * repeated hour (2026, 2027, 2028): 100012 quarter hours in all.
	 */
	cr_expect_eq(t, utc("2026-01-01T00:00:00Z") + 100012 * 900,
	    "chain ends at %s", fmt(t, buf, sizeof buf));
}

/* cron_parse: the parsed bits. */
struct parse_case {
	const char	*expr;
	uint64_t	 seconds;
	uint64_t	 minutes;
	uint32_t	 hours;
	uint32_t	 doms;
	uint16_t	 months;
	uint8_t		 dows;
	bool		 dom_star;
	bool		 dow_star;
};

#define ALL60	0x0fffffffffffffffULL
#define ALL24	0x00ffffffU
#define ALLDOM	0xfffffffeU
#define ALLMON	0x1ffeU
#define ALLDOW	0x7fU

static const struct parse_case parse_cases[] = {
	{ "* * * * *", 1, ALL60, ALL24, ALLDOM, ALLMON, ALLDOW, true, true },
	{ " \t0  0\t* *   *  ", 1, 1, 1, ALLDOM, ALLMON, ALLDOW, true, true },
	{ "1,5,10 * * * *", 1, 0x422, ALL24, ALLDOM, ALLMON, ALLDOW, true,
	    true },
	{ "1-30/10 * * * *", 1, 0x200802, ALL24, ALLDOM, ALLMON, ALLDOW,
	    true, true },
	{ "50/5 * * * *", 1, 0x0084000000000000ULL, ALL24, ALLDOM, ALLMON,
	    ALLDOW, true, true },
	{ "0 */6 * * *", 1, 1, 0x41041, ALLDOM, ALLMON, ALLDOW, true, true },
	{ "0 0 */10 * *", 1, 1, 1, 0x80200802, ALLMON, ALLDOW, true, true },
	{ "0 0 1,15 * *", 1, 1, 1, 0x8002, ALLMON, ALLDOW, false, true },
	{ "0 0 * jan-mar,DEC *", 1, 1, 1, ALLDOM, 0x100e, ALLDOW, true,
	    true },
	{ "0 0 * */3 *", 1, 1, 1, ALLDOM, 0x492, ALLDOW, true, true },
	{ "0 0 * * 7", 1, 1, 1, ALLDOM, ALLMON, 0x01, true, false },
	{ "0 0 * * 5-7", 1, 1, 1, ALLDOM, ALLMON, 0x61, true, false },
	{ "0 0 * * 0-7", 1, 1, 1, ALLDOM, ALLMON, ALLDOW, true, false },
	{ "0 0 * * */2", 1, 1, 1, ALLDOM, ALLMON, 0x55, true, true },
	{ "0 0 * * SUN,wed-Fri", 1, 1, 1, ALLDOM, ALLMON, 0x39, true, false },
	{ "0 0 * * 1/2", 1, 1, 1, ALLDOM, ALLMON, 0x2a, true, false },
	{ "0 0 * * 7/3", 1, 1, 1, ALLDOM, ALLMON, 0x01, true, false },
	{ "*/15 0 0 * * *", 0x0000200040008001ULL, 1, 1, ALLDOM, ALLMON,
	    ALLDOW, true, true },
	{ "0 0 12 * * *", 1, 1, 0x1000, ALLDOM, ALLMON, ALLDOW, true, true },
	{ "@yearly", 1, 1, 1, 0x2, 0x2, ALLDOW, false, true },
	{ "@monthly", 1, 1, 1, 0x2, ALLMON, ALLDOW, false, true },
	{ "@weekly", 1, 1, 1, ALLDOM, ALLMON, 0x1, true, false },
	{ "@hourly", 1, 1, ALL24, ALLDOM, ALLMON, ALLDOW, true, true },
};

Test(cron_parse, table)
{
	size_t	 i;

	for (i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
		const struct parse_case	*pc = &parse_cases[i];
		struct cron		 c = parse_ok(pc->expr);

		cr_expect_eq(c.seconds, pc->seconds, "%s: seconds %#llx",
		    pc->expr, (unsigned long long)c.seconds);
		cr_expect_eq(c.minutes, pc->minutes, "%s: minutes %#llx",
		    pc->expr, (unsigned long long)c.minutes);
		cr_expect_eq(c.hours, pc->hours, "%s: hours %#x", pc->expr,
		    c.hours);
		cr_expect_eq(c.doms, pc->doms, "%s: doms %#x", pc->expr,
		    c.doms);
		cr_expect_eq(c.months, pc->months, "%s: months %#x", pc->expr,
		    c.months);
		cr_expect_eq(c.dows, pc->dows, "%s: dows %#x", pc->expr,
		    c.dows);
		cr_expect_eq(c.dom_star, pc->dom_star, "%s: dom_star",
		    pc->expr);
		cr_expect_eq(c.dow_star, pc->dow_star, "%s: dow_star",
		    pc->expr);
		cr_expect(!c.manual, "%s: manual", pc->expr);
	}
}

/*
 * cron_parse: refusals, each naming the field.  Criterion may run each
 * parameter in a fresh process, so the strings live inside the struct.
 */
struct bad_case {
	char		 expr[32];
	char		 err[64];
};

static struct bad_case bad_cases[] = {
	{ "61 * * * *", "minute: 61 is outside 0-59" },
	{ "99999999999 * * * *", "minute: 99999999999 is outside 0-59" },
	{ "60 * * * * *", "second: 60 is outside 0-59" },
	{ "* 24 * * *", "hour: 24 is outside 0-23" },
	{ "* * 0 * *", "day-of-month: 0 is outside 1-31" },
	{ "* * 32 * *", "day-of-month: 32 is outside 1-31" },
	{ "* * * 0 *", "month: 0 is outside 1-12" },
	{ "* * * 13 *", "month: 13 is outside 1-12" },
	{ "* * * * 8", "day-of-week: 8 is outside 0-7" },
	{ "* */0 * * *", "hour: bad step \"0\"" },
	{ "*/61 * * * *", "minute: bad step \"61\"" },
	{ "*/x * * * *", "minute: bad step \"x\"" },
	{ "* * * * 1/", "day-of-week: bad step \"\"" },
	{ "1-10/2/3 * * * * *", "second: bad step \"2/3\"" },
	{ "* * 10-5 * *", "day-of-month: range 10-5 is reversed" },
	{ "* * * * fri-mon", "day-of-week: range fri-mon is reversed" },
	{ "* * * 12-1 *", "month: range 12-1 is reversed" },
	{ "* * * foo *", "month: unknown name \"foo\"" },
	{ "* * * jan-foo *", "month: unknown name \"foo\"" },
	{ "* * * * funday", "day-of-week: unknown name \"funday\"" },
	{ "mon * * * *", "minute: bad value \"mon\"" },
	{ "5x * * * *", "minute: bad value \"5x\"" },
	{ "-1 * * * *", "minute: bad value \"-1\"" },
	{ "1-2-3 * * * *", "minute: bad value \"2-3\"" },
	{ "1,,2 * * * *", "minute: empty list element" },
	{ "* 1, * * *", "hour: empty list element" },
	{ "0 0 * * * #x", "day-of-week: bad value \"#x\"" },
	{ "* * * *", "expected 5 or 6 fields, found 4" },
	{ "* * * * * * *", "expected 5 or 6 fields, found 7" },
	{ "*", "expected 5 or 6 fields, found 1" },
	{ "", "empty schedule" },
	{ " \t ", "empty schedule" },
	{ "@reboot", "unknown macro \"@reboot\"" },
	{ "@", "unknown macro \"@\"" },
	{ "@daily 5", "unexpected \"5\" after @daily" },
	{ "@hourly 0 * * * * ", "unexpected \"0 * * * *\" after @hourly" },
	{ "@manual now", "unexpected \"now\" after @manual" },
	{ "0 0 30 2 *", "day-of-month: 30 never occurs in feb" },
	{ "0 0 31 4,6 *", "day-of-month: 31 never occurs in apr,jun" },
	{ "0 0 30,31 feb *", "day-of-month: none of 30,31 occurs in feb" },
	{ "0 0 0 31 sep,nov *", "day-of-month: 31 never occurs in sep,nov" },
	/* A weekday step starting with '*' leaves the day of month alone. */
	{ "0 0 31 2,4 */7", "day-of-month: 31 never occurs in feb,apr" },
	{ "0 0 30,31 2 */2,3", "day-of-month: none of 30,31 occurs in feb" },
};

ParameterizedTestParameters(cron_parse, rejects)
{
	return (cr_make_param_array(struct bad_case, bad_cases,
	    sizeof bad_cases / sizeof bad_cases[0]));
}

ParameterizedTest(struct bad_case *bc, cron_parse, rejects)
{
	struct cron	 c, before;
	char		 err[QSCHED_ERRLEN] = "";

	memset(&c, 0xa5, sizeof c);
	before = c;
	cr_assert_eq(cron_parse(bc->expr, &c, err, sizeof err), -1,
	    "\"%s\" was accepted", bc->expr);
	cr_expect_str_eq(err, bc->err, "\"%s\": got \"%s\", want \"%s\"",
	    bc->expr, err, bc->err);
	cr_expect(memcmp(&c, &before, sizeof c) == 0,
	    "\"%s\": output changed on error", bc->expr);
}

Test(cron_parse, short_error_buffer)
{
	struct cron	 c;
	char		 err[8];

	memset(err, 'x', sizeof err);
	cr_expect_eq(cron_parse("* * * * 9", &c, err, sizeof err), -1);
	cr_expect_str_eq(err, "day-of-");
	cr_expect_eq(cron_parse(NULL, &c, err, sizeof err), -1);
	cr_expect_eq(cron_parse("61 * * * *", &c, NULL, 0), -1);
}

/* tz_check */
static const char *const good_zones[] = {
	"UTC", "Europe/London", "America/New_York", "Etc/GMT+5",
	"Australia/Lord_Howe", "America/Argentina/Buenos_Aires",
};

Test(tz_check, accepts)
{
	char	 err[QSCHED_ERRLEN];
	size_t	 i;

	for (i = 0; i < sizeof good_zones / sizeof good_zones[0]; i++) {
		err[0] = '\0';
		cr_expect_eq(tz_check(good_zones[i], err, sizeof err), 0,
		    "%s refused: %s", good_zones[i], err);
	}
}

struct bad_zone {
	const char	*zone;
	const char	*err;
};

static const struct bad_zone bad_zones[] = {
	{ "", "empty time zone name" },
	{ "Mars/Olympus", "unknown time zone \"Mars/Olympus\"" },
	{ "/usr/share/zoneinfo/UTC",
	    "unknown time zone \"/usr/share/zoneinfo/UTC\"" },
	{ "../zoneinfo/UTC", "unknown time zone \"../zoneinfo/UTC\"" },
	{ "Europe/../UTC", "unknown time zone \"Europe/../UTC\"" },
	{ "Europe", "unknown time zone \"Europe\"" },
	{ "Europe/", "unknown time zone \"Europe/\"" },
	{ "Europe//London", "unknown time zone \"Europe//London\"" },
	{ ":UTC", "unknown time zone \":UTC\"" },
	{ "EST5EDT,M3.2.0,M11.1.0",
	    "unknown time zone \"EST5EDT,M3.2.0,M11.1.0\"" },
	{ "europe/london", "unknown time zone \"europe/london\"" },
	{ "Europe/London ", "unknown time zone \"Europe/London \"" },
	{ "right/UTC", "unknown time zone \"right/UTC\": leap second "
	    "zones are not supported" },
	{ "zone.tab", "unknown time zone \"zone.tab\": "
	    "/usr/share/zoneinfo/zone.tab is not a tz database file" },
};

Test(tz_check, refuses)
{
	char	 err[QSCHED_ERRLEN];
	size_t	 i;

	unsetenv("TZDIR");
	for (i = 0; i < sizeof bad_zones / sizeof bad_zones[0]; i++) {
		err[0] = '\0';
		cr_expect_eq(tz_check(bad_zones[i].zone, err, sizeof err), -1,
		    "\"%s\" accepted", bad_zones[i].zone);
		cr_expect_str_eq(err, bad_zones[i].err);
	}
	cr_expect_eq(tz_check(NULL, err, sizeof err), -1);
}

/* TZDIR names the database, for tz_check and for the conversions. */
Test(tz_check, tzdir)
{
	char	 dir[] = "/tmp/qsched-tzdir-XXXXXX", path[256], err[256];
	char	 cmd[512];
	char	 buf[64];

	cr_assert_not_null(mkdtemp(dir));
	snprintf(path, sizeof path, "%s/Test", dir);
	cr_assert_eq(mkdir(path, 0755), 0);
	snprintf(cmd, sizeof cmd, "cp /usr/share/zoneinfo/Asia/Tokyo "
	    "%s/Test/Zone && printf 'Nope' > %s/Test/Fake", dir, dir);
	cr_assert_eq(system(cmd), 0);

	setenv("TZDIR", dir, 1);
	cr_expect_eq(tz_check("Test/Zone", err, sizeof err), 0, "%s", err);
	cr_expect_eq(tz_check("Test/Fake", err, sizeof err), -1);
	cr_expect_eq(tz_check("Europe/London", err, sizeof err), -1);
	cr_expect_str_eq(tz_format("Test/Zone", utc("2026-03-01T00:00:00Z"),
	    buf, sizeof buf), "2026-03-01 09:00:00 JST");
	unsetenv("TZDIR");
	cr_expect_eq(tz_check("Test/Zone", err, sizeof err), -1);
	cr_expect_eq(tz_check("Europe/London", err, sizeof err), 0);

	snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
	cr_expect_eq(system(cmd), 0);
}

/* tz_civil_to_instant: first instant whose local time is >= the civil. */
struct civil_case {
	const char	*zone;
	const char	*civil;
	const char	*instant;
};

static const struct civil_case civil_cases[] = {
	{ "UTC", "2026-01-01 00:00:00", "2026-01-01T00:00:00Z" },
	{ "Europe/London", "2026-01-15 12:00:00", "2026-01-15T12:00:00Z" },
	{ "Europe/London", "2026-07-15 12:00:00", "2026-07-15T11:00:00Z" },
	/* Gap: 01:00-02:00 does not exist on 2026-03-29. */
	{ "Europe/London", "2026-03-29 00:59:59", "2026-03-29T00:59:59Z" },
	{ "Europe/London", "2026-03-29 01:00:00", "2026-03-29T01:00:00Z" },
	{ "Europe/London", "2026-03-29 01:30:00", "2026-03-29T01:00:00Z" },
	{ "Europe/London", "2026-03-29 01:59:59", "2026-03-29T01:00:00Z" },
	{ "Europe/London", "2026-03-29 02:00:00", "2026-03-29T01:00:00Z" },
	{ "Europe/London", "2026-03-29 02:00:01", "2026-03-29T01:00:01Z" },
	/* Overlap: 01:00-02:00 happens twice on 2026-10-25. */
	{ "Europe/London", "2026-10-25 00:59:59", "2026-10-24T23:59:59Z" },
	{ "Europe/London", "2026-10-25 01:00:00", "2026-10-25T00:00:00Z" },
	{ "Europe/London", "2026-10-25 01:30:00", "2026-10-25T00:30:00Z" },
	{ "Europe/London", "2026-10-25 01:59:59", "2026-10-25T00:59:59Z" },
	{ "Europe/London", "2026-10-25 02:00:00", "2026-10-25T02:00:00Z" },
	{ "America/New_York", "2026-03-08 02:30:00", "2026-03-08T07:00:00Z" },
	{ "America/New_York", "2026-03-08 03:00:00", "2026-03-08T07:00:00Z" },
	{ "America/New_York", "2026-11-01 01:30:00", "2026-11-01T05:30:00Z" },
	{ "America/New_York", "2026-11-01 02:00:00", "2026-11-01T07:00:00Z" },
	{ "Australia/Lord_Howe", "2026-10-04 02:15:00",
	    "2026-10-03T15:30:00Z" },
	{ "Australia/Lord_Howe", "2026-04-05 01:45:00",
	    "2026-04-04T14:45:00Z" },
	{ "Pacific/Apia", "2011-12-30 12:00:00", "2011-12-30T10:00:00Z" },
	{ "Pacific/Apia", "2011-12-31 00:00:00", "2011-12-30T10:00:00Z" },
	{ "Pacific/Apia", "2011-12-29 23:59:59", "2011-12-30T09:59:59Z" },
	{ "America/Sao_Paulo", "2018-11-04 00:30:00", "2018-11-04T03:00:00Z" },
	/* Past 2037: the rules come from the zone file's footer. */
	{ "Europe/London", "2099-03-29 01:30:00", "2099-03-29T01:00:00Z" },
	{ "Europe/London", "2099-10-25 01:30:00", "2099-10-25T00:30:00Z" },
};

Test(tz_civil_to_instant, table)
{
	char	 got[32];
	size_t	 i;

	for (i = 0; i < sizeof civil_cases / sizeof civil_cases[0]; i++) {
		const struct civil_case	*cc = &civil_cases[i];
		struct tm		 tm = civil(cc->civil);

		tz_format_utc(tz_civil_to_instant(cc->zone, &tm), got,
		    sizeof got);
		cr_expect_str_eq(got, cc->instant, "%s %s: got %s, want %s",
		    cc->zone, cc->civil, got, cc->instant);
	}
}

/* Never before an earlier civil time's instant, and exact when it exists. */
Test(tz_civil_to_instant, monotonic_and_exact)
{
	static const char *const zones[] = {
		"Europe/London", "America/New_York", "Australia/Lord_Howe",
	};
	struct tm	 tm, back;
	time_t		 base, local, prev, t;
	size_t		 i;

	for (i = 0; i < sizeof zones / sizeof zones[0]; i++) {
		base = utc("2026-03-01T00:00:00Z");
		prev = 0;
		/* Every 5 minutes of local time through 2026. */
		for (local = base; local < base + 310 * 86400; local += 300) {
			gmtime_r(&local, &tm);
			t = tz_civil_to_instant(zones[i], &tm);
			cr_assert_geq(t, prev, "%s: not monotonic", zones[i]);
			tz_localtime(zones[i], t, &back);
			cr_assert_geq(t + back.tm_gmtoff, local,
			    "%s: maps below its civil time", zones[i]);
			tz_localtime(zones[i], t - 1, &back);
			cr_assert_lt(t - 1 + back.tm_gmtoff, local,
			    "%s: not the first instant", zones[i]);
			prev = t;
		}
	}
}

Test(tz_format, local_and_utc)
{
	static const struct {
		const char	*zone;
		const char	*utc;
		const char	*local;
	} cases[] = {
		{ "Europe/London", "2026-03-29T01:00:00Z",
		    "2026-03-29 02:00:00 BST" },
		{ "Europe/London", "2026-03-29T00:59:59Z",
		    "2026-03-29 00:59:59 GMT" },
		{ "America/New_York", "2026-11-01T05:30:00Z",
		    "2026-11-01 01:30:00 EDT" },
		{ "America/New_York", "2026-11-01T06:30:00Z",
		    "2026-11-01 01:30:00 EST" },
		{ "Europe/London", "2026-10-25T01:30:00Z",
		    "2026-10-25 01:30:00 GMT" },
		{ "UTC", "2026-03-29T01:00:00Z", "2026-03-29 01:00:00 UTC" },
	};
	char	 buf[64];
	size_t	 i;

	/* Alternating zones also checks that the zone cache switches. */
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		cr_expect_str_eq(tz_format(cases[i].zone, utc(cases[i].utc),
		    buf, sizeof buf), cases[i].local);
		cr_expect_str_eq(tz_format_utc(utc(cases[i].utc), buf,
		    sizeof buf), cases[i].utc);
	}
	cr_expect_str_eq(tz_format_utc(0, buf, sizeof buf),
	    "1970-01-01T00:00:00Z");
	cr_expect_str_eq(tz_format_utc(utc("2026-03-29T01:00:00Z"), buf, 5),
	    "");
}

/* A TZ changed behind the cache's back is noticed. */
Test(tz_localtime, follows_environment)
{
	struct tm	 tm;
	time_t		 t = utc("2026-07-01T12:00:00Z");

	tz_localtime("Europe/London", t, &tm);
	cr_expect_eq(tm.tm_hour, 13);
	setenv("TZ", "Asia/Tokyo", 1);
	tzset();
	tz_localtime("Europe/London", t, &tm);
	cr_expect_eq(tm.tm_hour, 13);
	tz_localtime("America/New_York", t, &tm);
	cr_expect_eq(tm.tm_hour, 8);
}
