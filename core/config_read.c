/*
 * config_read.c - the text of jobs.conf as libconfuse is given it.
 */
#include "config_parse.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_MAXSIZE		(4 * 1024 * 1024)

/*
 * Read PATH and blank out its comments, keeping newlines so libconfuse's
 * line count stays right.  Also refuse what libconfuse would take
 * silently or report without a line: a "{", a string or a comment never
 * closed.
 */
char *
config_read(struct config_parse *cp)
{
	FILE		*f;
	struct stat	 sb;
	char		*buf, *p, prev = '\n';
	int		 line = 1, depth = 0, start = 0;
	int		 opened[64];
	size_t		 n;
	enum { NORMAL, DQ, SQ, LINE, BLOCK } st = NORMAL;

	if ((f = fopen(cp->path, "r")) == NULL) {
		snprintf(cp->err, cp->errlen, "cannot open %s: %s", cp->path,
		    strerror(errno));
		cp->failed = true;
		return (NULL);
	}
	if (fstat(fileno(f), &sb) != 0 || sb.st_size > CONFIG_MAXSIZE) {
		config_fail(cp, 0, "not a config file (larger than %d bytes)",
		    CONFIG_MAXSIZE);
		fclose(f);
		return (NULL);
	}
	buf = xmalloc((size_t)sb.st_size + 1);
	n = fread(buf, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		config_fail(cp, 0, "read error: %s", strerror(errno));
		fclose(f);
		free(buf);
		return (NULL);
	}
	fclose(f);
	buf[n] = '\0';
	if (strlen(buf) != n) {
		int	 nul_line = 1;

		for (char *q = buf; *q != '\0'; q++)
			if (*q == '\n')
				nul_line++;
		config_fail(cp, nul_line, "contains a NUL byte");
		free(buf);
		return (NULL);
	}

	for (p = buf; *p != '\0'; prev = *p, p++) {
		switch (st) {
		case NORMAL:
			if (*p == '"' || *p == '\'') {
				st = *p == '"' ? DQ : SQ;
				start = line;
			} else if (*p == '#' ||
			    (*p == '/' && p[1] == '/' &&
			    strchr(" \t\r\n{}()=,+\"'", prev) != NULL)) {
				st = LINE;
				*p = ' ';
			} else if (*p == '/' && p[1] == '*' &&
			    strchr(" \t\r\n{}()=,+\"'", prev) != NULL) {
				st = BLOCK;
				start = line;
				p[0] = p[1] = ' ';
				p++;
			} else if (*p == '{') {
				if (depth < (int)(sizeof opened /
				    sizeof opened[0]))
					opened[depth] = line;
				depth++;
			} else if (*p == '}' && depth > 0)
				depth--;
			break;
		case DQ:
		case SQ:
			if (*p == '\\' && p[1] != '\0')
				p++;	/* counted below if a newline */
			else if (*p == (st == DQ ? '"' : '\''))
				st = NORMAL;
			break;
		case LINE:
			if (*p == '\n')
				st = NORMAL;
			else
				*p = ' ';
			break;
		case BLOCK:
			if (p[0] == '*' && p[1] == '/') {
				p[0] = p[1] = ' ';
				p++;
				st = NORMAL;
			} else if (*p != '\n')
				*p = ' ';
			break;
		}
		if (*p == '\n')
			line++;
	}
	if (st == BLOCK || st == DQ || st == SQ) {
		if (st == BLOCK)
			config_fail(cp, start, "comment never closed "
			    "(\"*/\" missing)");
		else
			config_fail(cp, start, "string never closed "
			    "(%c missing)", st == DQ ? '"' : '\'');
		free(buf);
		return (NULL);
	}
	if (depth > 0) {
		config_fail(cp, depth <= (int)(sizeof opened /
		    sizeof opened[0]) ? opened[depth - 1] : line,
		    "\"{\" is never closed");
		free(buf);
		return (NULL);
	}
	return (buf);
}
