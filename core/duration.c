/*
 * duration.c - durations written as text: "500ms", "30s", "5m", "2h",
 * "14d", sequences such as "1h30m", and "0" alone.
 *
 * A duration always carries its unit: a bare "30" in a config file is
 * ambiguous (seconds? milliseconds?) and the only safe answer is to refuse
 * it.  "0" is the one exception, since it means the same in every unit.
 */
#include "qsched.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>

struct duration_unit {
	const char	*name;
	int64_t		 ms;
};

/* Largest first: duration_format() walks this table in order. */
static const struct duration_unit duration_units[] = {
	{ "d",	86400000 },
	{ "h",	3600000 },
	{ "m",	60000 },
	{ "s",	1000 },
	{ "ms",	1 },
};
#define DURATION_NUNITS	(sizeof duration_units / sizeof duration_units[0])

static const struct duration_unit *
duration_find_unit(const char *name, size_t len)
{
	size_t	 i;

	for (i = 0; i < DURATION_NUNITS; i++) {
		if (strlen(duration_units[i].name) == len &&
		    strncmp(duration_units[i].name, name, len) == 0)
			return (&duration_units[i]);
	}
	return (NULL);
}

int
duration_parse(const char *text, int64_t *ms, char *err, size_t errlen)
{
	const struct duration_unit *u;
	const char	*p, *unit;
	int64_t		 total = 0, n;
	size_t		 ulen;

	if (text == NULL || *text == '\0') {
		snprintf(err, errlen, "bad duration \"\": empty");
		return (-1);
	}
	if (strcmp(text, "0") == 0) {
		*ms = 0;
		return (0);
	}
	if (*text == '-') {
		snprintf(err, errlen, "bad duration \"%s\": negative", text);
		return (-1);
	}

	p = text;
	while (*p != '\0') {
		if (!isdigit((unsigned char)*p)) {
			snprintf(err, errlen,
			    "bad duration \"%s\": expected a number at \"%s\"",
			    text, p);
			return (-1);
		}
		n = 0;
		while (isdigit((unsigned char)*p)) {
			if (n > (INT64_MAX - (*p - '0')) / 10)
				goto overflow;
			n = n * 10 + (*p - '0');
			p++;
		}

		unit = p;
		while (isalpha((unsigned char)*p))
			p++;
		ulen = (size_t)(p - unit);
		if (ulen == 0) {
			if (*p == '\0')
				snprintf(err, errlen, "bad duration \"%s\": "
				    "missing unit (ms, s, m, h or d)", text);
			else
				snprintf(err, errlen, "bad duration \"%s\": "
				    "unexpected \"%c\"", text, *p);
			return (-1);
		}
		if ((u = duration_find_unit(unit, ulen)) == NULL) {
			snprintf(err, errlen,
			    "bad duration \"%s\": unknown unit \"%.*s\"", text,
			    (int)ulen, unit);
			return (-1);
		}
		if (n > INT64_MAX / u->ms)
			goto overflow;
		n *= u->ms;
		if (total > INT64_MAX - n)
			goto overflow;
		total += n;
	}
	*ms = total;
	return (0);

overflow:
	snprintf(err, errlen, "bad duration \"%s\": too large", text);
	return (-1);
}

/*
 * The shortest exact form: 90000 is "1m30s", 1500 is "1s500ms", 0 is "0".
 */
char *
duration_format(int64_t ms, char *buf, size_t len)
{
	uint64_t	 left, n;
	size_t		 used = 0, i;
	int		 r;

	if (len == 0)
		return (buf);
	buf[0] = '\0';
	if (ms == 0) {
		snprintf(buf, len, "0");
		return (buf);
	}
	if (ms < 0) {
		snprintf(buf, len, "-");
		used = 1;
		left = (uint64_t)(-(ms + 1)) + 1;	/* INT64_MIN too */
	} else
		left = (uint64_t)ms;

	for (i = 0; i < DURATION_NUNITS && left != 0; i++) {
		n = left / (uint64_t)duration_units[i].ms;
		if (n == 0)
			continue;
		left -= n * (uint64_t)duration_units[i].ms;
		if (used >= len)
			break;
		r = snprintf(buf + used, len - used, "%llu%s",
		    (unsigned long long)n, duration_units[i].name);
		if (r < 0)
			break;
		used += (size_t)r;
	}
	return (buf);
}
