/*
 * test_flags.c - flags.ini: defaults, good files, and a corpus of bad
 * files (tests/data/flags/bad), each naming its expected error in its
 * first line: "; expect: LINE: text".
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "test_cfgutil.h"

/* The migration flags as the shipped plugins and jobs.conf declare them. */
#define TF_COUNT	4
static const char *const tf_names[TF_COUNT] = {
	"use_new_queues", "populate_separated_tables", "fallback_to_legacy",
	"populate_legacy_queue",
};
static const bool tf_defaults[TF_COUNT] = { false, true, true, false };

/* tf_load() of PATH against those declarations. */
static int
tf_load(const char *path, struct flags *f, char *err, size_t errlen)
{
	static struct config c;
	static char	 file[4096];

	if (c.nflags == 0) {
		for (int i = 0; i < TF_COUNT; i++)
			cr_assert_eq(flags_declare(&c, "queue_migration",
			    tf_names[i], tf_defaults[i], "", "test", err,
			    errlen), 0);
		/* A flag of another section, for the section checks. */
		cr_assert_eq(flags_declare(&c, "extra", "other_flag", false,
		    "", "test", err, errlen), 0);
	}
	snprintf(file, sizeof file, "%s", path != NULL ? path : "");
	c.flags_file = file;
	c.path = "test";
	return (flags_load(&c, f, err, errlen));
}

static void
flags_expect_defaults(const struct flags *f)
{
	cr_expect_eq(flags_get(f, "use_new_queues"), 0);
	cr_expect_eq(flags_get(f, "populate_separated_tables"), 1);
	cr_expect_eq(flags_get(f, "fallback_to_legacy"), 1);
	cr_expect_eq(flags_get(f, "populate_legacy_queue"), 0);
	for (int i = 0; i < TF_COUNT; i++)
		cr_expect_eq(f->line[i], 0, "%s: line", tf_names[i]);
	cr_expect_eq(flags_get(f, "other_flag"), 0);
}

Test(flags, no_file_means_defaults)
{
	struct flags	 f;
	char		 err[QSCHED_ERRLEN];

	memset(&f, 0xff, sizeof f);
	cr_assert_eq(tf_load(NULL, &f, err, sizeof err), 0);
	flags_expect_defaults(&f);
	memset(&f, 0xff, sizeof f);
	cr_assert_eq(tf_load("", &f, err, sizeof err), 0);
	flags_expect_defaults(&f);
	tu_expect_no_leaks();
}

Test(flags, declared_order_is_kept)
{
	struct flags	 f;
	char		 err[QSCHED_ERRLEN];

	cr_assert_eq(tf_load(NULL, &f, err, sizeof err), 0);
	cr_assert_eq(f.n, TF_COUNT + 1);
	for (int i = 0; i < TF_COUNT; i++)
		cr_expect_str_eq(f.cfg->flags[i].name, tf_names[i]);
	tu_expect_no_leaks();
}

Test(flags, get_unknown_is_minus_one)
{
	struct flags	 f;
	char		 err[QSCHED_ERRLEN];

	cr_assert_eq(tf_load(NULL, &f, err, sizeof err), 0);
	cr_assert_eq(flags_get(&f, "no_such_flag"), -1);
	cr_assert_eq(flags_get(&f, ""), -1);
	cr_assert_eq(flags_get(&f, NULL), -1);
	tu_expect_no_leaks();
}

Test(flags, json)
{
	struct flags	 f;
	char		 err[QSCHED_ERRLEN], *json;

	cr_assert_eq(tf_load(NULL, &f, err, sizeof err), 0);
	json = flags_json(&f);
	cr_assert_str_eq(json, "{\"use_new_queues\":false,"
	    "\"populate_separated_tables\":true,\"fallback_to_legacy\":true,"
	    "\"populate_legacy_queue\":false,\"other_flag\":false}");
	free(json);
	f.value[0] = true;
	f.value[1] = false;
	json = flags_json(&f);
	cr_assert_str_eq(json, "{\"use_new_queues\":true,"
	    "\"populate_separated_tables\":false,\"fallback_to_legacy\":true,"
	    "\"populate_legacy_queue\":false,\"other_flag\":false}");
	free(json);
	tu_expect_no_leaks();
}

Test(flags, missing_file)
{
	struct flags	 f;
	char		 err[QSCHED_ERRLEN];

	cr_assert_eq(tf_load("/nonexistent/flags.ini", &f, err,
	    sizeof err), -1);
	cr_assert_str_eq(err, "cannot open /nonexistent/flags.ini: "
	    "No such file or directory");
	tu_expect_no_leaks();
}

Test(flags, directory_is_not_a_file)
{
	struct flags	 f;
	char		 err[QSCHED_ERRLEN], *dir = tu_tmpdir(), *want;

	cr_assert_not_null(dir);
	cr_expect_eq(tf_load(dir, &f, err, sizeof err), -1);
	xasprintf(&want, "cannot read %s: Is a directory", dir);
	cr_expect_str_eq(err, want);
	free(want);
	tu_rmtree(dir);
	free(dir);
	tu_expect_no_leaks();
}

Test(flags, good_files)
{
	struct flags	 f;
	char		 err[QSCHED_ERRLEN], want[256], got[256];
	char		*dir = tu_srcpath("tests/data/flags/good");
	char		**names, *path, *text, *expect;
	size_t		 i, len;

	names = tu_list(dir, ".ini");
	cr_assert_not_null(names, "cannot list %s", dir);
	cr_assert_not_null(names[0], "no good flags files in %s", dir);
	for (i = 0; names[i] != NULL; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		text = tu_slurp(path);
		expect = text != NULL ? tu_header(text, "flags") : NULL;
		cr_expect_not_null(expect, "%s: no '; flags:' line", path);
		err[0] = '\0';
		cr_expect_eq(tf_load(path, &f, err, sizeof err), 0,
		    "%s: %s", path, err);
		got[0] = '\0';
		for (int k = 0; k < TF_COUNT; k++) {
			len = strlen(got);
			snprintf(got + len, sizeof got - len, "%s%s=%d",
			    k == 0 ? "" : " ", tf_names[k],
			    flags_get(&f, tf_names[k]));
		}
		snprintf(want, sizeof want, "%s", expect != NULL ? expect : "");
		cr_expect_str_eq(got, want, "%s", path);
		free(expect);
		free(text);
		free(path);
	}
	tu_freelist(names);
	free(dir);
	tu_expect_no_leaks();
}

Test(flags, lines_are_recorded)
{
	struct flags	 f;
	char		 err[QSCHED_ERRLEN];
	char		*path = tu_srcpath("tests/data/flags/good/all.ini");

	cr_assert_eq(tf_load(path, &f, err, sizeof err), 0, "%s", err);
	cr_expect_eq(f.line[0], 4);
	cr_expect_eq(f.line[1], 5);
	cr_expect_eq(f.line[2], 6);
	cr_expect_eq(f.line[3], 9);
	free(path);
	tu_expect_no_leaks();
}

Test(flags, bad_files_name_file_and_line)
{
	struct flags	 f, before;
	char		 err[QSCHED_ERRLEN], *prefix;
	char		*dir = tu_srcpath("tests/data/flags/bad");
	char		**names, *path, *text, *expect, *msg;
	size_t		 i;

	names = tu_list(dir, ".ini");
	cr_assert_not_null(names, "cannot list %s", dir);
	for (i = 0; names[i] != NULL; i++) {
		xasprintf(&path, "%s/%s", dir, names[i]);
		text = tu_slurp(path);
		expect = text != NULL ? tu_header(text, "expect") : NULL;
		cr_expect_not_null(expect, "%s: no '; expect:' line", path);
		if (expect == NULL) {
			free(text);
			free(path);
			continue;
		}
		/* "7: message" */
		msg = strchr(expect, ':');
		cr_expect_not_null(msg, "%s: bad expect line", path);
		if (msg == NULL)
			msg = expect;
		else
			*msg++ = '\0';
		while (*msg == ' ')
			msg++;
		xasprintf(&prefix, "%s:%s: ", path, expect);

		memset(&f, 0x5a, sizeof f);
		before = f;
		err[0] = '\0';
		cr_expect_eq(tf_load(path, &f, err, sizeof err), -1,
		    "%s accepted", path);
		cr_expect(strncmp(err, prefix, strlen(prefix)) == 0,
		    "%s: want prefix \"%s\", got \"%s\"", names[i], prefix,
		    err);
		cr_expect(strstr(err, msg) != NULL,
		    "%s: want \"%s\", got \"%s\"", names[i], msg, err);
		cr_expect_null(strchr(err, '\n'), "%s: not one line", names[i]);
		cr_expect(memcmp(&f, &before, sizeof f) == 0,
		    "%s: a failed load changed the flags", names[i]);
		free(prefix);
		free(expect);
		free(text);
		free(path);
	}
	cr_expect_geq(i, 10, "only %zu bad flags files", i);
	tu_freelist(names);
	free(dir);
	tu_expect_no_leaks();
}

Test(flags, reload_sees_a_changed_file)
{
	struct flags	 f;
	char		 err[QSCHED_ERRLEN], *dir = tu_tmpdir(), *path;

	cr_assert_not_null(dir);
	xasprintf(&path, "%s/flags.ini", dir);
	cr_assert_eq(tu_write(path, "[queue_migration]\nuse_new_queues = "
	    "false\n"), 0);
	cr_assert_eq(tf_load(path, &f, err, sizeof err), 0, "%s", err);
	cr_expect_eq(flags_get(&f, "use_new_queues"), 0);
	cr_assert_eq(tu_write(path, "[queue_migration]\nuse_new_queues = "
	    "true\n"), 0);
	cr_assert_eq(tf_load(path, &f, err, sizeof err), 0, "%s", err);
	cr_expect_eq(flags_get(&f, "use_new_queues"), 1);
	cr_expect_eq(f.line[0], 2);
	tu_rmtree(dir);
	free(path);
	free(dir);
	tu_expect_no_leaks();
}
