/*
 * test_cli.c - tests/pg_cli: the read-side commands (history, check, flags,
 * next, plugins) and their formats and errors.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>
#include <criterion/parameterized.h>

#include "th.h"

TestSuite(cli, .init = th_setup, .fini = th_teardown, .timeout = 120);

static const char *
three_runs(void)
{
	const char	*conf = th_conf(
	    "job \"ok\" { plugin = \"result\" schedule = \"@manual\"\n"
	    "  options { rows = 2 message = \"fine, \\\"quoted\\\"\" } }\n"
	    "job \"bad\" { plugin = \"result\" schedule = \"@manual\"\n"
	    "  options { result = \"fail\" message = \"line1\" } }\n");
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "run", "ok", NULL), 0, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "bad", NULL), 1);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "run", "ok", NULL), 0);
	th_out_free(&o);
	return (conf);
}

/* What jq prints for FILTER over JSON; asserts jq parses it. */
static char *
jq(const char *json, const char *filter)
{
	char		 cmd[8192];
	const char	*argv[] = { "sh", "-c", cmd, NULL };
	struct th_out	 o;

	th_write("input.json", json);
	snprintf(cmd, sizeof cmd, "jq -r '%s' '%s/input.json'", filter,
	    th_tmp);
	cr_assert_eq(th_run(&o, argv), 0, "jq rejected it: %s\n%s", o.err,
	    json);
	free(o.err);
	return (o.out);
}

Test(cli, history_table_newest_first)
{
	const char	*conf = three_runs();
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "history", NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "status") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, "succeeded") < strstr(o.out, "failed"),
	    "newest first: %s", o.out);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "history", "--job", "bad", NULL), 0);
	cr_assert(strstr(o.out, "succeeded") == NULL, "%s", o.out);
	cr_assert(strstr(o.out, "line1") != NULL, "%s", o.out);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "history", "--status", "succeeded",
	    "--limit", "1", NULL), 0);
	cr_assert(strstr(o.out, "failed") == NULL, "%s", o.out);
	th_out_free(&o);
}

Test(cli, history_json_parses_with_jq_and_keeps_types)
{
	const char	*conf = three_runs();
	struct th_out	 o;
	char		*v;

	cr_assert_eq(th_qsched(&o, conf, "history", "--format", "json", NULL),
	    0, "%s", o.err);
	v = jq(o.out, "length");
	cr_assert_str_eq(v, "3\n");
	free(v);
	v = jq(o.out, "[.[0].rows_processed, .[0].metrics.answer, "
	    ".[0].dry_run, .[0].scheduled_for] | map(tostring) | join(\",\")");
	cr_assert_str_eq(v, "2,42,false,null\n");
	free(v);
	v = jq(o.out, ".[0].message");
	cr_assert_str_eq(v, "fine, \"quoted\"\n");
	free(v);
	th_out_free(&o);
}

Test(cli, history_csv_is_rfc4180)
{
	const char	*conf = three_runs();
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "history", "--format", "csv",
	    "--job", "ok", "--limit", "1", NULL), 0, "%s", o.err);
	cr_assert(strncmp(o.out, "id,job,plugin,trigger,", 22) == 0, "%s",
	    o.out);
	cr_assert(strstr(o.out, "\r\n") != NULL, "CRLF line ends");
	cr_assert(strstr(o.out, ",\"fine, \"\"quoted\"\"\",") != NULL,
	    "quoted field: %s", o.out);
	th_out_free(&o);
}

struct bad_args {
	char	 a[3][32];
	char	 expect[64];
};

static struct bad_args bad_history[] = {
	{ { "--status", "finished", "" }, "unknown status \"finished\"" },
	{ { "--format", "xml", "" }, "\"xml\" is not table, json or csv" },
	{ { "--limit", "0", "" }, "--limit" },
	{ { "--since", "yesterday-ish", "" }, "--since" },
	{ { "--bogus", "", "" }, "usage" },
};

ParameterizedTestParameters(cli, history_rejects_bad_arguments)
{
	return (cr_make_param_array(struct bad_args, bad_history,
	    sizeof bad_history / sizeof bad_history[0]));
}

ParameterizedTest(struct bad_args *b, cli, history_rejects_bad_arguments)
{
	const char	*conf = th_conf("job \"r\" { plugin = \"result\" "
	    "schedule = \"@manual\" }\n");
	struct th_out	 o;
	int		 rc;

	cr_assert_eq(th_qsched(&o, conf, "init", NULL), 0, "%s", o.err);
	th_out_free(&o);
	if (b->a[1][0] != '\0')
		rc = th_qsched(&o, conf, "history", b->a[0], b->a[1], NULL);
	else
		rc = th_qsched(&o, conf, "history", b->a[0], NULL);
	cr_assert_eq(rc, 2, "%s", o.err);
	cr_assert(strstr(o.err, b->expect) != NULL, "want \"%s\" in: %s",
	    b->expect, o.err);
	th_out_free(&o);
}

Test(cli, history_since_accepts_durations_and_timestamps)
{
	const char	*conf = three_runs();
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "history", "--since", "1h",
	    "--format", "csv", NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "failed") != NULL);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "history", "--since", "2999-01-01",
	    "--format", "csv", NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "failed") == NULL, "%s", o.out);
	th_out_free(&o);
}

Test(cli, check_passes_and_reports_plugin_checks)
{
	const char	*conf = th_conf(
	    "job \"fine\" { plugin = \"result\" schedule = \"@manual\" }\n");
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, conf, "check", NULL), 0, "%s%s", o.out,
	    o.err);
	cr_assert(strstr(o.out, "database: ok") != NULL, "%s", o.out);
	th_out_free(&o);
	conf = th_conf("job \"sick\" { plugin = \"result\" schedule = "
	    "\"@manual\" options { check_fails = true } }\n");
	cr_assert_eq(th_qsched(&o, conf, "check", NULL), 1);
	cr_assert(strstr(o.out, "job \"sick\": check failed: check failed on "
	    "purpose") != NULL, "%s", o.out);
	th_out_free(&o);
}

Test(cli, check_reports_an_unreachable_database)
{
	struct th_out	 o;
	char		 conf[4096];

	th_writef("bad.conf", "database = \"host=%s port=1 dbname=x\"\n"
	    "flags_file = \"\"\nplugin_dir = \"%s\"\n"
	    "job \"j\" { plugin = \"result\" schedule = \"@manual\" }\n",
	    th_tmp, getenv("QSCHED_TEST_PLUGINDIR"));
	snprintf(conf, sizeof conf, "%s/bad.conf", th_tmp);
	cr_assert_eq(th_qsched(&o, conf, "check", NULL), 3, "%s", o.err);
	th_out_free(&o);
}

Test(cli, flags_prints_effective_values_and_origin)
{
	const char	*conf;
	struct th_out	 o;

	th_write("flags.ini", "[queue_migration]\n; comment\n"
	    "use_new_queues = false\n");
	conf = th_conf("");
	cr_assert_eq(th_qsched(&o, conf, "flags", NULL), 0, "%s", o.err);
	cr_assert(strstr(o.out, "use_new_queues             = false  # line 3")
	    != NULL, "%s", o.out);
	cr_assert(strstr(o.out, "populate_separated_tables  = true   # default")
	    != NULL, "%s", o.out);
	th_out_free(&o);
	th_write("flags.ini", "[queue_migration]\nuse_new_queues = perhaps\n");
	cr_assert_eq(th_qsched(&o, conf, "flags", NULL), 2);
	cr_assert(strstr(o.err, "flags.ini:2:") != NULL, "%s", o.err);
	th_out_free(&o);
}

Test(cli, next_prints_local_and_utc)
{
	const char	*conf = th_conf(
	    "job \"daily\" { plugin = \"result\" schedule = \"30 1 * * *\"\n"
	    "  timezone = \"Europe/London\" }\n"
	    "job \"m\" { plugin = \"result\" schedule = \"@manual\" }\n");
	struct th_out	 o;
	int		 lines = 0;

	cr_assert_eq(th_qsched(&o, conf, "next", "daily", "-n", "3", NULL), 0,
	    "%s", o.err);
	for (char *p = o.out; (p = strchr(p, '\n')) != NULL; p++)
		lines++;
	cr_assert_eq(lines, 3, "%s", o.out);
	cr_assert(strstr(o.out, " 01:30:00 ") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, ":30:00Z") != NULL, "%s", o.out);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "next", "m", NULL), 0);
	cr_assert(strstr(o.err, "@manual") != NULL, "%s", o.err);
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "next", "daily", "-n", "0", NULL), 2);
	th_out_free(&o);
}

Test(cli, plugins_lists_options_and_refusals)
{
	const char	*conf = th_conf("");
	struct th_out	 o;

	/* The test plugin directory holds refused plugins on purpose. */
	cr_assert_eq(th_qsched(&o, conf, "plugins", NULL), 2);
	cr_assert(strstr(o.out, "options ") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, "required") != NULL, "%s", o.out);
	cr_assert(strstr(o.out, "bad_magic: refused: ") != NULL, "%s", o.out);
	th_out_free(&o);
}

Test(cli, unknown_command_and_no_command_are_usage_errors)
{
	struct th_out	 o;

	cr_assert_eq(th_qsched(&o, NULL, "frobnicate", NULL), 2);
	cr_assert(strstr(o.err, "unknown command") != NULL);
	th_out_free(&o);
	{
		const char *argv[] = { getenv("QSCHED_BIN"), NULL };

		cr_assert_eq(th_run(&o, argv), 2);
		th_out_free(&o);
	}
	cr_assert_eq(th_qsched(&o, NULL, "--version", NULL), 0);
	cr_assert(strncmp(o.out, "qsched ", 7) == 0);
	th_out_free(&o);
}

/* The shipped jobs.conf loads: every plugin, every option, the schedules. */
Test(cli, the_shipped_jobs_conf_loads)
{
	char		 conf[4096], *shipped, *text;
	struct th_out	 o;

	cr_assert(asprintf(&shipped, "%s/jobs.conf", getenv("QSCHED_SRCDIR"))
	    > 0);
	text = th_read(shipped);
	/* It names no plugin_dir or flags_file: the installed defaults. */
	cr_assert_null(strstr(text, "plugin_dir"));
	th_writef("shipped.conf", "plugin_dir = \"%s\"\nflags_file = \"%s/"
	    "flags.ini\"\n%s", getenv("QSCHED_PLUGIN_BUILDDIR"),
	    getenv("QSCHED_SRCDIR"), text);
	snprintf(conf, sizeof conf, "%s/shipped.conf", th_tmp);
	cr_assert_eq(th_qsched(&o, conf, "next", "unsigned-population", "-n",
	    "2", NULL), 0, "%s", o.err);
	{
		int	 lines = 0, hh, mm, ss;

		/* "2026-11-29 10:35:00 GMT  2026-11-29T10:35:00Z": every
		 * five minutes, on the minute. */
		for (char *p = o.out; *p != '\0'; lines++) {
			cr_assert_eq(sscanf(p, "%*d-%*d-%*d %d:%d:%d", &hh, &mm,
			    &ss), 3, "%s", o.out);
			cr_assert(mm % 5 == 0 && ss == 0, "%s", o.out);
			p = strchr(p, '\n');
			cr_assert_not_null(p);
			p++;
		}
		cr_assert_eq(lines, 2, "%s", o.out);
	}
	th_out_free(&o);
	cr_assert_eq(th_qsched(&o, conf, "flags", NULL), 0, "%s", o.err);
	th_out_free(&o);
	free(text);
	free(shipped);
}
