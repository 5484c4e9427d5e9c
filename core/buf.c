/*
 * buf.c - a growing NUL-terminated string.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
buf_add(struct buf *b, const char *s, size_t n)
{
	if (b->len + n + 1 > b->cap) {
		size_t	 cap = b->cap == 0 ? 256 : b->cap;

		while (b->len + n + 1 > cap)
			cap *= 2;
		b->data = xrealloc(b->data, cap);
		b->cap = cap;
	}
	memcpy(b->data + b->len, s, n);
	b->len += n;
	b->data[b->len] = '\0';
}

void
buf_puts(struct buf *b, const char *s)
{
	buf_add(b, s, strlen(s));
}

void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	if (n < 0) {
		log_err("out of memory formatting a string");
		return;
	}
	buf_add(b, s, (size_t)n);
	free(s);
}

/* RFC 8259: escape quotes, backslashes and control characters. */
void
buf_json_string(struct buf *b, const char *s)
{
	char	 esc[8];

	buf_add(b, "\"", 1);
	for (; *s != '\0'; s++) {
		unsigned char	 c = (unsigned char)*s;

		switch (c) {
		case '"':
			buf_add(b, "\\\"", 2);
			break;
		case '\\':
			buf_add(b, "\\\\", 2);
			break;
		case '\n':
			buf_add(b, "\\n", 2);
			break;
		case '\r':
			buf_add(b, "\\r", 2);
			break;
		case '\t':
			buf_add(b, "\\t", 2);
			break;
		default:
			if (c < 0x20) {
				snprintf(esc, sizeof esc, "\\u%04x", c);
				buf_add(b, esc, 6);
			} else
				buf_add(b, s, 1);
		}
	}
	buf_add(b, "\"", 1);
}

char *
buf_take(struct buf *b)
{
	char	*s = b->data;

	if (s == NULL)
		s = xstrdup("");
	b->data = NULL;
	b->len = b->cap = 0;
	return (s);
}

void
buf_free(struct buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}
