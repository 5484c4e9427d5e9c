/*
 * cron.c - schedules, design section 3.2.
 *
 * A schedule is a set of civil (wall-clock) times in the job's zone.  Each
 * civil time C fires at the first instant whose local time is >= C
 * (tz_civil_to_instant): a time repeated when clocks go back fires at its
 * first occurrence only, and every time skipped when clocks go forward
 * fires at the end of the gap, all of them together once.  cron_next() is
 * therefore a search over civil times, field by field, with one mapping to
 * an instant at the end.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/*
 * The Gregorian calendar repeats every 400 years: 146097 days, exactly
 * 20871 weeks, so dates and weekdays fall alike in every cycle.  A
 * schedule that matches no civil time in some 400 consecutive years never
 * matches at all, and cron_next searching that far finds the true next
 * fire of any other schedule: there is no shorter horizon.
 */
#define CRON_CYCLE_YEARS	400
#define CRON_YEAR_MAX		9999	/* the search stops at its end */
#define CRON_DAY		86400
#define CRON_TIME_MIN		(-62135596800LL + 2 * 86400)	/* 0001-01-03 */
#define CRON_TIME_MAX		253402214400LL		/* 9999-12-31 */

enum {
	CRON_SECOND,
	CRON_MINUTE,
	CRON_HOUR,
	CRON_DOM,
	CRON_MONTH,
	CRON_DOW,
	CRON_NFIELDS
};

static const char *const cron_month_names[] = {
	"jan", "feb", "mar", "apr", "may", "jun",
	"jul", "aug", "sep", "oct", "nov", "dec", NULL
};
static const char *const cron_dow_names[] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat", NULL
};

struct cron_field {
	const char		*name;
	int			 min;
	int			 max;		/* largest value accepted */
	int			 star_max;	/* end of '*' and of "N/step" */
	const char *const	*names;		/* names[i] is min + i */
};

/*
 * Day of week accepts 7 for Sunday, but '*' and "N/step" stop at 6 so
 * that a step over the whole week does not name Sunday twice.
 */
static const struct cron_field cron_fields[CRON_NFIELDS] = {
	{ "second",		0, 59, 59, NULL },
	{ "minute",		0, 59, 59, NULL },
	{ "hour",		0, 23, 23, NULL },
	{ "day-of-month",	1, 31, 31, NULL },
	{ "month",		1, 12, 12, cron_month_names },
	{ "day-of-week",	0, 7, 6, cron_dow_names },
};

static const struct {
	const char	*name;
	const char	*expr;
} cron_macros[] = {
	{ "@yearly",	"0 0 1 1 *" },
	{ "@annually",	"0 0 1 1 *" },
	{ "@monthly",	"0 0 1 * *" },
	{ "@weekly",	"0 0 * * 0" },
	{ "@daily",	"0 0 * * *" },
	{ "@midnight",	"0 0 * * *" },
	{ "@hourly",	"0 * * * *" },
};

/* A stretch of the expression: a field, a list element, a value. */
struct cron_span {
	const char	*p;
	size_t		 len;
};

static int	cron_error(char *, size_t, const struct cron_field *,
		    const char *, ...) __attribute__((format(printf, 4, 5)));
static bool	cron_fires(const struct cron *);

static int
cron_error(char *err, size_t errlen, const struct cron_field *f,
    const char *fmt, ...)
{
	va_list	 ap;
	int	 n = 0;

	if (errlen == 0)
		return (-1);
	if (f != NULL)
		n = snprintf(err, errlen, "%s: ", f->name);
	if (n < 0 || (size_t)n >= errlen)
		return (-1);
	va_start(ap, fmt);
	vsnprintf(err + n, errlen - n, fmt, ap);
	va_end(ap);
	return (-1);
}

static bool
cron_space(char ch)
{
	return (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\r' ||
	    ch == '\v' || ch == '\f');
}

static bool
cron_digit(char ch)
{
	return (ch >= '0' && ch <= '9');
}

static bool
cron_alpha(char ch)
{
	return ((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'));
}

/*
 * A decimal number of at most nine digits (so it cannot overflow), -1 if
 * S is not all digits, -2 if it is too long to be a field value.
 */
static long
cron_number(struct cron_span s)
{
	long	 v = 0;
	size_t	 i;

	if (s.len == 0)
		return (-1);
	for (i = 0; i < s.len; i++)
		if (!cron_digit(s.p[i]))
			return (-1);
	if (s.len > 9)
		return (-2);
	for (i = 0; i < s.len; i++)
		v = v * 10 + (s.p[i] - '0');
	return (v);
}

/* One value of field F: a number or, in month and day-of-week, a name. */
static int
cron_value(const struct cron_field *f, struct cron_span s, int *out,
    char *err, size_t errlen)
{
	long	 v;
	size_t	 i;

	if (s.len > 0 && cron_alpha(s.p[0]) && f->names != NULL) {
		for (i = 0; f->names[i] != NULL; i++) {
			if (s.len == strlen(f->names[i]) &&
			    strncasecmp(s.p, f->names[i], s.len) == 0) {
				*out = f->min + (int)i;
				return (0);
			}
		}
		return (cron_error(err, errlen, f, "unknown name \"%.*s\"",
		    (int)s.len, s.p));
	}
	v = cron_number(s);
	if (v == -1)
		return (cron_error(err, errlen, f, "bad value \"%.*s\"",
		    (int)s.len, s.p));
	if (v < f->min || v > f->max)
		return (cron_error(err, errlen, f, "%.*s is outside %d-%d",
		    (int)s.len, s.p, f->min, f->max));
	*out = (int)v;
	return (0);
}

/* One list element: "*", "N", "N-M", each optionally followed by "/S". */
static int
cron_element(const struct cron_field *f, struct cron_span e, uint64_t *bits,
    char *err, size_t errlen)
{
	struct cron_span	 base = e, step = { NULL, 0 }, lo, hi;
	const char		*slash, *dash;
	long			 st = 1;
	int			 from, to, v;

	if (e.len == 0)
		return (cron_error(err, errlen, f, "empty list element"));
	slash = memchr(e.p, '/', e.len);
	if (slash != NULL) {
		base.len = (size_t)(slash - e.p);
		step.p = slash + 1;
		step.len = e.len - base.len - 1;
		st = cron_number(step);
		if (st < 1 || st > f->star_max - f->min + 1)
			return (cron_error(err, errlen, f, "bad step \"%.*s\"",
			    (int)step.len, step.p));
	}
	if (base.len == 1 && base.p[0] == '*') {
		from = f->min;
		to = f->star_max;
	} else if ((dash = memchr(base.p, '-', base.len)) != NULL &&
	    dash != base.p) {
		lo.p = base.p;
		lo.len = (size_t)(dash - base.p);
		hi.p = dash + 1;
		hi.len = base.len - lo.len - 1;
		if (cron_value(f, lo, &from, err, errlen) != 0 ||
		    cron_value(f, hi, &to, err, errlen) != 0)
			return (-1);
		if (from > to)
			return (cron_error(err, errlen, f,
			    "range %.*s is reversed", (int)base.len, base.p));
	} else {
		if (cron_value(f, base, &from, err, errlen) != 0)
			return (-1);
		to = from;
		if (slash != NULL && from < f->star_max)
			to = f->star_max;
	}
	for (v = from; v <= to; v += (int)st)
		*bits |= (uint64_t)1 << v;
	return (0);
}

static int
cron_field_parse(const struct cron_field *f, struct cron_span s,
    uint64_t *bits, bool *star, char *err, size_t errlen)
{
	struct cron_span	 e;
	const char		*end = s.p + s.len, *comma;

	*bits = 0;
	*star = (s.len > 0 && s.p[0] == '*');
	e.p = s.p;
	for (;;) {
		comma = memchr(e.p, ',', (size_t)(end - e.p));
		e.len = (size_t)((comma != NULL ? comma : end) - e.p);
		if (cron_element(f, e, bits, err, errlen) != 0)
			return (-1);
		if (comma == NULL)
			break;
		e.p = comma + 1;
	}
	return (0);
}

static bool
cron_leap(int y)
{
	return ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0);
}

static int
cron_mdays(int y, int m)
{
	static const int	 days[] = {
		0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};

	if (m == 2 && cron_leap(y))
		return (29);
	return (days[m]);
}

/*
 * Why C, which cron_fires() found never fires, never fires.  It matches no
 * day, as the fields below the day match some time of every day.  Each
 * date of a month, 29 February included, falls on every weekday within a
 * cycle.  So when both day fields are restricted (either matches) or the
 * day of month starts with '*' (it has the 1st), some day matches; what
 * is left is a day-of-month list that none of the chosen months has, such
 * as "30 2".  The generic message is for completeness only.
 */
static int
cron_never_error(const struct cron *c, char *err, size_t errlen)
{
	char	 days[128], months[64];
	size_t	 n;
	int	 m, d, count = 0;

	days[0] = months[0] = '\0';
	for (d = 1, n = 0; d <= 31; d++) {
		if (!(c->doms & (1U << d)))
			continue;
		n = strlen(days);
		snprintf(days + n, sizeof days - n, "%s%d", n ? "," : "", d);
		count++;
	}
	for (m = 1; m <= 12; m++) {
		if (!(c->months & (1U << m)))
			continue;
		n = strlen(months);
		snprintf(months + n, sizeof months - n, "%s%s", n ? "," : "",
		    cron_month_names[m - 1]);
	}
	if (c->dom_star || !c->dow_star || count == 0)
		return (cron_error(err, errlen, NULL, "never fires: no day "
		    "of the %d-year calendar cycle matches",
		    CRON_CYCLE_YEARS));
	if (count == 1)
		return (cron_error(err, errlen, &cron_fields[CRON_DOM],
		    "%s never occurs in %s", days, months));
	return (cron_error(err, errlen, &cron_fields[CRON_DOM],
	    "none of %s occurs in %s", days, months));
}

static int
cron_macro(const char *text, struct cron *c, char *err, size_t errlen)
{
	struct cron_span	 word;
	const char		*p;
	int			 rest;
	size_t			 i;

	word.p = text;
	for (p = text; *p != '\0' && !cron_space(*p); p++)
		;
	word.len = (size_t)(p - text);
	while (cron_space(*p))
		p++;
	/* What follows the macro, less trailing space. */
	for (rest = (int)strlen(p); rest > 0 && cron_space(p[rest - 1]); rest--)
		;
	if (word.len == 7 && strncasecmp(word.p, "@manual", 7) == 0) {
		if (rest > 0)
			return (cron_error(err, errlen, NULL,
			    "unexpected \"%.*s\" after @manual", rest, p));
		memset(c, 0, sizeof *c);
		c->manual = true;
		return (0);
	}
	for (i = 0; i < sizeof cron_macros / sizeof cron_macros[0]; i++) {
		if (word.len != strlen(cron_macros[i].name) ||
		    strncasecmp(word.p, cron_macros[i].name, word.len) != 0)
			continue;
		if (rest > 0)
			return (cron_error(err, errlen, NULL,
			    "unexpected \"%.*s\" after %s", rest, p,
			    cron_macros[i].name));
		return (cron_parse(cron_macros[i].expr, c, err, errlen));
	}
	return (cron_error(err, errlen, NULL, "unknown macro \"%.*s\"",
	    (int)word.len, word.p));
}

int
cron_parse(const char *text, struct cron *c, char *err, size_t errlen)
{
	struct cron_span	 spans[CRON_NFIELDS + 1];
	struct cron		 nc;
	const char		*p = text;
	uint64_t		 bits[CRON_NFIELDS];
	bool			 star[CRON_NFIELDS];
	int			 n = 0, first, i;

	if (text == NULL)
		return (cron_error(err, errlen, NULL, "empty schedule"));
	while (cron_space(*p))
		p++;
	if (*p == '@')
		return (cron_macro(p, c, err, errlen));
	while (*p != '\0') {
		if (n < CRON_NFIELDS + 1) {
			spans[n].p = p;
			while (*p != '\0' && !cron_space(*p))
				p++;
			spans[n].len = (size_t)(p - spans[n].p);
		} else
			while (*p != '\0' && !cron_space(*p))
				p++;
		n++;
		while (cron_space(*p))
			p++;
	}
	if (n == 0)
		return (cron_error(err, errlen, NULL, "empty schedule"));
	if (n != 5 && n != 6)
		return (cron_error(err, errlen, NULL,
		    "expected 5 or 6 fields, found %d", n));

	/* Five fields have no seconds: they fire at second 0. */
	first = (n == 5) ? CRON_MINUTE : CRON_SECOND;
	bits[CRON_SECOND] = 1;
	star[CRON_SECOND] = false;
	for (i = first; i < CRON_NFIELDS; i++) {
		if (cron_field_parse(&cron_fields[i], spans[i - first],
		    &bits[i], &star[i], err, errlen) != 0)
			return (-1);
	}

	memset(&nc, 0, sizeof nc);
	nc.seconds = bits[CRON_SECOND];
	nc.minutes = bits[CRON_MINUTE];
	nc.hours = (uint32_t)bits[CRON_HOUR];
	nc.doms = (uint32_t)bits[CRON_DOM];
	nc.months = (uint16_t)bits[CRON_MONTH];
	/* 7 is Sunday too. */
	if (bits[CRON_DOW] & (1U << 7))
		bits[CRON_DOW] = (bits[CRON_DOW] & ~(1U << 7)) | 1;
	nc.dows = (uint8_t)bits[CRON_DOW];
	nc.dom_star = star[CRON_DOM];
	nc.dow_star = star[CRON_DOW];
	if (!cron_fires(&nc))
		return (cron_never_error(&nc, err, errlen));
	*c = nc;
	return (0);
}

/* A civil (wall-clock) time during the search. */
struct cron_civil {
	int	 year;
	int	 mon;		/* 1-12 */
	int	 day;		/* 1-31 */
	int	 hour;
	int	 min;
	int	 sec;
};

/* The lowest set bit of MASK at or above FROM, or -1. */
static int
cron_bit_from(uint64_t mask, int from)
{
	if (from > 63)
		return (-1);
	mask >>= from;
	if (mask == 0)
		return (-1);
	return (from + __builtin_ctzll(mask));
}

/* Day of the week of a proleptic Gregorian date, 0 = Sunday. */
static int
cron_weekday(int y, int m, int d)
{
	static const int	 t[] = { 0, 3, 2, 5, 0, 3, 5, 1, 4, 6, 2, 4 };

	if (m < 3)
		y--;
	return ((y + y / 4 - y / 100 + y / 400 + t[m - 1] + d) % 7);
}

/* Vixie cron: both day fields restricted means either may match. */
static bool
cron_day_matches(const struct cron *c, const struct cron_civil *cv)
{
	bool	 dom, dow;

	dom = (c->doms & (1U << cv->day)) != 0;
	dow = (c->dows & (1U << cron_weekday(cv->year, cv->mon, cv->day)))
	    != 0;
	if (!c->dom_star && !c->dow_star)
		return (dom || dow);
	return (dom && dow);
}

static void
cron_next_month(struct cron_civil *cv)
{
	cv->day = 1;
	cv->hour = cv->min = cv->sec = 0;
	if (++cv->mon > 12) {
		cv->mon = 1;
		cv->year++;
	}
}

static void
cron_next_day(struct cron_civil *cv)
{
	cv->hour = cv->min = cv->sec = 0;
	if (++cv->day > cron_mdays(cv->year, cv->mon))
		cron_next_month(cv);
}

/*
 * Move CV to the first civil time at or after it that the schedule
 * matches, jumping whole months, days, hours and minutes at a time.
 * -1 when there is none up to the end of year LAST.  Each turn jumps to
 * the next candidate month, day, hour, minute or second; none steps
 * through the seconds of a day.
 */
static int
cron_find(const struct cron *c, struct cron_civil *cv, int last)
{
	int	 v;

	for (;;) {
		if (cv->year > last)
			return (-1);
		if (!(c->months & (1U << cv->mon))) {
			v = cron_bit_from(c->months, cv->mon + 1);
			if (v == -1) {
				cv->year++;
				v = cron_bit_from(c->months, 1);
			}
			cv->mon = v;
			cv->day = 1;
			cv->hour = cv->min = cv->sec = 0;
			continue;
		}
		if (c->dom_star || c->dow_star) {
			/* The day of month must match: jump to it. */
			v = cron_bit_from(c->doms, cv->day);
			if (v == -1 || v > cron_mdays(cv->year, cv->mon)) {
				cron_next_month(cv);
				continue;
			}
			if (v != cv->day) {
				cv->day = v;
				cv->hour = cv->min = cv->sec = 0;
			}
		}
		if (!cron_day_matches(c, cv)) {
			cron_next_day(cv);
			continue;
		}
		v = cron_bit_from(c->hours, cv->hour);
		if (v == -1) {
			cron_next_day(cv);
			continue;
		}
		if (v != cv->hour) {
			cv->hour = v;
			cv->min = cv->sec = 0;
		}
		v = cron_bit_from(c->minutes, cv->min);
		if (v == -1) {
			cv->min = cv->sec = 0;
			if (++cv->hour > 23)
				cron_next_day(cv);
			continue;
		}
		if (v != cv->min) {
			cv->min = v;
			cv->sec = 0;
		}
		v = cron_bit_from(c->seconds, cv->sec);
		if (v == -1) {
			cv->sec = 0;
			if (++cv->min > 59) {
				cv->min = 0;
				if (++cv->hour > 23)
					cron_next_day(cv);
			}
			continue;
		}
		cv->sec = v;
		return (0);
	}
}

/*
 * Whether C matches any civil time at all: any 400 years will do, here
 * 2001 to 2400.  Few iterations a year for the rarest schedule.
 */
static bool
cron_fires(const struct cron *c)
{
	struct cron_civil	 cv = { 2001, 1, 1, 0, 0, 0 };

	return (cron_find(c, &cv, 2001 + CRON_CYCLE_YEARS - 1) == 0);
}

/*
 * The latest local time the zone has shown up to instant AFTER, as
 * seconds: f(AFTER) unless the clocks went back within the last day, in
 * which case the local times just before the change were later.  Civil
 * times up to this one have all had their first instant already.
 */
static void
cron_local_high(const char *zone, time_t after, time_t *high)
{
	struct tm	 tm;
	time_t		 lo, hi, mid;
	long		 now, before;

	tz_localtime(zone, after, &tm);
	now = tm.tm_gmtoff;
	*high = after + now;
	tz_localtime(zone, after - CRON_DAY, &tm);
	before = tm.tm_gmtoff;
	if (before <= now)
		return;

	/* Find the change: the zone shows BEFORE at lo and not at hi. */
	lo = after - CRON_DAY;
	hi = after;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		tz_localtime(zone, mid, &tm);
		if (tm.tm_gmtoff == before)
			lo = mid;
		else
			hi = mid;
	}
	if (lo + before > *high)
		*high = lo + before;
}

int
cron_next(const struct cron *c, const char *zone, time_t after,
    time_t *next)
{
	struct cron_civil	 cv;
	struct tm		 tm;
	time_t			 high, t;
	int			 last, tries;

	if (c->manual)
		return (-1);
	/* Years 1 to 9999 only: far from time_t's limits and year 0. */
	if (after < CRON_TIME_MIN || after > CRON_TIME_MAX)
		return (-1);
	cron_local_high(zone, after, &high);
	high++;
	if (gmtime_r(&high, &tm) == NULL)
		return (-1);
	cv.year = tm.tm_year + 1900;
	cv.mon = tm.tm_mon + 1;
	cv.day = tm.tm_mday;
	cv.hour = tm.tm_hour;
	cv.min = tm.tm_min;
	cv.sec = tm.tm_sec;
	/* At least a whole cycle after CV; cron_parse saw it fire in one. */
	last = cv.year + CRON_CYCLE_YEARS;
	if (last > CRON_YEAR_MAX)
		last = CRON_YEAR_MAX;

	/*
	 * The first match maps past AFTER by construction; the loop only
	 * guards against a zone changing offset twice within a day.
	 */
	for (tries = 0; tries < 1000; tries++) {
		if (cron_find(c, &cv, last) != 0)
			return (-1);
		memset(&tm, 0, sizeof tm);
		tm.tm_year = cv.year - 1900;
		tm.tm_mon = cv.mon - 1;
		tm.tm_mday = cv.day;
		tm.tm_hour = cv.hour;
		tm.tm_min = cv.min;
		tm.tm_sec = cv.sec;
		t = tz_civil_to_instant(zone, &tm);
		if (t > after) {
			*next = t;
			return (0);
		}
		if (++cv.sec > 59) {
			cv.sec = 0;
			if (++cv.min > 59) {
				cv.min = 0;
				if (++cv.hour > 23)
					cron_next_day(&cv);
			}
		}
	}
	return (-1);
}
