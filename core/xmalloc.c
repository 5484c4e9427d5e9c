/*
 * xmalloc.c - allocation that cannot fail: qsched exits on exhaustion
 * rather than carrying half-built state.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void __attribute__((noreturn))
xmalloc_fail(size_t n)
{
	log_err("out of memory allocating %zu bytes", n);
	_exit(QSCHED_EXIT_FAILED);
}

void *
xmalloc(size_t n)
{
	void	*p = malloc(n == 0 ? 1 : n);

	if (p == NULL)
		xmalloc_fail(n);
	return (p);
}

void *
xcalloc(size_t nmemb, size_t size)
{
	void	*p = calloc(nmemb == 0 ? 1 : nmemb, size == 0 ? 1 : size);

	if (p == NULL)
		xmalloc_fail(nmemb * size);
	return (p);
}

void *
xrealloc(void *old, size_t n)
{
	void	*p = realloc(old, n == 0 ? 1 : n);

	if (p == NULL)
		xmalloc_fail(n);
	return (p);
}

char *
xstrdup(const char *s)
{
	char	*p = strdup(s);

	if (p == NULL)
		xmalloc_fail(strlen(s) + 1);
	return (p);
}

int
xasprintf(char **out, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(out, fmt, ap);
	va_end(ap);
	if (n < 0)
		xmalloc_fail(0);
	return (n);
}
