/*
 * flags.c - the migration feature flags in flags.ini, design section 3.5.
 *
 * The file is re-read at the start of every run, so a mistake in it must
 * be reported precisely (FILE:LINE) and must never be half-applied: either
 * the whole file is valid or flags_load() fails and leaves *f untouched.
 *
 * inih calls the handler without a line number (Debian builds it without
 * INI_HANDLER_LINENO), so flags_load() feeds it through its own line
 * reader and counts lines there.
 */
#include "qsched.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

#define FLAGS_SECTION	"queue_migration"

const char *const flag_names[FLAG_COUNT] = {
	"use_new_queues",
	"populate_separated_tables",
	"fallback_to_legacy",
	"populate_legacy_queue",
};

/* Indexed like flag_names[]. */
static const bool flag_defaults[FLAG_COUNT] = {
	false,		/* use_new_queues */
	true,		/* populate_separated_tables */
	true,		/* fallback_to_legacy */
	false,		/* populate_legacy_queue */
};

/* Inline comments may start with ';' or '#' (after a blank), as in
 * Python's configparser. */
static char	flags_inline_prefixes[] = ";#";

struct flags_parse {
	const char	*path;
	FILE		*fp;
	struct flags	 flags;
	int		 line;		/* line being parsed */
	bool		 line_done;	/* last read ended with a newline */
	char		 text[256];	/* the line being parsed, for messages */
	char		*err;
	size_t		 errlen;
	bool		 failed;
};

static void
flags_defaults(struct flags *f)
{
	int	 i;

	for (i = 0; i < FLAG_COUNT; i++) {
		f->value[i] = flag_defaults[i];
		f->line[i] = 0;
	}
}

static int
flags_index(const char *name)
{
	int	 i;

	for (i = 0; i < FLAG_COUNT; i++) {
		if (strcmp(flag_names[i], name) == 0)
			return (i);
	}
	return (-1);
}

static void
flags_fail(struct flags_parse *fp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Keep only the first error: inih is told to stop there. */
static void
flags_fail(struct flags_parse *fp, const char *fmt, ...)
{
	char	 msg[QSCHED_ERRLEN];
	va_list	 ap;

	if (fp->failed)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	snprintf(fp->err, fp->errlen, "%s:%d: %s", fp->path, fp->line, msg);
	fp->failed = true;
}

/*
 * A section header names a section inih will report only with its keys;
 * an unknown one is refused here, on its own line, even when empty.
 */
static int
flags_check_header(struct flags_parse *fp, const char *s)
{
	const char	*end;

	while (isspace((unsigned char)*s))
		s++;
	if (*s != '[' || (end = strchr(s + 1, ']')) == NULL)
		return (0);
	if ((size_t)(end - s - 1) == strlen(FLAGS_SECTION) &&
	    strncmp(s + 1, FLAGS_SECTION, strlen(FLAGS_SECTION)) == 0)
		return (0);
	flags_fail(fp, "unknown section [%.*s] (expected [%s])",
	    (int)(end - s - 1), s + 1, FLAGS_SECTION);
	return (-1);
}

static char *
flags_reader(char *buf, int num, void *arg)
{
	struct flags_parse *fp = arg;
	size_t		 len;

	if (fp->failed || fgets(buf, num, fp->fp) == NULL)
		return (NULL);
	len = strlen(buf);
	/* A line longer than buf arrives in pieces: count it once. */
	if (fp->line_done) {
		fp->line++;
		snprintf(fp->text, sizeof fp->text, "%s", buf);
		if (flags_check_header(fp, buf) != 0)
			return (NULL);
	}
	fp->line_done = (len > 0 && buf[len - 1] == '\n');
	return (buf);
}

static int
flags_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct flags_parse *fp = arg;
	bool		 b;
	int		 i;

	if (strcmp(section, FLAGS_SECTION) != 0) {
		if (*section == '\0')
			flags_fail(fp, "flag '%s' outside a section "
			    "(expected [%s] first)", name, FLAGS_SECTION);
		else
			flags_fail(fp, "unknown section [%s]", section);
		return (0);
	}
	if ((i = flags_index(name)) == -1) {
		flags_fail(fp, "unknown flag '%s'", name);
		return (0);
	}
	if (fp->flags.line[i] != 0) {
		flags_fail(fp, "duplicate flag '%s' (first set on line %d)",
		    name, fp->flags.line[i]);
		return (0);
	}
	if (option_parse_bool(value, &b) != 0) {
		flags_fail(fp, "%s: \"%s\" is not a boolean "
		    "(true/false, yes/no, on/off, 1/0)", name, value);
		return (0);
	}
	fp->flags.value[i] = b;
	fp->flags.line[i] = fp->line;
	return (1);
}

/* Name the syntax error inih found on the current line. */
static void
flags_syntax_error(struct flags_parse *fp)
{
	const char	*s = fp->text;
	size_t		 len;
	bool		 indented = isspace((unsigned char)*s);

	while (isspace((unsigned char)*s))
		s++;
	len = strcspn(s, "\r\n");
	while (len > 0 && isspace((unsigned char)s[len - 1]))
		len--;
	if (indented)
		flags_fail(fp, "unexpected indented line \"%.*s\" "
		    "(continuation lines are not supported)", (int)len, s);
	else if (*s == '[')
		flags_fail(fp, "section header without ']': \"%.*s\"",
		    (int)len, s);
	else
		flags_fail(fp, "expected NAME = VALUE, found \"%.*s\"",
		    (int)len, s);
}

int
flags_load(const char *path, struct flags *f, char *err, size_t errlen)
{
	struct flags_parse fp;
	int		 r;

	if (path == NULL || *path == '\0') {
		flags_defaults(f);
		return (0);
	}

	memset(&fp, 0, sizeof fp);
	fp.path = path;
	fp.err = err;
	fp.errlen = errlen;
	fp.line_done = true;
	flags_defaults(&fp.flags);
	if ((fp.fp = fopen(path, "r")) == NULL) {
		snprintf(err, errlen, "cannot open %s: %s", path,
		    strerror(errno));
		return (-1);
	}

	/*
	 * An indented line must be an error, not silently appended to the
	 * previous value; stop at the first error so the line inih returns
	 * is the one the handler complained about.
	 */
	ini_allow_multiline = false;
	ini_stop_on_first_error = true;
	ini_inline_comment_prefixes = flags_inline_prefixes;

	r = ini_parse_stream(flags_reader, &fp, flags_handler, &fp);
	if (ferror(fp.fp) && !fp.failed) {
		snprintf(err, errlen, "cannot read %s: %s", path,
		    strerror(errno));
		fclose(fp.fp);
		return (-1);
	}
	fclose(fp.fp);

	if (r > 0 && !fp.failed)
		flags_syntax_error(&fp);
	else if (r < 0 && !fp.failed) {
		snprintf(err, errlen, "%s: cannot parse (inih error %d)", path,
		    r);
		return (-1);
	}
	if (fp.failed)
		return (-1);
	*f = fp.flags;
	return (0);
}

int
flags_get(const struct flags *f, const char *name)
{
	int	 i;

	if (name == NULL || (i = flags_index(name)) == -1)
		return (-1);
	return (f->value[i] ? 1 : 0);
}

char *
flags_json(const struct flags *f)
{
	char	*out, *next;
	int	 i;

	out = xstrdup("{");
	for (i = 0; i < FLAG_COUNT; i++) {
		xasprintf(&next, "%s%s\"%s\":%s", out, i == 0 ? "" : ",",
		    flag_names[i], f->value[i] ? "true" : "false");
		free(out);
		out = next;
	}
	xasprintf(&next, "%s}", out);
	free(out);
	return (next);
}
