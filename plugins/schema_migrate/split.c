/*
 * split.c - cut a SQL script into statements.  A no-transaction migration
 * must send its statements one at a time: PostgreSQL runs a multi-statement
 * query string in one implicit transaction, where CREATE INDEX
 * CONCURRENTLY is refused.
 *
 * The lexer knows just enough SQL to find the semicolons that end
 * statements: '' strings (with E'' backslash escapes), "" identifiers,
 * $tag$ dollar quotes, -- comments and nested block comments.
 */
#include <config.h>

#include <ctype.h>
#include <string.h>

#include "migrate.h"

/* Skip blanks and comments from I; returns the index of what follows. */
static size_t
split_skip_blank(const char *s, size_t i)
{
	for (;;) {
		while (isspace((unsigned char)s[i]))
			i++;
		if (s[i] == '-' && s[i + 1] == '-') {
			while (s[i] != '\0' && s[i] != '\n')
				i++;
		} else if (s[i] == '/' && s[i + 1] == '*') {
			int	 depth = 1;

			for (i += 2; s[i] != '\0' && depth > 0; i++) {
				if (s[i] == '/' && s[i + 1] == '*') {
					depth++;
					i++;
				} else if (s[i] == '*' && s[i + 1] == '/') {
					depth--;
					i++;
				}
			}
		} else
			return (i);
	}
}

/* The length of a dollar-quote tag at S ("$$" or "$name$"), or 0. */
static size_t
split_dollar_tag(const char *s)
{
	size_t	 n = 1;

	if (s[0] != '$')
		return (0);
	if (isdigit((unsigned char)s[1]))
		return (0);		/* $1 is a parameter */
	while (isalnum((unsigned char)s[n]) || s[n] == '_')
		n++;
	return (s[n] == '$' ? n + 1 : 0);
}

bool
split_next(const char *s, size_t *pos, size_t *start, size_t *len)
{
	size_t	 i = split_skip_blank(s, *pos), tag, end;

	if (s[i] == '\0') {
		*pos = i;
		return (false);
	}
	*start = i;
	while (s[i] != '\0' && s[i] != ';') {
		if (s[i] == '\'') {
			bool	 esc = i > 0 && (s[i - 1] == 'E' || s[i - 1] == 'e');

			for (i++; s[i] != '\0'; i++) {
				if (esc && s[i] == '\\' && s[i + 1] != '\0')
					i++;
				else if (s[i] == '\'' && s[i + 1] == '\'')
					i++;
				else if (s[i] == '\'')
					break;
			}
			if (s[i] != '\0')
				i++;
		} else if (s[i] == '"') {
			for (i++; s[i] != '\0'; i++) {
				if (s[i] == '"' && s[i + 1] == '"')
					i++;
				else if (s[i] == '"')
					break;
			}
			if (s[i] != '\0')
				i++;
		} else if ((tag = split_dollar_tag(s + i)) > 0 &&
		    (i == 0 || !(isalnum((unsigned char)s[i - 1]) ||
		    s[i - 1] == '_'))) {
			const char *close;

			i += tag;
			close = s + i;
			while ((close = strchr(close, '$')) != NULL &&
			    strncmp(close, s + i - tag, tag) != 0)
				close++;
			i = close == NULL ? strlen(s) : (size_t)(close - s) + tag;
		} else if ((s[i] == '-' && s[i + 1] == '-') ||
		    (s[i] == '/' && s[i + 1] == '*'))
			i = split_skip_blank(s, i);
		else
			i++;
	}
	/* Trailing blanks belong to no one. */
	for (end = i; end > *start && isspace((unsigned char)s[end - 1]);
	    end--)
		;
	*len = end - *start;
	*pos = s[i] == ';' ? i + 1 : i;
	return (true);
}
