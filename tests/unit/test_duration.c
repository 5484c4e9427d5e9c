/*
 * test_duration.c - duration_parse() and duration_format().
 */
#include "qsched.h"

#include <string.h>

#include <criterion/criterion.h>

#include "test_cfgutil.h"

static const struct {
	const char	*text;
	int64_t		 ms;
} duration_good[] = {
	{ "0",			0 },
	{ "0s",			0 },
	{ "1ms",		1 },
	{ "500ms",		500 },
	{ "30s",		30000 },
	{ "90s",		90000 },
	{ "5m",			300000 },
	{ "2h",			7200000 },
	{ "14d",		1209600000 },
	{ "90d",		7776000000LL },
	{ "1h30m",		5400000 },
	{ "1d2h3m4s5ms",	93784005 },
	{ "1s500ms",		1500 },
	{ "30m1h",		5400000 },	/* any order adds up */
	{ "106751991167d",	9223372036828800000LL },
};

static const struct {
	const char	*text;
	const char	*err;		/* the whole message */
} duration_bad[] = {
	{ "",		"bad duration \"\": empty" },
	{ "-5s",	"bad duration \"-5s\": negative" },
	{ "5",		"bad duration \"5\": missing unit (ms, s, m, h or d)" },
	{ "00",		"bad duration \"00\": missing unit (ms, s, m, h or d)" },
	{ "1h30",	"bad duration \"1h30\": missing unit (ms, s, m, h or d)" },
	{ "5x",		"bad duration \"5x\": unknown unit \"x\"" },
	{ "5sec",	"bad duration \"5sec\": unknown unit \"sec\"" },
	{ "5S",		"bad duration \"5S\": unknown unit \"S\"" },
	{ "s",		"bad duration \"s\": expected a number at \"s\"" },
	{ " 5s",	"bad duration \" 5s\": expected a number at \" 5s\"" },
	{ "5s ",	"bad duration \"5s \": expected a number at \" \"" },
	{ "1.5h",	"bad duration \"1.5h\": unexpected \".\"" },
	{ "5 s",	"bad duration \"5 s\": unexpected \" \"" },
	{ "9223372036854775808ms",
	    "bad duration \"9223372036854775808ms\": too large" },
	{ "106751991168d",
	    "bad duration \"106751991168d\": too large" },
	{ "9223372036854775807ms1ms",
	    "bad duration \"9223372036854775807ms1ms\": too large" },
};

Test(duration, parses_good_values)
{
	char	 err[QSCHED_ERRLEN];
	int64_t	 ms;
	size_t	 i;

	for (i = 0; i < sizeof duration_good / sizeof duration_good[0]; i++) {
		ms = -1;
		err[0] = '\0';
		cr_expect_eq(duration_parse(duration_good[i].text, &ms, err,
		    sizeof err), 0, "\"%s\" refused: %s", duration_good[i].text,
		    err);
		cr_expect_eq(ms, duration_good[i].ms, "\"%s\": got %lld",
		    duration_good[i].text, (long long)ms);
	}
	tu_expect_no_leaks();
}

Test(duration, refuses_bad_values_naming_why)
{
	char	 err[QSCHED_ERRLEN];
	int64_t	 ms;
	size_t	 i;

	for (i = 0; i < sizeof duration_bad / sizeof duration_bad[0]; i++) {
		ms = 12345;
		err[0] = '\0';
		cr_expect_eq(duration_parse(duration_bad[i].text, &ms, err,
		    sizeof err), -1, "\"%s\" accepted", duration_bad[i].text);
		cr_expect_str_eq(err, duration_bad[i].err);
		cr_expect_eq(ms, 12345, "\"%s\" changed *ms",
		    duration_bad[i].text);
	}
	tu_expect_no_leaks();
}

Test(duration, null_is_empty)
{
	char	 err[QSCHED_ERRLEN];
	int64_t	 ms;

	cr_assert_eq(duration_parse(NULL, &ms, err, sizeof err), -1);
	cr_assert_str_eq(err, "bad duration \"\": empty");
	tu_expect_no_leaks();
}

static const struct {
	int64_t		 ms;
	const char	*text;
} duration_formats[] = {
	{ 0,		"0" },
	{ 1,		"1ms" },
	{ 999,		"999ms" },
	{ 1000,		"1s" },
	{ 1500,		"1s500ms" },
	{ 90000,	"1m30s" },
	{ 3600000,	"1h" },
	{ 5400000,	"1h30m" },
	{ 86400000,	"1d" },
	{ 93784005,	"1d2h3m4s5ms" },
	{ 7776000000LL,	"90d" },
	{ -90000,	"-1m30s" },
	{ INT64_MAX,	"106751991167d7h12m55s807ms" },
	{ INT64_MIN,	"-106751991167d7h12m55s808ms" },
};

Test(duration, formats_shortest_exact)
{
	char	 buf[64];
	size_t	 i;

	for (i = 0; i < sizeof duration_formats / sizeof duration_formats[0];
	    i++) {
		cr_expect_str_eq(duration_format(duration_formats[i].ms, buf,
		    sizeof buf), duration_formats[i].text);
	}
	tu_expect_no_leaks();
}

Test(duration, format_then_parse_round_trips)
{
	char	 buf[64], err[QSCHED_ERRLEN];
	int64_t	 ms, back;

	for (ms = 0; ms < 200000000; ms = ms * 3 + 7) {
		duration_format(ms, buf, sizeof buf);
		cr_assert_eq(duration_parse(buf, &back, err, sizeof err), 0,
		    "%s: %s", buf, err);
		cr_assert_eq(back, ms, "%lld -> %s -> %lld", (long long)ms,
		    buf, (long long)back);
	}
	tu_expect_no_leaks();
}

Test(duration, format_truncates_safely)
{
	char	 buf[4];

	memset(buf, 'x', sizeof buf);
	duration_format(93784005, buf, sizeof buf);
	cr_assert_eq(strlen(buf), 3);
	cr_assert_str_eq(buf, "1d2");
	tu_expect_no_leaks();
}
