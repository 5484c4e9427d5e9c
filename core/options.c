/*
 * options.c - plugin option values, parsed and checked against the table
 * the plugin declares (struct qsched_option), so a typo in jobs.conf or on
 * the command line is caught before any run.
 */
#include "qsched.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *const option_true[] = { "true", "yes", "on", "1" };
static const char *const option_false[] = { "false", "no", "off", "0" };

int
option_parse_bool(const char *text, bool *out)
{
	size_t	 i;

	if (text == NULL)
		return (-1);
	for (i = 0; i < sizeof option_true / sizeof option_true[0]; i++) {
		if (strcasecmp(text, option_true[i]) == 0) {
			*out = true;
			return (0);
		}
		if (strcasecmp(text, option_false[i]) == 0) {
			*out = false;
			return (0);
		}
	}
	return (-1);
}

const struct qsched_option *
option_find(const struct qsched_option *table, const char *name)
{
	if (table == NULL || name == NULL)
		return (NULL);
	for (; table->name != NULL; table++) {
		if (strcmp(table->name, name) == 0)
			return (table);
	}
	return (NULL);
}

/* Is TEXT one of the '|'-separated CHOICES? */
static int
option_in_choices(const char *choices, const char *text)
{
	const char	*p = choices, *end;
	size_t		 len = strlen(text);

	for (;;) {
		end = strchr(p, '|');
		if (end == NULL)
			end = p + strlen(p);
		if ((size_t)(end - p) == len && strncmp(p, text, len) == 0)
			return (1);
		if (*end == '\0')
			return (0);
		p = end + 1;
	}
}

/* Strict decimal int64: no blanks, no trailing garbage, no overflow. */
static int
option_parse_int(const char *text, int64_t *out)
{
	char		*end;
	long long	 n;

	if (*text == '\0' || isspace((unsigned char)*text))
		return (-1);
	errno = 0;
	n = strtoll(text, &end, 10);
	if (errno != 0 || *end != '\0')
		return (-1);
	*out = (int64_t)n;
	return (0);
}

/* Bounds apply to INT and DURATION unless min == max == 0. */
static int
option_check_range(const struct qsched_option *def, int64_t n, char *err,
    size_t errlen)
{
	char	 a[64], b[64];

	if (def->min == 0 && def->max == 0)
		return (0);
	if (n >= def->min && n <= def->max)
		return (0);
	if (def->type == QSCHED_OPT_DURATION) {
		duration_format(n, a, sizeof a);
		duration_format(n < def->min ? def->min : def->max, b,
		    sizeof b);
	} else {
		snprintf(a, sizeof a, "%" PRId64, n);
		snprintf(b, sizeof b, "%" PRId64,
		    n < def->min ? def->min : def->max);
	}
	snprintf(err, errlen, "%s: %s is %s the %s %s", def->name, a,
	    n < def->min ? "below" : "above",
	    n < def->min ? "minimum" : "maximum", b);
	return (-1);
}

int
option_parse(const struct qsched_option *def, const char *text,
    struct option_value *v, char *err, size_t errlen)
{
	char	 derr[QSCHED_ERRLEN];
	int64_t	 n = 0;
	bool	 b;

	if (text == NULL)
		text = "";
	switch (def->type) {
	case QSCHED_OPT_STRING:
		if (def->choices != NULL &&
		    !option_in_choices(def->choices, text)) {
			snprintf(err, errlen, "%s: \"%s\" is not one of %s",
			    def->name, text, def->choices);
			return (-1);
		}
		break;
	case QSCHED_OPT_INT:
		if (option_parse_int(text, &n) != 0) {
			snprintf(err, errlen, "%s: \"%s\" is not an integer",
			    def->name, text);
			return (-1);
		}
		if (option_check_range(def, n, err, errlen) != 0)
			return (-1);
		break;
	case QSCHED_OPT_BOOL:
		if (option_parse_bool(text, &b) != 0) {
			snprintf(err, errlen, "%s: \"%s\" is not a boolean "
			    "(true/false, yes/no, on/off, 1/0)", def->name,
			    text);
			return (-1);
		}
		n = b ? 1 : 0;
		break;
	case QSCHED_OPT_DURATION:
		if (duration_parse(text, &n, derr, sizeof derr) != 0) {
			snprintf(err, errlen, "%s: %s", def->name, derr);
			return (-1);
		}
		if (option_check_range(def, n, err, errlen) != 0)
			return (-1);
		break;
	default:
		snprintf(err, errlen, "%s: unknown option type %d", def->name,
		    (int)def->type);
		return (-1);
	}

	free(v->text);
	v->text = xstrdup(text);
	v->num = n;
	v->def = def;
	return (0);
}
