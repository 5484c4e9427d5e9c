/*
 * test_cfgutil.c - see test_cfgutil.h.
 */
#include "qsched.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>
#ifdef __SANITIZE_ADDRESS__
#include <sanitizer/lsan_interface.h>
#endif

#include "test_cfgutil.h"

char *
tu_tmpdir(void)
{
	const char	*base = getenv("TMPDIR");
	char		*path;

	if (base == NULL || *base == '\0')
		base = "/tmp";
	xasprintf(&path, "%s/qsched-test.XXXXXX", base);
	if (mkdtemp(path) == NULL || chmod(path, 0755) != 0) {
		free(path);
		return (NULL);
	}
	return (path);
}

static int
tu_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)ftw;
	if (flag == FTW_DP)
		return (rmdir(path) == 0 ? 0 : -1);
	return (unlink(path) == 0 ? 0 : -1);
}

void
tu_rmtree(const char *dir)
{
	if (dir != NULL)
		(void)nftw(dir, tu_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

int
tu_copy(const char *from, const char *to, mode_t mode)
{
	char	 buf[65536];
	ssize_t	 n;
	int	 in, out, r = 0;

	if ((in = open(from, O_RDONLY)) == -1)
		return (-1);
	if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC, 0600)) == -1) {
		close(in);
		return (-1);
	}
	while ((n = read(in, buf, sizeof buf)) > 0) {
		if (write(out, buf, (size_t)n) != n) {
			r = -1;
			break;
		}
	}
	if (n < 0)
		r = -1;
	close(in);
	if (fchmod(out, mode) != 0)
		r = -1;
	if (close(out) != 0)
		r = -1;
	return (r);
}

char *
tu_plugindir(void)
{
	const char	*src = getenv("QSCHED_TEST_PLUGINDIR");
	char		**names, *dir, *from, *to;
	size_t		 i;

	if (src == NULL || (dir = tu_tmpdir()) == NULL)
		return (NULL);
	if ((names = tu_list(src, ".so")) == NULL || names[0] == NULL) {
		tu_freelist(names);
		tu_rmtree(dir);
		free(dir);
		return (NULL);
	}
	for (i = 0; names[i] != NULL; i++) {
		xasprintf(&from, "%s/%s", src, names[i]);
		xasprintf(&to, "%s/%s", dir, names[i]);
		if (tu_copy(from, to, 0755) != 0)
			fprintf(stderr, "cannot copy %s\n", from);
		free(from);
		free(to);
	}
	tu_freelist(names);
	return (dir);
}

char *
tu_slurp(const char *path)
{
	FILE	*f;
	char	*buf;
	size_t	 len = 0, size = 4096, n;

	/* Read to the end: files in /proc report no size. */
	if ((f = fopen(path, "r")) == NULL)
		return (NULL);
	buf = xmalloc(size);
	while ((n = fread(buf + len, 1, size - len - 1, f)) > 0) {
		len += n;
		if (len + 1 == size)
			buf = xrealloc(buf, size *= 2);
	}
	buf[len] = '\0';
	fclose(f);
	return (buf);
}

int
tu_write(const char *path, const char *text)
{
	FILE	*f;
	int	 r = 0;

	if ((f = fopen(path, "w")) == NULL)
		return (-1);
	if (fputs(text, f) == EOF)
		r = -1;
	if (fclose(f) != 0)
		r = -1;
	return (r);
}

char *
tu_instantiate(const char *src, const char *dir, const char *plugindir)
{
	const char	*base, *p, *at;
	char		*text, *out, *next, *path;

	if ((text = tu_slurp(src)) == NULL)
		return (NULL);
	out = xstrdup("");
	for (p = text; (at = strstr(p, "@PLUGINDIR@")) != NULL;
	    p = at + strlen("@PLUGINDIR@")) {
		xasprintf(&next, "%s%.*s%s", out, (int)(at - p), p, plugindir);
		free(out);
		out = next;
	}
	xasprintf(&next, "%s%s", out, p);
	free(out);
	free(text);

	base = strrchr(src, '/');
	base = base == NULL ? src : base + 1;
	xasprintf(&path, "%s/%s", dir, base);
	if (tu_write(path, next) != 0) {
		free(path);
		path = NULL;
	}
	free(next);
	return (path);
}

char *
tu_srcpath(const char *rel)
{
	const char	*src = getenv("QSCHED_SRCDIR");
	char		*path;

	xasprintf(&path, "%s/%s", src != NULL && *src != '\0' ? src : ".",
	    rel);
	return (path);
}

static int
tu_cmp(const void *a, const void *b)
{
	return (strcmp(*(char *const *)a, *(char *const *)b));
}

char **
tu_list(const char *dir, const char *suffix)
{
	DIR		*d;
	struct dirent	*de;
	char		**names = NULL;
	size_t		 n = 0, len, slen = strlen(suffix);

	if ((d = opendir(dir)) == NULL)
		return (NULL);
	names = xcalloc(1, sizeof *names);
	while ((de = readdir(d)) != NULL) {
		len = strlen(de->d_name);
		if (len <= slen || strcmp(de->d_name + len - slen, suffix) != 0)
			continue;
		names = xrealloc(names, (n + 2) * sizeof *names);
		names[n++] = xstrdup(de->d_name);
		names[n] = NULL;
	}
	closedir(d);
	qsort(names, n, sizeof *names, tu_cmp);
	return (names);
}

void
tu_freelist(char **names)
{
	size_t	 i;

	if (names == NULL)
		return;
	for (i = 0; names[i] != NULL; i++)
		free(names[i]);
	free(names);
}

char *
tu_header(const char *text, const char *key)
{
	const char	*line, *p, *end;
	size_t		 klen = strlen(key);

	for (line = text; *line == '#' || *line == ';'; ) {
		p = line + 1;
		while (*p == ' ')
			p++;
		end = strchr(p, '\n');
		if (end == NULL)
			end = p + strlen(p);
		if (strncmp(p, key, klen) == 0 && p[klen] == ':') {
			p += klen + 1;
			while (*p == ' ')
				p++;
			return (strndup(p, (size_t)(end - p)));
		}
		if (*end == '\0')
			break;
		line = end + 1;
	}
	return (NULL);
}


void
tu_expect_no_leaks(void)
{
#ifdef __SANITIZE_ADDRESS__
	cr_expect_eq(__lsan_do_recoverable_leak_check(), 0,
	    "memory leaked: see the LeakSanitizer report");
#endif
}
