/*
 * test_cfgutil.h - helpers shared by the config, flags and loader suites:
 * private temporary directories, a private copy of the test plugins (so
 * the loader's mode checks never depend on the build tree's umask), and
 * data files instantiated with the plugin directory.
 */
#ifndef TEST_CFGUTIL_H
#define TEST_CFGUTIL_H

#include <stdbool.h>
#include <sys/types.h>

/* A new private directory (mode 0755); malloc()ed path. */
char	*tu_tmpdir(void);
/* Remove DIR and everything under it; frees nothing. */
void	 tu_rmtree(const char *dir);
int	 tu_copy(const char *from, const char *to, mode_t mode);
/* A new directory holding a copy of every test plugin, mode 0755. */
char	*tu_plugindir(void);
/* The whole file, NUL-terminated; malloc()ed, NULL on error. */
char	*tu_slurp(const char *path);
int	 tu_write(const char *path, const char *text);
/* Copy SRC into DIR under the same base name, replacing every
 * "@PLUGINDIR@" with PLUGINDIR; malloc()ed path of the copy. */
char	*tu_instantiate(const char *src, const char *dir,
	    const char *plugindir);
/* $QSCHED_SRCDIR/REL (or ./REL); malloc()ed. */
char	*tu_srcpath(const char *rel);
/* Sorted names of the files in DIR ending in SUFFIX; NULL-terminated,
 * free with tu_freelist(). */
char	**tu_list(const char *dir, const char *suffix);
void	 tu_freelist(char **);
/* The value after "KEY:" in the leading comment lines of TEXT
 * ("# expect: 7: ..." or "; expect: ..."); malloc()ed or NULL. */
char	*tu_header(const char *text, const char *key);
/*
 * In the sanitizer build, fail the current test if memory leaked so far
 * (Criterion would report a leaking test as passed: LeakSanitizer only
 * prints).  Call it last in a test.  A no-op in other builds.
 */
void	 tu_expect_no_leaks(void);

#endif /* TEST_CFGUTIL_H */
