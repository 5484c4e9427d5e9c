/*
 * test_cli_corpus.c - tests/unit_cli_corpus: the malformed jobs.conf and
 * flags.ini corpora through the qsched binary.  Every file must make
 * `qsched check` (jobs.conf) or `qsched flags` (flags.ini) exit 2 with
 * "FILE:LINE: message" on stderr, before any database is involved; in the
 * sanitizer build th_run also fails the test on any sanitizer report.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "test_cfgutil.h"
#include "th.h"

/* TEXT with "@PLUGINDIR@" replaced by DIR, as in the instantiated file. */
static char *
with_plugindir(const char *text, const char *dir)
{
	const char	*at = strstr(text, "@PLUGINDIR@");
	char		*out;

	if (at == NULL)
		return (strdup(text));
	cr_assert(asprintf(&out, "%.*s%s%s", (int)(at - text), text, dir,
	    at + strlen("@PLUGINDIR@")) > 0);
	return (out);
}

/* Run qsched -c CONF ARG and check exit 2 and "FILE:LINE: MESSAGE". */
static void
expect_rejected(const char *conf, const char *arg, const char *file,
    const char *expect)
{
	const char	*argv[] = { getenv("QSCHED_BIN"), "-c", conf, arg, NULL };
	struct th_out	 o;
	char		*want;
	int		 rc;

	cr_assert_not_null(argv[0], "QSCHED_BIN is not set");
	rc = th_run(&o, argv);
	/* expect is "LINE: message"; the error reads "FILE:LINE: message". */
	cr_assert(asprintf(&want, "%s:%s", file, expect) > 0);
	cr_assert_eq(rc, 2, "%s: exit %d, stderr: %s", file, rc, o.err);
	cr_assert(strstr(o.err, want) != NULL, "want \"%s\" in: %s", want,
	    o.err);
	cr_assert(strchr(o.err, '\n') == o.err + strlen(o.err) - 1,
	    "one line: %s", o.err);
	free(want);
	th_out_free(&o);
}

Test(cli_corpus, every_bad_jobs_conf_exits_2_naming_the_line)
{
	char	*src = tu_srcpath("tests/data/conf/bad");
	char	*tmp = tu_tmpdir(), *plugins = tu_plugindir();
	char	**names = tu_list(src, ".conf");
	int	 n = 0;

	for (char **name = names; *name != NULL; name++, n++) {
		char	*from, *conf, *text, *expect;

		cr_assert(asprintf(&from, "%s/%s", src, *name) > 0);
		conf = tu_instantiate(from, tmp, plugins);
		text = tu_slurp(from);
		expect = tu_header(text, "expect");
		cr_assert_not_null(expect, "%s has no expect: header", from);
		free(text);
		text = with_plugindir(expect, plugins);
		expect_rejected(conf, "check", conf, text);
		free(from);
		free(conf);
		free(text);
		free(expect);
	}
	cr_assert_geq(n, 20, "the corpus has %d files", n);
	tu_freelist(names);
	tu_rmtree(tmp);
	tu_rmtree(plugins);
	free(tmp);
	free(plugins);
	free(src);
}

/* Copy SRC into DIR byte for byte (a NUL byte is a case of its own);
 * the path of the copy, malloc()ed. */
static char *
copy_bytes(const char *src, const char *dir)
{
	const char	*base = strrchr(src, '/');
	char		 buf[4096], *path;
	FILE		*in, *out;
	size_t		 n;

	cr_assert(asprintf(&path, "%s/%s", dir, base != NULL ? base + 1 :
	    src) > 0);
	cr_assert_not_null(in = fopen(src, "rb"), "%s", src);
	cr_assert_not_null(out = fopen(path, "wb"), "%s", path);
	while ((n = fread(buf, 1, sizeof buf, in)) > 0)
		cr_assert_eq(fwrite(buf, 1, n, out), n);
	fclose(in);
	cr_assert_eq(fclose(out), 0);
	return (path);
}

Test(cli_corpus, every_bad_flags_ini_exits_2_naming_the_line)
{
	char	*src = tu_srcpath("tests/data/flags/bad");
	char	*tmp = tu_tmpdir(), *plugins = tu_plugindir();
	char	**names = tu_list(src, ".ini");
	int	 n = 0;

	for (char **name = names; *name != NULL; name++, n++) {
		char	*from, *flags, *conf, *body, *text, *expect;

		cr_assert(asprintf(&from, "%s/%s", src, *name) > 0);
		flags = copy_bytes(from, tmp);
		cr_assert(asprintf(&conf, "%s/jobs.conf", tmp) > 0);
		/* The flags declared as in tests/unit/test_flags.c. */
		cr_assert(asprintf(&body, "plugin_dir = \"%s\"\n"
		    "flags_file = \"%s\"\n"
		    "flag \"use_new_queues\" { section = \"queue_migration\" }\n"
		    "flag \"populate_separated_tables\" { section = "
		    "\"queue_migration\" default = true }\n"
		    "flag \"fallback_to_legacy\" { section = \"queue_migration\" "
		    "default = true }\n"
		    "flag \"populate_legacy_queue\" { section = "
		    "\"queue_migration\" }\n"
		    "flag \"other_flag\" { section = \"extra\" }\n",
		    plugins, flags) > 0);
		cr_assert_eq(tu_write(conf, body), 0);
		text = tu_slurp(from);
		expect = tu_header(text, "expect");
		cr_assert_not_null(expect, "%s has no expect: header", from);
		expect_rejected(conf, "flags", flags, expect);
		free(from);
		free(flags);
		free(conf);
		free(body);
		free(text);
		free(expect);
	}
	cr_assert_geq(n, 10, "the corpus has %d files", n);
	tu_freelist(names);
	tu_rmtree(tmp);
	tu_rmtree(plugins);
	free(tmp);
	free(plugins);
	free(src);
}
