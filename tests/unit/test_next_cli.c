/*
 * test_next_cli.c - tests/unit_next_cli: `qsched next --after TIME`
 * through the binary.  No database is involved: next reads only the jobs
 * file.  Fire times are compared as whole lines, local and UTC.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "test_cfgutil.h"
#include "th.h"

static char	*tmp, *plugins, *conf;

static void
setup(void)
{
	char	*body;

	tmp = tu_tmpdir();
	plugins = tu_plugindir();
	cr_assert(asprintf(&conf, "%s/jobs.conf", tmp) > 0);
	cr_assert(asprintf(&body,
	    "plugin_dir = \"%s\"\n"
	    "database = \"host=/nonexistent/qsched port=1\"\n"
	    "job \"leap\" { plugin = \"result\" schedule = \"0 0 29 2 */7\"\n"
	    "  timezone = \"UTC\" }\n"
	    "job \"feb\" { plugin = \"result\" schedule = \"0 0 */31 2 1\"\n"
	    "  timezone = \"Europe/London\" }\n"
	    "job \"daily\" { plugin = \"result\" schedule = \"30 1 * * *\"\n"
	    "  timezone = \"Europe/London\" }\n", plugins) > 0);
	cr_assert_eq(tu_write(conf, body), 0);
	free(body);
}

static void
teardown(void)
{
	tu_rmtree(tmp);
	tu_rmtree(plugins);
	free(tmp);
	free(plugins);
	free(conf);
}

TestSuite(next_cli, .init = setup, .fini = teardown, .timeout = 60);

/* qsched -c CONF next JOB --after AFTER -n N: exit 0 and exactly WANT. */
static void
expect_fires(const char *job, const char *after, const char *n,
    const char *want)
{
	const char	*argv[] = { getenv("QSCHED_BIN"), "-c", conf, "next",
	    job, "--after", after, "-n", n, NULL };
	struct th_out	 o;
	int		 rc;

	cr_assert_not_null(argv[0], "QSCHED_BIN is not set");
	rc = th_run(&o, argv);
	cr_assert_eq(rc, 0, "next %s --after '%s': exit %d: %s", job, after,
	    rc, o.err);
	cr_expect_str_eq(o.out, want, "next %s --after '%s':\n%s", job, after,
	    o.out);
	th_out_free(&o);
}

Test(next_cli, rare_schedules_fire_beyond_ten_years)
{
	expect_fires("leap", "2026-01-01", "4",
	    "2032-02-29 00:00:00 UTC  2032-02-29T00:00:00Z\n"
	    "2060-02-29 00:00:00 UTC  2060-02-29T00:00:00Z\n"
	    "2088-02-29 00:00:00 UTC  2088-02-29T00:00:00Z\n"
	    "2128-02-29 00:00:00 UTC  2128-02-29T00:00:00Z\n");
	/* Strictly after: a fire at TIME itself is not shown. */
	expect_fires("feb", "2027-02-01 00:00", "4",
	    "2038-02-01 00:00:00 GMT  2038-02-01T00:00:00Z\n"
	    "2044-02-01 00:00:00 GMT  2044-02-01T00:00:00Z\n"
	    "2049-02-01 00:00:00 GMT  2049-02-01T00:00:00Z\n"
	    "2055-02-01 00:00:00 GMT  2055-02-01T00:00:00Z\n");
}

Test(next_cli, time_is_local_to_the_job_unless_an_offset_is_given)
{
	/* 2026-03-29: London skips 01:00-02:00; 01:30 fires at 01:00Z. */
	expect_fires("daily", "2026-03-29 00:59", "2",
	    "2026-03-29 02:00:00 BST  2026-03-29T01:00:00Z\n"
	    "2026-03-30 01:30:00 BST  2026-03-30T00:30:00Z\n");
	/* 00:59 UTC is 00:59 GMT too, the same instant. */
	expect_fires("daily", "2026-03-29T00:59:00Z", "1",
	    "2026-03-29 02:00:00 BST  2026-03-29T01:00:00Z\n");
	/* 02:00 BST (+01:00) is 01:00Z, the fire itself: the next one. */
	expect_fires("daily", "2026-03-29T02:00:00+01:00", "1",
	    "2026-03-30 01:30:00 BST  2026-03-30T00:30:00Z\n");
	expect_fires("daily", "2026-03-29 02:00-0100", "1",
	    "2026-03-30 01:30:00 BST  2026-03-30T00:30:00Z\n");
	/* Local 2026-03-30 01:29 BST is 00:29Z; 01:29 UTC is past the fire. */
	expect_fires("daily", "2026-03-30 01:29", "1",
	    "2026-03-30 01:30:00 BST  2026-03-30T00:30:00Z\n");
	expect_fires("daily", "2026-03-30 01:29Z", "1",
	    "2026-03-31 01:30:00 BST  2026-03-31T00:30:00Z\n");
	/* 2026-10-25: 01:30 occurs twice; a local TIME is its first. */
	expect_fires("daily", "2026-10-25 01:29:59", "1",
	    "2026-10-25 01:30:00 BST  2026-10-25T00:30:00Z\n");
}

/*
 * Without a database list still shows every job's next fire: list and
 * next share cron_next.  (From 2026 both fires are within ten years, so
 * this passed with the old horizon too; the --after cases did not.)
 */
Test(next_cli, list_shows_the_next_fire_of_a_rare_schedule)
{
	const char	*argv[] = { getenv("QSCHED_BIN"), "-c", conf, "list",
	    "--format", "csv", NULL };
	struct th_out	 o;
	char		*leap, *feb;

	cr_assert_eq(th_run(&o, argv), 3, "%s", o.err);
	leap = strstr(o.out, "\nleap,");
	feb = strstr(o.out, "\nfeb,");
	cr_assert(leap != NULL && feb != NULL, "%s", o.out);
	leap++;
	feb++;
	*strchr(leap, '\n') = '\0';
	*strchr(feb, '\n') = '\0';
	cr_expect(strstr(leap, "-02-29 00:00:00 UTC,") != NULL, "%s", leap);
	cr_expect(strstr(feb, "-02-01 00:00:00 GMT,") != NULL, "%s", feb);
	th_out_free(&o);
}

Test(next_cli, no_fire_before_the_year_10000_is_said)
{
	const char	*argv[] = { getenv("QSCHED_BIN"), "-c", conf, "next",
	    "leap", "--after", "9976-02-29T00:00:00Z", NULL };
	struct th_out	 o;

	cr_assert_eq(th_run(&o, argv), 0, "%s", o.err);
	cr_expect_str_eq(o.out, "");
	cr_expect(strstr(o.err, "job \"leap\" has no fire after "
	    "9976-02-29T00:00:00Z before the year 10000") != NULL, "%s", o.err);
	th_out_free(&o);
}

Test(next_cli, bad_time_exits_2)
{
	static const char *const bad[] = {
		"", "tomorrow", "2026-02-30", "2026-13-01", "2026-1-01",
		"2026-01-01 24:00", "2026-01-01 10:60", "2026-01-01 10:00:60",
		"2026-01-01 10", "2026-01-01T10:00+1", "2026-01-01T10:00+01:",
		"2026-01-01T10:00+24:00", "2026-01-01T10:00:00ZZ",
		"2026-01-01 10:00 ", "0000-01-01", "2025-02-29",
	};
	size_t	 i;

	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		const char	*argv[] = { getenv("QSCHED_BIN"), "-c", conf,
		    "next", "daily", "--after", bad[i], NULL };
		struct th_out	 o;
		char		*want;
		int		 rc;

		rc = th_run(&o, argv);
		cr_expect_eq(rc, 2, "'%s': exit %d", bad[i], rc);
		cr_assert(asprintf(&want, "qsched: next: --after: \"%s\" is "
		    "not a time: expected ", bad[i]) > 0);
		cr_expect(strncmp(o.err, want, strlen(want)) == 0,
		    "'%s': %s", bad[i], o.err);
		cr_expect_str_eq(o.out, "", "'%s'", bad[i]);
		free(want);
		th_out_free(&o);
	}
	/* Checked before the jobs file is read: a missing one is not named. */
	{
		const char	*argv[] = { getenv("QSCHED_BIN"), "-c",
		    "/nonexistent/jobs.conf", "next", "daily", "--after", "x",
		    NULL };
		struct th_out	 o;

		cr_expect_eq(th_run(&o, argv), 2);
		cr_expect(strstr(o.err, "--after: \"x\"") != NULL, "%s", o.err);
		th_out_free(&o);
	}
}
