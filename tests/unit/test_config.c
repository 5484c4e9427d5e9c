/*
 * test_config.c - jobs.conf: a corpus of bad files (tests/data/conf/bad),
 * each naming its expected error in a leading comment
 * ("# expect: LINE: text"), good files (tests/data/conf/good), and the
 * values a load produces.
 */
#include "qsched.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "test_cfgutil.h"

static char	*plugdir;	/* this test's copy of the test plugins */
static char	*workdir;	/* instantiated config files */

static void
config_setup(void)
{
	char	*src;

	plugdir = tu_plugindir();
	cr_assert_not_null(plugdir, "no test plugins (QSCHED_TEST_PLUGINDIR="
	    "%s)", getenv("QSCHED_TEST_PLUGINDIR"));
	workdir = tu_tmpdir();
	cr_assert_not_null(workdir);
	xasprintf(&src, "%s/src", workdir);
	cr_assert_eq(mkdir(src, 0755), 0);
	free(src);
}

static void
config_teardown(void)
{
	tu_rmtree(plugdir);
	tu_rmtree(workdir);
	free(plugdir);
	free(workdir);
}

TestSuite(config, .init = config_setup, .fini = config_teardown);

/* Write TEXT as workdir/NAME with @PLUGINDIR@ filled in; malloc()ed. */
static char *
conf_write(const char *name, const char *text)
{
	char	*src, *path;

	xasprintf(&src, "%s/src/%s", workdir, name);
	cr_assert_eq(tu_write(src, text), 0);
	path = tu_instantiate(src, workdir, plugdir);
	cr_assert_not_null(path);
	free(src);
	return (path);
}

static char *
subst_plugindir(const char *s)
{
	const char	*at = strstr(s, "@PLUGINDIR@");
	char		*out;

	if (at == NULL)
		return (xstrdup(s));
	xasprintf(&out, "%.*s%s%s", (int)(at - s), s, plugdir,
	    at + strlen("@PLUGINDIR@"));
	return (out);
}

Test(config, bad_corpus_names_file_and_line)
{
	struct config	*c;
	char		 err[QSCHED_ERRLEN];
	char		*dir = tu_srcpath("tests/data/conf/bad");
	char		**names, *src, *path, *text, *expect, *msg, *want;
	char		*prefix;
	size_t		 i, ran = 0;

	names = tu_list(dir, ".conf");
	cr_assert_not_null(names, "cannot list %s", dir);
	for (i = 0; names[i] != NULL; i++) {
		xasprintf(&src, "%s/%s", dir, names[i]);
		text = tu_slurp(src);
		cr_assert_not_null(text, "%s", src);
		expect = tu_header(text, "expect");
		cr_expect_not_null(expect, "%s: no '# expect:' line", src);
		if (expect == NULL) {
			free(expect);
			free(text);
			free(src);
			continue;
		}
		/* "7: message" */
		msg = strchr(expect, ':');
		cr_assert_not_null(msg, "%s: bad expect line", src);
		*msg++ = '\0';
		while (*msg == ' ')
			msg++;
		want = subst_plugindir(msg);

		path = tu_instantiate(src, workdir, plugdir);
		cr_assert_not_null(path);
		xasprintf(&prefix, "%s:%s: ", path, expect);
		c = (struct config *)1;
		err[0] = '\0';
		cr_expect_eq(config_load(path, &c, err, sizeof err), -1,
		    "%s accepted", names[i]);
		cr_expect_null(c, "%s: *out set on failure", names[i]);
		cr_expect(strncmp(err, prefix, strlen(prefix)) == 0,
		    "%s: want prefix \"%s\", got \"%s\"", names[i], prefix,
		    err);
		cr_expect(strstr(err, want) != NULL,
		    "%s: want \"%s\", got \"%s\"", names[i], want, err);
		cr_expect_null(strchr(err, '\n'), "%s: not one line", names[i]);
		ran++;
		free(prefix);
		free(path);
		free(want);
		free(expect);
		free(text);
		free(src);
	}
	tu_freelist(names);
	free(dir);
	cr_log_info("bad configs: %zu checked", ran);
	cr_expect_geq(ran, 20, "only %zu bad configs", ran);
	cr_expect_geq(ran, 20, "only %zu bad configs checked", ran);
	tu_expect_no_leaks();
}

Test(config, good_corpus_loads)
{
	struct config	*c;
	char		 err[QSCHED_ERRLEN];
	char		*dir = tu_srcpath("tests/data/conf/good");
	char		**names, *src, *path, *text, *jobs;
	size_t		 i, ran = 0;

	names = tu_list(dir, ".conf");
	cr_assert_not_null(names, "cannot list %s", dir);
	cr_assert_not_null(names[0], "no good configs in %s", dir);
	for (i = 0; names[i] != NULL; i++) {
		xasprintf(&src, "%s/%s", dir, names[i]);
		text = tu_slurp(src);
		cr_assert_not_null(text, "%s", src);
		jobs = tu_header(text, "jobs");
		cr_expect_not_null(jobs, "%s: no '# jobs:' line", src);
		path = tu_instantiate(src, workdir, plugdir);
		cr_assert_not_null(path);
		c = NULL;
		err[0] = '\0';
		cr_expect_eq(config_load(path, &c, err, sizeof err), 0,
		    "%s: %s", names[i], err);
		if (c != NULL && jobs != NULL)
			cr_expect_eq(c->njobs, (size_t)atoi(jobs), "%s: %zu jobs",
			    names[i], c->njobs);
		config_free(c);
		ran++;
		free(jobs);
		free(path);
		free(text);
		free(src);
	}
	tu_freelist(names);
	free(dir);
	cr_expect_geq(ran, 2);
	tu_expect_no_leaks();
}

Test(config, defaults_of_an_empty_file)
{
	struct config	*c = NULL;
	char		 err[QSCHED_ERRLEN], *path;

	path = conf_write("jobs.conf", "# nothing\n");
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(c->path, path);
	cr_expect_str_eq(c->database, "");
	cr_expect_str_eq(c->plugin_dir, QSCHED_PLUGINDIR);
	cr_expect_str_eq(c->flags_file, QSCHED_SYSCONFDIR "/flags.ini");
	cr_expect_str_eq(c->timezone, "UTC");
	cr_expect_eq(c->history_retention_ms, 90LL * 86400000);
	cr_expect_eq(c->njobs, 0);
	cr_expect_null(config_job(c, "anything"));
	config_free(c);
	free(path);
	tu_expect_no_leaks();
}

Test(config, globals)
{
	struct config	*c = NULL;
	char		 err[QSCHED_ERRLEN], *path;

	path = conf_write("jobs.conf",
	    "database = \"postgresql://qsched@db/dialler?sslmode=require\"\n"
	    "plugin_dir = \"@PLUGINDIR@\"\n"
	    "flags_file = \"/etc/qsched/flags.ini\"\n"
	    "history_retention = \"1d12h\"\n");
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(c->database,
	    "postgresql://qsched@db/dialler?sslmode=require");
	cr_expect_str_eq(c->plugin_dir, plugdir);
	cr_expect_str_eq(c->flags_file, "/etc/qsched/flags.ini");
	cr_expect_eq(c->history_retention_ms, 36LL * 3600000);
	config_free(c);
	free(path);
	tu_expect_no_leaks();
}

Test(config, relative_paths_follow_the_file)
{
	struct config	*c = NULL;
	char		 err[QSCHED_ERRLEN], *path, *want, cwd[PATH_MAX];

	path = conf_write("jobs.conf", "plugin_dir = \"plugins\"\n"
	    "flags_file = \"etc/flags.ini\"\n");
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	xasprintf(&want, "%s/plugins", workdir);
	cr_expect_str_eq(c->plugin_dir, want);
	free(want);
	xasprintf(&want, "%s/etc/flags.ini", workdir);
	cr_expect_str_eq(c->flags_file, want);
	free(want);
	config_free(c);

	/* A config named without a directory: relative to ".". */
	cr_assert_not_null(getcwd(cwd, sizeof cwd));
	cr_assert_eq(chdir(workdir), 0);
	c = NULL;
	cr_expect_eq(config_load("jobs.conf", &c, err, sizeof err), 0, "%s",
	    err);
	if (c != NULL) {
		cr_expect_str_eq(c->plugin_dir, "./plugins");
		cr_expect_str_eq(c->flags_file, "./etc/flags.ini");
	}
	config_free(c);
	cr_assert_eq(chdir(cwd), 0);
	free(path);
	tu_expect_no_leaks();
}

Test(config, missing_file)
{
	struct config	*c = (struct config *)1;
	char		 err[QSCHED_ERRLEN];

	cr_assert_eq(config_load("/nonexistent/jobs.conf", &c, err,
	    sizeof err), -1);
	cr_assert_null(c);
	cr_assert_str_eq(err, "cannot open /nonexistent/jobs.conf: "
	    "No such file or directory");
	tu_expect_no_leaks();
}

Test(config, nul_byte)
{
	struct config	*c = NULL;
	char		 err[QSCHED_ERRLEN], *path, *want;
	FILE		*f;

	xasprintf(&path, "%s/nul.conf", workdir);
	cr_assert_not_null(f = fopen(path, "w"));
	cr_assert_eq(fwrite("database = \"x\"\n\0\n", 1, 17, f), 17);
	cr_assert_eq(fclose(f), 0);
	xasprintf(&want, "%s:2: contains a NUL byte", path);
	cr_assert_eq(config_load(path, &c, err, sizeof err), -1);
	cr_assert_str_eq(err, want);
	free(want);
	free(path);
	tu_expect_no_leaks();
}

/* Values that would fail every run are refused where they are read. */
Test(config, server_timeouts_above_the_servers_limit)
{
	struct config	*c = NULL;
	char		 err[QSCHED_ERRLEN], *path, *want;

	xasprintf(&path, "%s/big.conf", workdir);
	cr_assert_eq(tu_write(path, "job \"j\" {\n  plugin = \"x\"\n"
	    "  schedule = \"@manual\"\n  statement_timeout = \"30d\"\n}\n"),
	    0);
	xasprintf(&want, "%s:4: job \"j\": statement_timeout: 30d is above "
	    "the maximum 24d20h31m23s647ms (the server's limit for its "
	    "timeouts)", path);
	cr_assert_eq(config_load_file(path, &c, err, sizeof err), -1);
	cr_assert_str_eq(err, want);
	free(want);
	free(path);
	tu_expect_no_leaks();
}

Test(config, database_that_libpq_cannot_read_is_named_without_it)
{
	struct config	*c = NULL;
	char		 err[QSCHED_ERRLEN], *path;

	xasprintf(&path, "%s/db.conf", workdir);
	cr_assert_eq(tu_write(path, "database = \"host=h password=S3cr3t "
	    "bogus\"\n"), 0);
	cr_assert_eq(config_load_file(path, &c, err, sizeof err), -1);
	cr_assert(strstr(err, ":1: database: not a libpq conninfo") != NULL,
	    "%s", err);
	cr_assert(strstr(err, "S3cr3t") == NULL, "%s", err);
	free(path);
	tu_expect_no_leaks();
}

static const char	conf_jobs[] =
	"plugin_dir = \"@PLUGINDIR@\"\n"			/* 1 */
	"/* a comment\n"					/* 2 */
	"   over lines */\n"					/* 3 */
	"job \"every-key\" {\t# comment\n"			/* 4 */
	"\tplugin = \"options\"\n"				/* 5 */
	"\tschedule = \"*/5 * * * *\"\n"			/* 6 */
	"\ttimeout = \"5m\"\n"					/* 7 */
	"\tretries = 3\n"					/* 8 */
	"\tretry_delay = \"45s\"\n"				/* 9 */
	"\toverlap = \"wait\"\n"				/* 10 */
	"\tlock = \"queue-refresh\"\n"				/* 11 */
	"\tcatch_up = yes\n"					/* 12 */
	"\tdepends_on = {\"plain\"}\n"				/* 13 */
	"\tenabled = off\n"					/* 14 */
	"\tlock_timeout = \"2s\"\n"				/* 15 */
	"\tstatement_timeout = \"1m30s\"\n"			/* 16 */
	"\toptions {\n"						/* 17 */
	"\t\t// comment\n"					/* 18 */
	"\t\tmode = slow\n"					/* 19 */
	"\t\tname = \"n\"\n"					/* 20 */
	"\t}\n"							/* 21 */
	"}\n"							/* 22 */
	"# comment\n"						/* 23 */
	"job \"plain\"\n"					/* 24 */
	"{\n"							/* 25 */
	"\tplugin = \"result\"\n"				/* 26 */
	"\tschedule = \"@daily\"\n"				/* 27 */
	"}\n";							/* 28 */

Test(config, every_job_key)
{
	struct config	*c = NULL;
	struct job	*j;
	char		 err[QSCHED_ERRLEN], *path;

	path = conf_write("jobs.conf", conf_jobs);
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	cr_assert_eq(c->njobs, 2);

	j = config_job(c, "every-key");
	cr_assert_eq(j, &c->jobs[0]);
	cr_expect_str_eq(j->name, "every-key");
	cr_expect_eq(j->line, 4);
	cr_expect_str_eq(j->plugin_name, "options");
	cr_assert_not_null(j->plugin);
	cr_expect_str_eq(j->plugin->name, "options");
	cr_expect_str_eq(j->schedule, "*/5 * * * *");
	cr_expect_str_eq(j->timezone, "UTC");
	cr_expect_eq(j->timeout_ms, 300000);
	cr_expect_eq(j->retries, 3);
	cr_expect_eq(j->retry_delay_ms, 45000);
	cr_expect_eq(j->overlap, OVERLAP_WAIT);
	cr_expect_str_eq(j->lock, "queue-refresh");
	cr_expect(j->catch_up);
	cr_assert_eq(j->ndepends, 1);
	cr_expect_str_eq(j->depends_on[0], "plain");
	cr_expect(!j->enabled);
	cr_expect_eq(j->lock_timeout_ms, 2000);
	cr_expect_eq(j->statement_timeout_ms, 90000);

	/* Defaults. */
	j = config_job(c, "plain");
	cr_assert_eq(j, &c->jobs[1]);
	cr_expect_eq(j->line, 25, "the line of the opening brace");
	cr_expect_str_eq(j->timezone, "UTC");
	cr_expect_eq(j->timeout_ms, 0);
	cr_expect_eq(j->retries, 0);
	cr_expect_eq(j->retry_delay_ms, 30000);
	cr_expect_eq(j->overlap, OVERLAP_SKIP);
	cr_expect_str_eq(j->lock, "plain");
	cr_expect(!j->catch_up);
	cr_expect_eq(j->ndepends, 0);
	cr_expect(j->enabled);
	cr_expect_eq(j->lock_timeout_ms, 0);
	cr_expect_eq(j->statement_timeout_ms, 0);
	cr_expect_eq(j->noptions, 4, "one per entry of result's table");

	cr_expect_null(config_job(c, "nope"));
	config_free(c);
	free(path);
	tu_expect_no_leaks();
}

Test(config, options_follow_the_plugin_table)
{
	static const struct {
		const char	*name;
		const char	*text;
		int64_t		 num;
		int		 line;
	} want[] = {
		{ "name",	"n",	0,	20 },
		{ "count",	"5",	5,	0 },
		{ "enabled",	"true",	1,	0 },
		{ "every",	"1m",	60000,	0 },
		{ "mode",	"slow",	0,	19 },
	};
	struct config	*c = NULL;
	struct job	*j;
	char		 err[QSCHED_ERRLEN], *path;
	size_t		 i;

	path = conf_write("jobs.conf", conf_jobs);
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	j = config_job(c, "every-key");
	cr_assert_eq(j->noptions, sizeof want / sizeof want[0]);
	for (i = 0; i < j->noptions; i++) {
		cr_expect_str_eq(j->options[i].def->name, want[i].name);
		cr_expect_str_eq(j->options[i].text, want[i].text);
		cr_expect_eq(j->options[i].num, want[i].num, "%s",
		    want[i].name);
		cr_expect_eq(j->options[i].line, want[i].line, "%s line",
		    want[i].name);
		cr_expect_eq(job_option(j, want[i].name), &j->options[i]);
	}
	cr_expect_null(job_option(j, "nope"));
	config_free(c);
	free(path);
	tu_expect_no_leaks();
}

Test(config, option_without_default_stays_unset)
{
	struct config	*c = NULL;
	struct job	*j;
	char		 err[QSCHED_ERRLEN], *path;

	path = conf_write("jobs.conf", "plugin_dir = \"@PLUGINDIR@\"\n"
	    "job \"r\" { plugin = \"result\"  schedule = \"@manual\" }\n");
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	j = config_job(c, "r");
	cr_assert_not_null(job_option(j, "message"));
	cr_expect_str_eq(job_option(j, "message")->text, "");
	cr_expect_str_eq(job_option(j, "result")->text, "ok");
	config_free(c);
	free(path);
	tu_expect_no_leaks();
}

Test(config, set_option)
{
	static const struct {
		const char	*set;
		const char	*err;	/* NULL: accepted */
	} cases[] = {
		{ "count=7",		NULL },
		{ "mode=fast",		NULL },
		{ "name=",		NULL },
		{ "every=2h",		NULL },
		{ "enabled=no",		NULL },
		{ "count=101",	"--set count: 101 is above the maximum 100" },
		{ "count=x",	"--set count: \"x\" is not an integer" },
		{ "mode=medium",
		  "--set mode: \"medium\" is not one of fast|slow" },
		{ "every=1",	"--set every: bad duration \"1\": missing "
		  "unit (ms, s, m, h or d)" },
		{ "maxsize=3",
		  "--set maxsize: plugin \"options\" has no option \"maxsize\"" },
		{ "count",	"--set count: expected KEY=VALUE" },
		{ "=3",		"--set =3: expected KEY=VALUE" },
	};
	struct config	*c = NULL;
	struct job	*j;
	struct option_value *v;
	char		 err[QSCHED_ERRLEN], *path;
	size_t		 i;

	path = conf_write("jobs.conf", conf_jobs);
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	j = config_job(c, "every-key");
	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		err[0] = '\0';
		if (cases[i].err == NULL) {
			cr_expect_eq(config_set_option(j, cases[i].set, err,
			    sizeof err), 0, "%s: %s", cases[i].set, err);
		} else {
			cr_expect_eq(config_set_option(j, cases[i].set, err,
			    sizeof err), -1, "%s accepted", cases[i].set);
			cr_expect_str_eq(err, cases[i].err);
		}
	}
	v = job_option(j, "count");
	cr_expect_str_eq(v->text, "7");
	cr_expect_eq(v->num, 7);
	cr_expect_eq(v->line, 0);
	cr_expect_str_eq(job_option(j, "name")->text, "");
	cr_expect_eq(job_option(j, "name")->line, 0);
	cr_expect_eq(job_option(j, "every")->num, 7200000);
	cr_expect_eq(job_option(j, "enabled")->num, 0);
	config_free(c);
	free(path);
	tu_expect_no_leaks();
}

Test(config, reload_reuses_loaded_plugins)
{
	struct config	*a = NULL, *b = NULL;
	char		 err[QSCHED_ERRLEN], *path;

	path = conf_write("jobs.conf", conf_jobs);
	cr_assert_eq(config_load(path, &a, err, sizeof err), 0, "%s", err);
	cr_assert_eq(config_load(path, &b, err, sizeof err), 0, "%s", err);
	cr_expect_eq(a->jobs[0].plugin, b->jobs[0].plugin);
	cr_expect_eq(a->jobs[1].plugin, b->jobs[1].plugin);
	cr_expect_neq(a->jobs[0].plugin, a->jobs[1].plugin);
	config_free(a);
	config_free(b);
	free(path);
	tu_expect_no_leaks();
}

Test(config, timezones_are_effective)
{
	struct config	*c = NULL;
	char		 err[QSCHED_ERRLEN], *path;

	path = conf_write("jobs.conf", "plugin_dir = \"@PLUGINDIR@\"\n"
	    "timezone = \"Europe/London\"\n"
	    "job \"a\" { plugin = \"result\"  schedule = \"@manual\" }\n"
	    "job \"b\" { plugin = \"result\"  schedule = \"@manual\"\n"
	    "  timezone = \"Asia/Tokyo\" }\n");
	cr_assert_eq(config_load(path, &c, err, sizeof err), 0, "%s", err);
	cr_expect_str_eq(c->timezone, "Europe/London");
	cr_expect_str_eq(config_job(c, "a")->timezone, "Europe/London");
	cr_expect_str_eq(config_job(c, "b")->timezone, "Asia/Tokyo");
	config_free(c);
	free(path);
	tu_expect_no_leaks();
}

Test(config, a_failed_load_leaves_nothing_behind)
{
	struct config	*c = NULL;
	char		 err[QSCHED_ERRLEN], *path;

	/* Fails after two jobs and their options were built. */
	path = conf_write("jobs.conf", "plugin_dir = \"@PLUGINDIR@\"\n"
	    "job \"a\" { plugin = \"options\"  schedule = \"@manual\"\n"
	    "  options { name = \"x\" } }\n"
	    "job \"b\" { plugin = \"result\"  schedule = \"@manual\"\n"
	    "  depends_on = {\"a\"} }\n"
	    "job \"c\" { plugin = \"result\"  schedule = \"@manual\"\n"
	    "  depends_on = {\"zz\"} }\n");
	cr_assert_eq(config_load(path, &c, err, sizeof err), -1);
	cr_assert_null(c);
	cr_assert(strstr(err, ":7: job \"c\": depends_on: unknown job "
	    "\"zz\"") != NULL, "%s", err);
	free(path);
	/* The sanitizer build checks that nothing leaked. */
	tu_expect_no_leaks();
}
