/*
 * test_daemon_fire.c - the daemon's fire bookkeeping (fire.c): what runs
 * when the clock is on time, late, set forward or back, across DST, and
 * what a catch_up job catches up.  Pure: no clock, no database.
 */
#include "qsched.h"

#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* "2026-03-29T01:00:00Z" or "...:00.250Z" to epoch ms; "" is 0. */
static int64_t
ms(const char *s)
{
	struct tm	 tm;
	char		*end;
	long		 frac = 0;

	if (*s == '\0')
		return (0);
	memset(&tm, 0, sizeof tm);
	end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm);
	cr_assert(end != NULL, "bad test time \"%s\"", s);
	if (*end == '.')
		frac = strtol(end + 1, &end, 10);
	cr_assert(strcmp(end, "Z") == 0, "bad test time \"%s\"", s);
	return ((int64_t)timegm(&tm) * 1000 + frac);
}

static time_t
sec(const char *s)
{
	return ((time_t)(ms(s) / 1000));
}

static const char *
show(time_t t, char *buf, size_t len)
{
	if (t == 0)
		return ("none");
	return (tz_format_utc(t, buf, len));
}

static struct job
job_of(const char *schedule, const char *zone, bool catch_up, bool enabled)
{
	struct job	 job;
	char		 err[QSCHED_ERRLEN];

	memset(&job, 0, sizeof job);
	job.name = (char *)"j";
	job.schedule = (char *)schedule;
	job.timezone = (char *)zone;
	job.catch_up = catch_up;
	job.enabled = enabled;
	cr_assert_eq(cron_parse(schedule, &job.cron, err, sizeof err), 0,
	    "%s: %s", schedule, err);
	return (job);
}

struct due_case {
	const char	*what;
	const char	*schedule;
	const char	*zone;
	bool		 catch_up;
	const char	*next;		/* state before */
	const char	*now;
	enum fire_due	 expect;
	const char	*when;		/* RUN, MISSED: the fire handled */
	const char	*first;		/* ... and the earliest one passed */
	const char	*next_after;	/* state after */
	const char	*catchup_after;
};

static const struct due_case due_cases[] = {
	{ "on time", "*/10 * * * * *", "UTC", false,
	  "2026-11-29T12:00:00Z", "2026-11-29T12:00:00.000Z", FIRE_RUN,
	  "2026-11-29T12:00:00Z", "2026-11-29T12:00:00Z",
	  "2026-11-29T12:00:10Z", "" },
	{ "a millisecond early: not yet", "*/10 * * * * *", "UTC", false,
	  "2026-11-29T12:00:00Z", "2026-11-29T11:59:59.999Z", FIRE_NONE,
	  "", "", "2026-11-29T12:00:00Z", "" },
	{ "held up 25 s: three fires coalesce into the last", "*/10 * * * * *",
	  "UTC", false,
	  "2026-11-29T12:00:00Z", "2026-11-29T12:00:25.500Z", FIRE_RUN,
	  "2026-11-29T12:00:20Z", "2026-11-29T12:00:00Z",
	  "2026-11-29T12:00:30Z", "" },
	{ "late by the grace exactly: still runs", "0 * * * *", "UTC", false,
	  "2026-11-29T12:00:00Z", "2026-11-29T12:01:00.000Z", FIRE_RUN,
	  "2026-11-29T12:00:00Z", "2026-11-29T12:00:00Z",
	  "2026-11-29T13:00:00Z", "" },
	{ "late beyond the grace: missed", "0 * * * *", "UTC", false,
	  "2026-11-29T12:00:00Z", "2026-11-29T12:01:00.001Z", FIRE_MISSED,
	  "2026-11-29T12:00:00Z", "2026-11-29T12:00:00Z",
	  "2026-11-29T13:00:00Z", "" },
	{ "clock set forward 2.5 h: missed, no catch-up", "0 * * * *", "UTC",
	  false,
	  "2026-11-29T12:00:00Z", "2026-11-29T14:30:00Z", FIRE_MISSED,
	  "2026-11-29T14:00:00Z", "2026-11-29T12:00:00Z",
	  "2026-11-29T15:00:00Z", "" },
	{ "clock set forward 2.5 h: catch_up runs the last once", "0 * * * *",
	  "UTC", true,
	  "2026-11-29T12:00:00Z", "2026-11-29T14:30:00Z", FIRE_MISSED,
	  "2026-11-29T14:00:00Z", "2026-11-29T12:00:00Z",
	  "2026-11-29T15:00:00Z", "2026-11-29T14:00:00Z" },
	{ "a frequent job forward 2 h: its latest fire is on time",
	  "*/10 * * * * *", "UTC", true,
	  "2026-11-29T12:00:00Z", "2026-11-29T14:00:05Z", FIRE_RUN,
	  "2026-11-29T14:00:00Z", "2026-11-29T12:00:00Z",
	  "2026-11-29T14:00:10Z", "" },
	{ "clock set back 2 h: nothing, the next fire stays", "0 * * * *",
	  "UTC", true,
	  "2026-11-29T13:00:00Z", "2026-11-29T11:00:00Z", FIRE_NONE,
	  "", "", "2026-11-29T13:00:00Z", "" },
	{ "London 01:30 on the fall-back night: first occurrence only",
	  "30 1 * * *", "Europe/London", false,
	  "2026-10-25T00:30:00Z", "2026-10-25T00:30:00.004Z", FIRE_RUN,
	  "2026-10-25T00:30:00Z", "2026-10-25T00:30:00Z",
	  "2026-10-26T01:30:00Z", "" },
	{ "London 01:30 on the spring-forward night: at 02:00 BST",
	  "30 1 * * *", "Europe/London", false,
	  "2026-03-29T01:00:00Z", "2026-03-29T01:00:00.010Z", FIRE_RUN,
	  "2026-03-29T01:00:00Z", "2026-03-29T01:00:00Z",
	  "2026-03-30T00:30:00Z", "" },
};

Test(fire, due_table)
{
	char	 a[32], b[32];

	for (size_t i = 0; i < sizeof due_cases / sizeof due_cases[0]; i++) {
		const struct due_case *c = &due_cases[i];
		struct job	 job = job_of(c->schedule, c->zone, c->catch_up,
		    true);
		struct fire	 f = { sec(c->next), 0 };
		time_t		 when = 0, first = 0;
		enum fire_due	 got;

		got = fire_due(&f, &job, ms(c->now), &when, &first);
		cr_expect_eq(got, c->expect, "%s: got %d, want %d", c->what,
		    (int)got, (int)c->expect);
		if (c->expect != FIRE_NONE) {
			cr_expect_eq(when, sec(c->when), "%s: fire %s, want %s",
			    c->what, show(when, a, sizeof a), c->when);
			cr_expect_eq(first, sec(c->first), "%s: first %s, "
			    "want %s", c->what, show(first, a, sizeof a),
			    c->first);
		}
		cr_expect_eq(f.next, sec(c->next_after), "%s: next %s, want %s",
		    c->what, show(f.next, a, sizeof a), show(sec(c->next_after),
		    b, sizeof b));
		cr_expect_eq(f.catchup, sec(c->catchup_after), "%s: catch-up "
		    "%s, want %s", c->what, show(f.catchup, a, sizeof a),
		    show(sec(c->catchup_after), b, sizeof b));
	}
}

/* Walking a whole fall-back night fires the 01:30 job once. */
Test(fire, london_fall_back_night_fires_once)
{
	struct job	 job = job_of("30 1 * * *", "Europe/London", false,
	    true);
	struct fire	 f;
	int64_t		 t, end = ms("2026-10-25T04:00:00Z");
	time_t		 when, first, fired[4];
	int		 n = 0;

	fire_start(&f, &job, sec("2026-10-24T22:00:00Z"), 0);
	for (t = ms("2026-10-24T22:00:00Z"); t < end; t += 250) {
		if (fire_due(&f, &job, t, &when, &first) == FIRE_RUN) {
			cr_assert(n < 4, "too many fires");
			fired[n++] = when;
		}
	}
	cr_assert_eq(n, 1, "fired %d times", n);
	cr_assert_eq(fired[0], sec("2026-10-25T00:30:00Z"));
}

struct start_case {
	const char	*what;
	const char	*schedule;
	bool		 catch_up;
	bool		 enabled;
	const char	*now;
	int64_t		 horizon_ms;
	const char	*next;
	const char	*catchup;
};

static const struct start_case start_cases[] = {
	{ "plain job: next fire only", "0 * * * *", false, true,
	  "2026-11-29T14:30:00Z", 86400000, "2026-11-29T15:00:00Z", "" },
	{ "catch_up: the latest fire before now", "0 * * * *", true, true,
	  "2026-11-29T14:30:00Z", 86400000, "2026-11-29T15:00:00Z",
	  "2026-11-29T14:00:00Z" },
	{ "catch_up: a fire at this very second counts", "0 * * * *", true,
	  true, "2026-11-29T14:00:00Z", 86400000, "2026-11-29T15:00:00Z",
	  "2026-11-29T14:00:00Z" },
	{ "catch_up: beyond the horizon (retention) it is not caught up",
	  "0 * * * *", true, true, "2026-11-29T14:30:00Z", 600000,
	  "2026-11-29T15:00:00Z", "" },
	{ "catch_up: a yearly job, months back", "0 0 1 1 *", true, true,
	  "2026-11-29T14:30:00Z", 366LL * 86400000, "2027-01-01T00:00:00Z",
	  "2026-01-01T00:00:00Z" },
	{ "disabled: nothing", "0 * * * *", true, false,
	  "2026-11-29T14:30:00Z", 86400000, "", "" },
	{ "@manual: nothing", "@manual", true, true,
	  "2026-11-29T14:30:00Z", 86400000, "", "" },
};

Test(fire, start_table)
{
	char	 a[32], b[32];

	for (size_t i = 0; i < sizeof start_cases / sizeof start_cases[0];
	    i++) {
		const struct start_case *c = &start_cases[i];
		struct job	 job = job_of(c->schedule, "UTC", c->catch_up,
		    c->enabled);
		struct fire	 f;

		fire_start(&f, &job, sec(c->now), c->horizon_ms);
		cr_expect_eq(f.next, sec(c->next), "%s: next %s, want %s",
		    c->what, show(f.next, a, sizeof a), show(sec(c->next), b,
		    sizeof b));
		cr_expect_eq(f.catchup, sec(c->catchup), "%s: catch-up %s, "
		    "want %s", c->what, show(f.catchup, a, sizeof a),
		    show(sec(c->catchup), b, sizeof b));
	}
}

struct latest_case {
	const char	*schedule;
	const char	*after;
	const char	*until;
	const char	*latest;	/* "": none */
};

static const struct latest_case latest_cases[] = {
	{ "*/10 * * * * *", "2026-11-29T12:00:00Z", "2026-11-29T12:00:35Z",
	  "2026-11-29T12:00:30Z" },
	{ "*/10 * * * * *", "2026-11-29T12:00:30Z", "2026-11-29T12:00:35Z",
	  "" },
	{ "*/10 * * * * *", "2026-11-29T12:00:29Z", "2026-11-29T12:00:30Z",
	  "2026-11-29T12:00:30Z" },
	/* A burst of 60 fires at midnight, looked at from noon. */
	{ "* 0 0 * * *", "2026-11-20T00:00:00Z", "2026-11-29T12:00:00Z",
	  "2026-11-29T00:00:59Z" },
	{ "0 0 1 1 *", "2020-01-01T00:00:00Z", "2026-06-01T00:00:00Z",
	  "2026-01-01T00:00:00Z" },
	{ "0 0 1 1 *", "2026-01-01T00:00:00Z", "2026-06-01T00:00:00Z", "" },
};

Test(fire, latest_table)
{
	char	 a[32];

	for (size_t i = 0; i < sizeof latest_cases / sizeof latest_cases[0];
	    i++) {
		const struct latest_case *c = &latest_cases[i];
		struct job	 job = job_of(c->schedule, "UTC", false, true);
		time_t		 t = 0;
		int		 rc;

		rc = fire_latest(&job, sec(c->after), sec(c->until), &t);
		if (*c->latest == '\0')
			cr_expect_eq(rc, -1, "%s in (%s, %s]: found %s",
			    c->schedule, c->after, c->until,
			    show(t, a, sizeof a));
		else
			cr_expect(rc == 0 && t == sec(c->latest), "%s in (%s, "
			    "%s]: %s, want %s", c->schedule, c->after, c->until,
			    rc == 0 ? show(t, a, sizeof a) : "none", c->latest);
	}
}

Test(fire, missed_sets_catchup_only_for_catch_up_jobs)
{
	struct job	 plain = job_of("0 * * * *", "UTC", false, true);
	struct job	 cu = job_of("0 * * * *", "UTC", true, true);
	struct fire	 f = { 0, 0 };

	fire_missed(&f, &plain, sec("2026-11-29T12:00:00Z"));
	cr_assert_eq(f.catchup, 0);
	fire_missed(&f, &cu, sec("2026-11-29T13:00:00Z"));
	cr_assert_eq(f.catchup, sec("2026-11-29T13:00:00Z"));
	/* Several missed: the latest is the one caught up. */
	fire_missed(&f, &cu, sec("2026-11-29T12:00:00Z"));
	cr_assert_eq(f.catchup, sec("2026-11-29T13:00:00Z"));
}
