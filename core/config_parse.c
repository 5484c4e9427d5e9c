/*
 * config_parse.c - what config_parse.h declares: the first error of a
 * load, and the line table that gives every key of jobs.conf its line
 * (libconfuse keeps only a section's), shared by config.c, config_read.c
 * and config_jobs.c while one file is loaded.
 */
#include "config_parse.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
config_fail(struct config_parse *cp, int line, const char *fmt, ...)
{
	char	 msg[QSCHED_ERRLEN], *p;
	va_list	 ap;

	if (cp->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	/* A value quoted over several lines must not break the one line. */
	for (p = msg; *p != '\0'; p++) {
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	}
	if (line > 0)
		snprintf(cp->err, cp->errlen, "%s:%d: %s", cp->path, line, msg);
	else
		snprintf(cp->err, cp->errlen, "%s: %s", cp->path, msg);
	cp->failed = true;
}

struct config_line *
config_find_line(struct config_parse *cp, cfg_t *sec, const char *key)
{
	size_t	 i;

	for (i = 0; i < cp->nlines; i++) {
		if (cp->lines[i].sec == sec && strcmp(cp->lines[i].key, key) == 0)
			return (&cp->lines[i]);
	}
	return (NULL);
}

void
config_note_line(struct config_parse *cp, cfg_t *sec, const char *key,
    int line)
{
	struct config_line *l;

	if (cp->nlines == cp->alines) {
		cp->alines = cp->alines == 0 ? 32 : cp->alines * 2;
		cp->lines = xrealloc(cp->lines, cp->alines * sizeof *cp->lines);
	}
	l = &cp->lines[cp->nlines++];
	l->sec = sec;
	l->key = xstrdup(key);
	l->line = line;
}

int
config_line_of(struct config_parse *cp, cfg_t *sec, const char *key,
    int fallback)
{
	struct config_line *l;

	if ((l = config_find_line(cp, sec, key)) == NULL)
		return (fallback);
	return (l->line);
}

int
config_job_line(cfg_t *js)
{
	cfg_t	*mark = cfg_getsec(js, CONFIG_MARK);

	return (mark != NULL ? mark->line : js->line);
}

