/*
 * fuzz_cron.c - cron_parse, then cron_next from a few instants in a few
 * zones: every fire must lie strictly after the instant it follows, and in
 * UTC, which has no gaps, match the schedule field by field.
 */
#include "qsched.h"

#include "fuzz.h"

static bool
fuzz_matches(const struct cron *c, time_t t)
{
	struct tm	 tm;
	bool		 dom, dow;

	gmtime_r(&t, &tm);
	if (!(c->seconds & ((uint64_t)1 << tm.tm_sec)) ||
	    !(c->minutes & ((uint64_t)1 << tm.tm_min)) ||
	    !(c->hours & (1U << tm.tm_hour)) ||
	    !(c->months & (1U << (tm.tm_mon + 1))))
		return (false);
	dom = (c->doms & (1U << tm.tm_mday)) != 0;
	dow = (c->dows & (1U << tm.tm_wday)) != 0;
	return ((!c->dom_star && !c->dow_star) ? (dom || dow) : (dom && dow));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const zones[] = {
		"UTC", "Europe/London", "Australia/Lord_Howe", "Pacific/Apia"
	};
	static const time_t	 from[] = {
		1774745400,	/* 2026-03-29T00:50:00Z, London springs on */
		1792888200,	/* 2026-10-25T00:30:00Z, London falls back */
		253370764800,	/* 9999-01-01T00:00:00Z, near the end */
	};
	struct cron	 c;
	char		 err[QSCHED_ERRLEN], *text;
	time_t		 t, n;
	size_t		 z, i;
	int		 k;

	text = fuzz_string(data, size);
	if (cron_parse(text, &c, err, sizeof err) == 0) {
		for (z = 0; z < sizeof zones / sizeof zones[0]; z++) {
			for (i = 0; i < sizeof from / sizeof from[0]; i++) {
				t = from[i];
				for (k = 0; k < 3; k++) {
					if (cron_next(&c, zones[z], t, &n) != 0)
						break;
					if (n <= t ||
					    (z == 0 && !fuzz_matches(&c, n)))
						abort();
					t = n;
				}
				/* Only the search's end may leave it short. */
				if (k == 0 && !c.manual && i < 2)
					abort();
			}
		}
	} else if (err[0] == '\0')
		abort();
	free(text);
	return (0);
}
