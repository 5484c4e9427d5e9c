/*
 * test_loader.c - the plugin loader against real test plugins
 * (tests/plugins): every refusal names the field with both values, a good
 * plugin loads once, and unsafe files, directories and symlinks are
 * refused.  Each test works on its own copy of the plugins.
 */
#include "qsched.h"

#include <dlfcn.h>
#include <signal.h>
#include <stdarg.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include <ini.h>

#include "test_cfgutil.h"

static char	*plugdir;	/* this test's copy of the plugins */
static char	*realdir;	/* its realpath() */
static char	*outside;	/* another directory, for symlink escapes */

static void
loader_setup(void)
{
	plugdir = tu_plugindir();
	cr_assert_not_null(plugdir, "no test plugins (QSCHED_TEST_PLUGINDIR="
	    "%s)", getenv("QSCHED_TEST_PLUGINDIR"));
	realdir = realpath(plugdir, NULL);
	cr_assert_not_null(realdir);
	outside = NULL;
}

static void
loader_teardown(void)
{
	tu_rmtree(plugdir);
	tu_rmtree(outside);
	free(plugdir);
	free(realdir);
	free(outside);
}

TestSuite(loader, .init = loader_setup, .fini = loader_teardown);

/* Whether PATH is mapped into this process. */
static bool
loader_mapped(const char *name)
{
	char	*maps = tu_slurp("/proc/self/maps");
	bool	 found;

	cr_assert_not_null(maps);
	found = strstr(maps, name) != NULL;
	free(maps);
	return (found);
}

Test(loader, good_plugin_loads)
{
	struct plugin	*p;
	char		 err[QSCHED_ERRLEN], *want;

	err[0] = '\0';
	p = plugin_load(plugdir, "result", err, sizeof err);
	cr_assert_not_null(p, "%s", err);
	cr_expect_str_eq(p->name, "result");
	cr_expect_str_eq(p->desc->name, "result");
	cr_expect_not_null(p->handle);
	cr_expect_not_null(p->desc->run);
	cr_expect_not_null(p->desc->options);
	xasprintf(&want, "%s/result.so", realdir);
	cr_expect_str_eq(p->path, want);
	free(want);
	cr_expect(loader_mapped("/result.so"));
	tu_expect_no_leaks();
}

Test(loader, loading_twice_returns_the_same_plugin)
{
	struct plugin	*a, *b, *c;
	char		 err[QSCHED_ERRLEN];

	a = plugin_load(plugdir, "options", err, sizeof err);
	cr_assert_not_null(a, "%s", err);
	b = plugin_load(plugdir, "result", err, sizeof err);
	cr_assert_not_null(b, "%s", err);
	c = plugin_load(plugdir, "options", err, sizeof err);
	cr_assert_eq(a, c);
	cr_assert_neq(a, b);
	/* The same file reached through another spelling of the dir. */
	{
		char	*dir2;

		xasprintf(&dir2, "%s/.", plugdir);
		c = plugin_load(dir2, "options", err, sizeof err);
		free(dir2);
		cr_assert_eq(a, c, "%s", err);
	}
	tu_expect_no_leaks();
}

Test(loader, refusals_name_the_field_and_both_values)
{
	static const struct {
		const char	*name;
		const char	*rest;
	} cases[] = {
		{ "bad_magic", "magic: expected 0x71736368, found 0xdeadbeef" },
		{ "other_major", "abi_major: expected 1, found 2" },
		{ "newer_minor", "abi_minor: expected 1 or older, found 99" },
		{ "short_size", NULL },		/* built below */
		{ "misnamed",
		  "name: expected \"misnamed\", found \"someone_else\"" },
		{ "no_run", "run: expected a function, found NULL" },
		{ "init_fails", "init: expected 0, found -1" },
		{ "bad_option_name", "options[1].name: expected [a-z0-9_]+, "
		  "found \"Max-Size\"" },
		{ "bad_default", "options[0].default_value: count: \"ten\" is "
		  "not an integer" },
	};
	char		 err[QSCHED_ERRLEN], rest[128], *want, *file;
	struct plugin	*p;
	size_t		 i;

	for (i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		if (cases[i].rest != NULL)
			snprintf(rest, sizeof rest, "%s", cases[i].rest);
		else
			snprintf(rest, sizeof rest, "size: expected at least "
			    "%zu, found 8", (size_t)QSCHED_PLUGIN_MIN_SIZE);
		xasprintf(&want, "plugin %s/%s.so: %s", plugdir,
		    cases[i].name, rest);
		err[0] = '\0';
		p = plugin_load(plugdir, cases[i].name, err, sizeof err);
		cr_expect_null(p, "%s loaded", cases[i].name);
		cr_expect_str_eq(err, want);
		cr_expect_null(strchr(err, '\n'));
		/* Refused plugins are closed, and not remembered. */
		xasprintf(&file, "/%s.so", cases[i].name);
		cr_expect(!loader_mapped(file), "%s still mapped",
		    cases[i].name);
		err[0] = '\0';
		cr_expect_null(plugin_load(plugdir, cases[i].name, err,
		    sizeof err));
		cr_expect_str_eq(err, want, "second load of %s",
		    cases[i].name);
		free(file);
		free(want);
	}
	/* A refusal leaves the loader fit for the next plugin. */
	cr_expect_not_null(plugin_load(plugdir, "result", err, sizeof err),
	    "%s", err);
	tu_expect_no_leaks();
}

Test(loader, names)
{
	static const char *const good[] = { "a", "result", "queue_population",
	    "x9", "_", "0" };
	static const char *const bad[] = { "", "Result", "re-sult",
	    "../result", "a/b", "result.so", "a b", "é", "a.b" };
	char		 err[QSCHED_ERRLEN], *want;
	size_t		 i;

	for (i = 0; i < sizeof good / sizeof good[0]; i++)
		cr_expect(plugin_name_valid(good[i]), "%s", good[i]);
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		cr_expect(!plugin_name_valid(bad[i]), "%s", bad[i]);
		xasprintf(&want, "plugin \"%s\": invalid name (expected "
		    "[a-z0-9_]+)", bad[i]);
		cr_expect_null(plugin_load(plugdir, bad[i], err, sizeof err));
		cr_expect_str_eq(err, want);
		free(want);
	}
	cr_expect(!plugin_name_valid(NULL));
	tu_expect_no_leaks();
}

Test(loader, missing_file)
{
	char	 err[QSCHED_ERRLEN], *want;

	xasprintf(&want, "plugin %s/nosuch.so: No such file or directory",
	    plugdir);
	cr_assert_null(plugin_load(plugdir, "nosuch", err, sizeof err));
	cr_assert_str_eq(err, want);
	free(want);
	tu_expect_no_leaks();
}

Test(loader, missing_dir)
{
	char	 err[QSCHED_ERRLEN];

	cr_assert_null(plugin_load("/nonexistent/plugins", "result", err,
	    sizeof err));
	cr_assert_str_eq(err, "plugin /nonexistent/plugins/result.so: "
	    "plugin_dir /nonexistent/plugins: No such file or directory");
	tu_expect_no_leaks();
}

Test(loader, writable_files_are_refused)
{
	static const mode_t modes[] = { 0775, 0757, 0666, 0622 };
	char		 err[QSCHED_ERRLEN], *file, *want;
	size_t		 i;

	xasprintf(&file, "%s/result.so", plugdir);
	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		cr_assert_eq(chmod(file, modes[i]), 0);
		xasprintf(&want, "plugin %s: file %s/result.so is writable by "
		    "group or others (mode %04o)", file, realdir,
		    (unsigned)modes[i]);
		cr_expect_null(plugin_load(plugdir, "result", err, sizeof err));
		cr_expect_str_eq(err, want);
		free(want);
	}
	cr_assert_eq(chmod(file, 0644), 0);
	cr_expect_not_null(plugin_load(plugdir, "result", err, sizeof err),
	    "%s", err);
	/* Checked again when the loaded plugin is asked for again. */
	cr_assert_eq(chmod(file, 0664), 0);
	cr_expect_null(plugin_load(plugdir, "result", err, sizeof err));
	cr_expect(strstr(err, "writable by group or others (mode 0664)")
	    != NULL, "%s", err);
	free(file);
	tu_expect_no_leaks();
}

Test(loader, writable_directories_are_refused)
{
	static const mode_t modes[] = { 0775, 0757, 0777, 01777 };
	char		 err[QSCHED_ERRLEN], *want;
	size_t		 i;

	for (i = 0; i < sizeof modes / sizeof modes[0]; i++) {
		cr_assert_eq(chmod(plugdir, modes[i]), 0);
		xasprintf(&want, "plugin %s/result.so: directory %s is "
		    "writable by group or others (mode %04o)", plugdir,
		    realdir, (unsigned)modes[i]);
		cr_expect_null(plugin_load(plugdir, "result", err, sizeof err));
		cr_expect_str_eq(err, want);
		free(want);
	}
	cr_assert_eq(chmod(plugdir, 0700), 0);
	cr_expect_not_null(plugin_load(plugdir, "result", err, sizeof err),
	    "%s", err);
	tu_expect_no_leaks();
}

Test(loader, symlink_out_of_the_dir_is_refused)
{
	char	 err[QSCHED_ERRLEN], *file, *target, *want, *rout;

	outside = tu_tmpdir();
	cr_assert_not_null(outside);
	rout = realpath(outside, NULL);
	xasprintf(&file, "%s/result.so", plugdir);
	xasprintf(&target, "%s/result.so", outside);
	cr_assert_eq(tu_copy(file, target, 0755), 0);
	cr_assert_eq(unlink(file), 0);
	cr_assert_eq(symlink(target, file), 0);

	xasprintf(&want, "plugin %s: resolves to %s/result.so, outside "
	    "plugin_dir %s", file, rout, realdir);
	cr_expect_null(plugin_load(plugdir, "result", err, sizeof err));
	cr_expect_str_eq(err, want);
	cr_expect(!loader_mapped(target));

	/* A relative link climbing out is the same escape. */
	cr_assert_eq(unlink(file), 0);
	free(target);
	xasprintf(&target, "../%s/result.so", strrchr(outside, '/') + 1);
	cr_assert_eq(symlink(target, file), 0);
	cr_expect_null(plugin_load(plugdir, "result", err, sizeof err));
	cr_expect_str_eq(err, want);

	free(want);
	free(target);
	free(file);
	free(rout);
	tu_expect_no_leaks();
}

Test(loader, symlink_into_a_writable_subdir_is_refused)
{
	char	 err[QSCHED_ERRLEN], *file, *sub, *target, *want;

	xasprintf(&file, "%s/result.so", plugdir);
	xasprintf(&sub, "%s/sub", plugdir);
	xasprintf(&target, "%s/result.so", sub);
	cr_assert_eq(mkdir(sub, 0700), 0);
	cr_assert_eq(chmod(sub, 0777), 0);
	cr_assert_eq(rename(file, target), 0);
	cr_assert_eq(symlink("sub/result.so", file), 0);

	xasprintf(&want, "plugin %s: directory %s/sub is writable by group "
	    "or others (mode 0777)", file, realdir);
	cr_expect_null(plugin_load(plugdir, "result", err, sizeof err));
	cr_expect_str_eq(err, want);

	cr_assert_eq(chmod(sub, 0755), 0);
	cr_expect_not_null(plugin_load(plugdir, "result", err, sizeof err),
	    "%s", err);
	free(want);
	free(target);
	free(sub);
	free(file);
	tu_expect_no_leaks();
}

Test(loader, symlink_under_another_name_is_refused)
{
	char	 err[QSCHED_ERRLEN], *link, *want;

	xasprintf(&link, "%s/alias.so", plugdir);
	cr_assert_eq(symlink("result.so", link), 0);
	xasprintf(&want, "plugin %s: name: expected \"alias\", found "
	    "\"result\"", link);
	cr_expect_null(plugin_load(plugdir, "alias", err, sizeof err));
	cr_expect_str_eq(err, want);
	/* Also once result is loaded and cached under its real path. */
	cr_assert_not_null(plugin_load(plugdir, "result", err, sizeof err));
	cr_expect_null(plugin_load(plugdir, "alias", err, sizeof err));
	cr_expect_str_eq(err, want);
	free(want);
	free(link);
	tu_expect_no_leaks();
}

Test(loader, not_a_shared_object)
{
	char	 err[QSCHED_ERRLEN], *file, *prefix;

	xasprintf(&file, "%s/junk.so", plugdir);
	cr_assert_eq(tu_write(file, "this is not an ELF file\n"), 0);
	cr_assert_eq(chmod(file, 0644), 0);
	xasprintf(&prefix, "plugin %s: ", file);
	cr_expect_null(plugin_load(plugdir, "junk", err, sizeof err));
	cr_expect(strncmp(err, prefix, strlen(prefix)) == 0, "%s", err);
	cr_expect(strlen(err) > strlen(prefix), "%s", err);
	free(prefix);
	free(file);
	tu_expect_no_leaks();
}

Test(loader, shared_object_without_the_symbol)
{
	Dl_info	 info;
	char	 err[QSCHED_ERRLEN], *file, *want;

	/* Any real library will do: use the one holding ini_parse(). */
	cr_assert_neq(dladdr((void *)ini_parse, &info), 0);
	xasprintf(&file, "%s/nosym.so", plugdir);
	cr_assert_eq(tu_copy(info.dli_fname, file, 0644), 0);
	xasprintf(&want, "plugin %s: no symbol qsched_plugin_describe", file);
	cr_expect_null(plugin_load(plugdir, "nosym", err, sizeof err));
	cr_expect_str_eq(err, want);
	free(want);
	free(file);
	tu_expect_no_leaks();
}

struct scan_seen {
	char	*names[64];
	bool	 loaded[64];
	char	*errs[64];
	size_t	 n;
};

static void
scan_collect(const char *name, struct plugin *p, const char *err, void *arg)
{
	struct scan_seen *s = arg;

	cr_assert_lt(s->n, 64);
	s->names[s->n] = xstrdup(name);
	s->loaded[s->n] = p != NULL;
	s->errs[s->n] = err != NULL ? xstrdup(err) : NULL;
	if (p != NULL)
		cr_expect_str_eq(p->name, name);
	cr_expect((p == NULL) == (err != NULL), "%s: plugin xor error", name);
	s->n++;
}

Test(loader, scan_visits_every_plugin_in_name_order)
{
	struct scan_seen s;
	char		**files;
	size_t		 i, nfiles;

	memset(&s, 0, sizeof s);
	files = tu_list(plugdir, ".so");
	cr_assert_not_null(files);
	for (nfiles = 0; files[nfiles] != NULL; nfiles++)
		;
	cr_assert_eq(plugin_scan(plugdir, scan_collect, &s), 0);
	cr_expect_eq(s.n, nfiles);
	for (i = 0; i < s.n; i++) {
		if (i > 0)
			cr_expect_lt(strcmp(s.names[i - 1], s.names[i]), 0);
		if (strcmp(s.names[i], "result") == 0 ||
		    strcmp(s.names[i], "options") == 0 ||
		    strcmp(s.names[i], "crash") == 0)
			cr_expect(s.loaded[i], "%s: %s", s.names[i],
			    s.errs[i]);
		if (strcmp(s.names[i], "bad_magic") == 0) {
			cr_expect(!s.loaded[i]);
			cr_expect(s.errs[i] != NULL &&
			    strstr(s.errs[i], "magic: expected") != NULL);
		}
	}
	for (i = 0; i < s.n; i++) {
		free(s.names[i]);
		free(s.errs[i]);
	}
	tu_freelist(files);
	cr_expect_eq(plugin_scan("/nonexistent/plugins", scan_collect, &s),
	    -1);
	tu_expect_no_leaks();
}

Test(loader, fini_all_forgets_every_plugin)
{
	struct plugin	*p;
	char		 err[QSCHED_ERRLEN];

	cr_assert_not_null(plugin_load(plugdir, "result", err, sizeof err));
	cr_assert_not_null(plugin_load(plugdir, "options", err, sizeof err));
	plugin_fini_all();
	plugin_fini_all();	/* nothing left to finish */
	p = plugin_load(plugdir, "result", err, sizeof err);
	cr_assert_not_null(p, "%s", err);
	cr_expect_str_eq(p->name, "result");
	plugin_fini_all();
	tu_expect_no_leaks();
}

static void
crash_log(struct qsched_run *run, int level, const char *fmt, ...)
{
	(void)run;
	(void)level;
	(void)fmt;
}

/*
 * The crash plugin must die of the signal itself, in both builds: an
 * optimiser dropping the write, or a sanitizer turning the fault into an
 * exit, would leave the core's crash handling untested.  run() logs, so
 * the host it gets needs log() and nothing else.
 */
Test(loader, crash_plugin_dies_of_sigsegv, .signal = SIGSEGV)
{
	struct qsched_host host;
	struct plugin	*p;
	char		 err[QSCHED_ERRLEN];

	p = plugin_load(plugdir, "crash", err, sizeof err);
	cr_assert_not_null(p, "%s", err);
	memset(&host, 0, sizeof host);
	host.size = sizeof host;
	host.log = crash_log;
	p->desc->run(&host, NULL);
	cr_assert_fail("crash returned from run()");
}
