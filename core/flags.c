/*
 * flags.c - feature flags in flags.ini, design section 3.5.  The core knows
 * no flag by name: plugins declare the flags they read (their descriptor's
 * flags table) and jobs.conf may declare more (flag "name" { }); the file
 * is checked against what is declared.
 *
 * The file is re-read at the start of every run, so a mistake in it must
 * be reported precisely (FILE:LINE) and must never be half-applied: either
 * the whole file is valid or flags_load() fails and leaves *f untouched.
 *
 * inih calls the handler without a line number (Debian builds it without
 * INI_HANDLER_LINENO), so flags_load() feeds it through its own line
 * reader, which counts lines and reads them whole (flags_reader()).
 */
#include "qsched.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <ini.h>

/* Inline comments may start with ';' or '#' (after a blank), as in
 * Python's configparser. */
static char	flags_inline_prefixes[] = ";#";

struct flags_parse {
	const char	*path;
	FILE		*fp;
	struct flags	 flags;
	int		 line;		/* line being parsed */
	char		 text[256];	/* the line being parsed, for messages */
	char		*raw;		/* getline()'s buffer */
	size_t		 rawcap;
	char		*err;
	size_t		 errlen;
	bool		 failed;
};

struct flag_decl *
flags_find_decl(const struct config *c, const char *name)
{
	for (size_t i = 0; i < c->nflags; i++)
		if (strcmp(c->flags[i].name, name) == 0)
			return (&c->flags[i]);
	return (NULL);
}

int
flags_declare(struct config *c, const char *section, const char *name,
    bool default_value, const char *help, const char *declared_by,
    char *err, size_t errlen)
{
	struct flag_decl *d;

	if (c->nflags == FLAGS_MAX) {
		snprintf(err, errlen, "%s: flag \"%s\": more than %d flags "
		    "declared", c->path, name, FLAGS_MAX);
		return (-1);
	}
	c->flags = xrealloc(c->flags, (c->nflags + 1) * sizeof *c->flags);
	d = &c->flags[c->nflags++];
	d->section = xstrdup(section);
	d->name = xstrdup(name);
	d->default_value = default_value;
	d->help = xstrdup(help != NULL ? help : "");
	d->declared_by = xstrdup(declared_by);
	return (0);
}

void
flags_defaults(const struct config *c, struct flags *f)
{
	memset(f, 0, sizeof *f);
	f->cfg = c;
	f->n = c->nflags;
	for (size_t i = 0; i < f->n; i++)
		f->value[i] = c->flags[i].default_value;
}

static int
flags_index(const struct flags *f, const char *name)
{
	for (size_t i = 0; i < f->n; i++)
		if (strcmp(f->cfg->flags[i].name, name) == 0)
			return ((int)i);
	return (-1);
}

static bool
flags_section_known(const struct flags *f, const char *section, size_t len)
{
	for (size_t i = 0; i < f->n; i++) {
		const char *s = f->cfg->flags[i].section;

		if (strlen(s) == len && strncmp(s, section, len) == 0)
			return (true);
	}
	return (false);
}

/* "[a], [b]" for messages. */
static void
flags_sections(const struct flags *f, char *buf, size_t len)
{
	size_t	 n = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < f->n && n < len; i++) {
		const char *s = f->cfg->flags[i].section;
		size_t	 j;

		for (j = 0; j < i; j++)
			if (strcmp(f->cfg->flags[j].section, s) == 0)
				break;
		if (j == i)
			n += (size_t)snprintf(buf + n, len - n, "%s[%s]",
			    n ? ", " : "", s);
	}
	if (buf[0] == '\0')
		snprintf(buf, len, "none: no flag is declared");
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
	char		 known[256];

	while (isspace((unsigned char)*s))
		s++;
	if (*s != '[' || (end = strchr(s + 1, ']')) == NULL)
		return (0);
	if (flags_section_known(&fp->flags, s + 1, (size_t)(end - s - 1)))
		return (0);
	flags_sections(&fp->flags, known, sizeof known);
	flags_fail(fp, "unknown section [%.*s] (declared: %s)",
	    (int)(end - s - 1), s + 1, known);
	return (-1);
}

/* Where an inline comment starts (';' or '#' after a blank), or NULL. */
static char *
flags_inline_comment(char *s)
{
	for (char *p = s + 1; *p != '\0'; p++)
		if ((*p == ';' || *p == '#') && isspace((unsigned char)p[-1]))
			return (p);
	return (NULL);
}

/*
 * inih reads through a buffer of INI_MAX_LINE bytes.  Whole lines are read
 * here instead, of any length: a NUL byte is an error on its line (inih
 * would stop the value there), comment lines of any length are blank to
 * inih, and only what inih must parse ("name = value") has to fit.
 */
static char *
flags_reader(char *buf, int num, void *arg)
{
	struct flags_parse *fp = arg;
	ssize_t		 n;
	char		*s, *c;
	size_t		 len;

	if (fp->failed || (n = getline(&fp->raw, &fp->rawcap, fp->fp)) < 0)
		return (NULL);
	fp->line++;
	s = fp->raw;
	if (strlen(s) != (size_t)n) {
		snprintf(fp->text, sizeof fp->text, "%s", s);
		flags_fail(fp, "contains a NUL byte");
		return (NULL);
	}
	snprintf(fp->text, sizeof fp->text, "%s", s);
	while (isspace((unsigned char)*s) && *s != '\n')
		s++;
	if (*s == ';' || *s == '#') {
		snprintf(buf, (size_t)num, "\n");
		return (buf);
	}
	if ((c = flags_inline_comment(fp->raw)) != NULL) {
		c[0] = '\n';
		c[1] = '\0';
	}
	if (flags_check_header(fp, fp->raw) != 0)
		return (NULL);
	len = strlen(fp->raw);
	if (len >= (size_t)num) {
		flags_fail(fp, "line too long (%zu bytes; a flag line holds "
		    "at most %d)", len, num - 2);
		return (NULL);
	}
	memcpy(buf, fp->raw, len + 1);
	return (buf);
}

static int
flags_handler(void *arg, const char *section, const char *name,
    const char *value)
{
	struct flags_parse *fp = arg;
	const struct flag_decl *d;
	char		 known[256];
	bool		 b;
	int		 i;

	if (*section == '\0') {
		flags_sections(&fp->flags, known, sizeof known);
		flags_fail(fp, "flag '%s' outside a section (declared "
		    "sections: %s)", name, known);
		return (0);
	}
	if ((i = flags_index(&fp->flags, name)) == -1) {
		flags_fail(fp, "unknown flag '%s' (no plugin and no flag "
		    "section of jobs.conf declares it)", name);
		return (0);
	}
	d = &fp->flags.cfg->flags[i];
	if (strcmp(d->section, section) != 0) {
		flags_fail(fp, "flag '%s' belongs in [%s], not [%s]", name,
		    d->section, section);
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
flags_load(const struct config *c, struct flags *f, char *err, size_t errlen)
{
	const char	*path = c->flags_file;
	struct flags_parse fp;
	int		 r;

	if (path == NULL || *path == '\0') {
		flags_defaults(c, f);
		return (0);
	}

	memset(&fp, 0, sizeof fp);
	fp.path = path;
	fp.err = err;
	fp.errlen = errlen;
	flags_defaults(c, &fp.flags);
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
		free(fp.raw);
		return (-1);
	}
	fclose(fp.fp);
	free(fp.raw);

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

	if (f == NULL || name == NULL || (i = flags_index(f, name)) == -1)
		return (-1);
	return (f->value[i] ? 1 : 0);
}

char *
flags_json(const struct flags *f)
{
	struct buf	 b = { NULL, 0, 0 };

	buf_puts(&b, "{");
	for (size_t i = 0; f != NULL && i < f->n; i++) {
		if (i > 0)
			buf_puts(&b, ",");
		buf_json_string(&b, f->cfg->flags[i].name);
		buf_puts(&b, f->value[i] ? ":true" : ":false");
	}
	buf_puts(&b, "}");
	return (buf_take(&b));
}
