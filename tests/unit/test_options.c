/*
 * test_options.c - option_parse(), option_parse_bool(), option_find():
 * every type, bounds, choices and the exact messages operators see.
 */
#include "qsched.h"

#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "test_cfgutil.h"

static const struct qsched_option opt_table[] = {
	{ .name = "queue", .type = QSCHED_OPT_STRING,
	  .choices = "unsigned_users|outstanding_requests" },
	{ .name = "label", .type = QSCHED_OPT_STRING },
	{ .name = "max_size", .type = QSCHED_OPT_INT, .min = 0, .max = 1000 },
	{ .name = "offset", .type = QSCHED_OPT_INT },	/* unbounded */
	{ .name = "dry", .type = QSCHED_OPT_BOOL },
	{ .name = "cooling_period", .type = QSCHED_OPT_DURATION,
	  .min = 1000, .max = 86400000 },
	{ .name = "pause", .type = QSCHED_OPT_DURATION },
	{ .name = NULL },
};

static const struct {
	const char	*opt;
	const char	*text;
	int64_t		 num;
} opt_good[] = {
	{ "queue",		"unsigned_users",	0 },
	{ "queue",		"outstanding_requests",	0 },
	{ "label",		"",			0 },
	{ "label",		"anything at all",	0 },
	{ "max_size",		"0",			0 },
	{ "max_size",		"1000",			1000 },
	{ "max_size",		"+7",			7 },
	{ "offset",		"-9223372036854775808",	INT64_MIN },
	{ "offset",		"9223372036854775807",	INT64_MAX },
	{ "dry",		"true",			1 },
	{ "dry",		"YES",			1 },
	{ "dry",		"On",			1 },
	{ "dry",		"1",			1 },
	{ "dry",		"false",		0 },
	{ "dry",		"No",			0 },
	{ "dry",		"OFF",			0 },
	{ "dry",		"0",			0 },
	{ "cooling_period",	"2h",			7200000 },
	{ "cooling_period",	"1s",			1000 },
	{ "cooling_period",	"1d",			86400000 },
	{ "pause",		"0",			0 },
	{ "pause",		"1h30m",		5400000 },
};

static const struct {
	const char	*opt;
	const char	*text;
	const char	*err;
} opt_bad[] = {
	{ "queue", "foo",
	  "queue: \"foo\" is not one of unsigned_users|outstanding_requests" },
	{ "queue", "unsigned",
	  "queue: \"unsigned\" is not one of unsigned_users|outstanding_requests" },
	{ "queue", "",
	  "queue: \"\" is not one of unsigned_users|outstanding_requests" },
	{ "queue", "unsigned_users|outstanding_requests",
	  "queue: \"unsigned_users|outstanding_requests\" is not one of "
	  "unsigned_users|outstanding_requests" },
	{ "max_size", "abc", "max_size: \"abc\" is not an integer" },
	{ "max_size", "", "max_size: \"\" is not an integer" },
	{ "max_size", " 5", "max_size: \" 5\" is not an integer" },
	{ "max_size", "5 ", "max_size: \"5 \" is not an integer" },
	{ "max_size", "1e3", "max_size: \"1e3\" is not an integer" },
	{ "max_size", "0x10", "max_size: \"0x10\" is not an integer" },
	{ "max_size", "-1", "max_size: -1 is below the minimum 0" },
	{ "max_size", "1001", "max_size: 1001 is above the maximum 1000" },
	{ "offset", "9223372036854775808",
	  "offset: \"9223372036854775808\" is not an integer" },
	{ "dry", "maybe",
	  "dry: \"maybe\" is not a boolean (true/false, yes/no, on/off, 1/0)" },
	{ "dry", "",
	  "dry: \"\" is not a boolean (true/false, yes/no, on/off, 1/0)" },
	{ "dry", "2",
	  "dry: \"2\" is not a boolean (true/false, yes/no, on/off, 1/0)" },
	{ "cooling_period", "2x",
	  "cooling_period: bad duration \"2x\": unknown unit \"x\"" },
	{ "cooling_period", "500ms",
	  "cooling_period: 500ms is below the minimum 1s" },
	{ "cooling_period", "1d1ms",
	  "cooling_period: 1d1ms is above the maximum 1d" },
	{ "cooling_period", "0",
	  "cooling_period: 0 is below the minimum 1s" },
	{ "pause", "90", "pause: bad duration \"90\": missing unit "
	  "(ms, s, m, h or d)" },
};

Test(options, parses_each_type)
{
	const struct qsched_option *def;
	struct option_value v;
	char		 err[QSCHED_ERRLEN];
	size_t		 i;

	for (i = 0; i < sizeof opt_good / sizeof opt_good[0]; i++) {
		memset(&v, 0, sizeof v);
		def = option_find(opt_table, opt_good[i].opt);
		cr_assert_not_null(def, "%s", opt_good[i].opt);
		err[0] = '\0';
		cr_expect_eq(option_parse(def, opt_good[i].text, &v, err,
		    sizeof err), 0, "%s=\"%s\": %s", opt_good[i].opt,
		    opt_good[i].text, err);
		cr_expect_eq(v.def, def);
		cr_expect_str_eq(v.text, opt_good[i].text);
		cr_expect(v.text != opt_good[i].text, "text must be a copy");
		cr_expect_eq(v.num, opt_good[i].num, "%s=\"%s\": num %lld",
		    opt_good[i].opt, opt_good[i].text, (long long)v.num);
		free(v.text);
	}
	tu_expect_no_leaks();
}

Test(options, refuses_with_exact_messages)
{
	const struct qsched_option *def;
	struct option_value v;
	char		 err[QSCHED_ERRLEN];
	size_t		 i;

	for (i = 0; i < sizeof opt_bad / sizeof opt_bad[0]; i++) {
		memset(&v, 0, sizeof v);
		def = option_find(opt_table, opt_bad[i].opt);
		cr_assert_not_null(def);
		err[0] = '\0';
		cr_expect_eq(option_parse(def, opt_bad[i].text, &v, err,
		    sizeof err), -1, "%s=\"%s\" accepted", opt_bad[i].opt,
		    opt_bad[i].text);
		cr_expect_str_eq(err, opt_bad[i].err);
		cr_expect_null(v.text, "a refused value must not be stored");
	}
	tu_expect_no_leaks();
}

Test(options, a_new_value_replaces_the_old_and_a_bad_one_keeps_it)
{
	const struct qsched_option *def = option_find(opt_table, "max_size");
	struct option_value v;
	char		 err[QSCHED_ERRLEN];

	memset(&v, 0, sizeof v);
	v.line = 12;
	cr_assert_eq(option_parse(def, "5", &v, err, sizeof err), 0);
	cr_assert_eq(option_parse(def, "7", &v, err, sizeof err), 0);
	cr_assert_str_eq(v.text, "7");
	cr_assert_eq(v.num, 7);
	cr_assert_eq(v.line, 12, "option_parse leaves line to the caller");
	cr_assert_eq(option_parse(def, "-7", &v, err, sizeof err), -1);
	cr_assert_str_eq(v.text, "7");
	cr_assert_eq(v.num, 7);
	free(v.text);
	tu_expect_no_leaks();
}

Test(options, unknown_type_is_refused)
{
	struct qsched_option def = { .name = "odd", .type = 42 };
	struct option_value v;
	char		 err[QSCHED_ERRLEN];

	memset(&v, 0, sizeof v);
	cr_assert_eq(option_parse(&def, "x", &v, err, sizeof err), -1);
	cr_assert_str_eq(err, "odd: unknown option type 42");
	tu_expect_no_leaks();
}

Test(options, bools)
{
	static const char *const yes[] = { "true", "TRUE", "yes", "Yes", "on",
	    "ON", "1" };
	static const char *const no[] = { "false", "False", "no", "NO", "off",
	    "Off", "0" };
	static const char *const bad[] = { "", "t", "y", "2", "truee",
	    " true", "true ", "enabled" };
	bool	 b;
	size_t	 i;

	for (i = 0; i < sizeof yes / sizeof yes[0]; i++) {
		b = false;
		cr_expect_eq(option_parse_bool(yes[i], &b), 0, "%s", yes[i]);
		cr_expect(b, "%s", yes[i]);
	}
	for (i = 0; i < sizeof no / sizeof no[0]; i++) {
		b = true;
		cr_expect_eq(option_parse_bool(no[i], &b), 0, "%s", no[i]);
		cr_expect(!b, "%s", no[i]);
	}
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++)
		cr_expect_eq(option_parse_bool(bad[i], &b), -1, "\"%s\"",
		    bad[i]);
	cr_expect_eq(option_parse_bool(NULL, &b), -1);
	tu_expect_no_leaks();
}

Test(options, find)
{
	cr_assert_eq(option_find(opt_table, "queue"), &opt_table[0]);
	cr_assert_eq(option_find(opt_table, "pause"), &opt_table[6]);
	cr_assert_null(option_find(opt_table, "Queue"));
	cr_assert_null(option_find(opt_table, "nope"));
	cr_assert_null(option_find(NULL, "queue"));
	cr_assert_null(option_find(opt_table, NULL));
	tu_expect_no_leaks();
}
