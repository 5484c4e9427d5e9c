/*
 * tz.c - IANA time zones, design section 3.2.
 *
 * qsched is single-threaded, so a zone is selected by setting TZ and
 * calling tzset(); the zone last selected is remembered, since tzset()
 * stats the zone file on every call and the daemon converts times in the
 * same few zones over and over.  Callers always name the zone they want,
 * so nothing is restored afterwards.
 *
 * The local (civil) time of an instant t is written f(t) = t + offset(t)
 * below, counted in seconds like a UTC time_t.  f rises with slope 1 and
 * jumps at each transition: forwards over a gap (spring), backwards into
 * a repeated range (autumn).
 */
#include "qsched.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define TZ_NAME_MAX	255
#define TZ_DAY		86400

static char	tz_current[TZ_NAME_MAX + 1];

/*
 * Make ZONE the zone of localtime_r().  The cache is checked against the
 * environment too, so a TZ changed behind our back is noticed.
 */
static void
tz_use(const char *zone)
{
	const char	*env;

	if (zone == NULL || *zone == '\0')
		zone = "UTC";
	env = getenv("TZ");
	if (tz_current[0] != '\0' && env != NULL &&
	    strcmp(tz_current, zone) == 0 && strcmp(env, zone) == 0)
		return;
	setenv("TZ", zone, 1);
	tzset();
	snprintf(tz_current, sizeof tz_current, "%s", zone);
}

/*
 * Names are relative paths below the tz database made of ordinary
 * components; this refuses absolute paths, "..", hidden files and
 * anything glibc might read as a POSIX TZ rule instead of a file.
 */
static int
tz_name_valid(const char *zone)
{
	const char	*p;
	size_t		 len = strlen(zone);
	bool		 start = true;

	if (len == 0 || len > TZ_NAME_MAX)
		return (-1);
	for (p = zone; *p != '\0'; p++) {
		if (start && (*p == '.' || *p == '/' || *p == '-' ||
		    *p == '+'))
			return (-1);
		start = (*p == '/');
		if (*p == '/' || *p == '_' || *p == '-' || *p == '+' ||
		    *p == '.')
			continue;
		if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9'))
			continue;
		return (-1);
	}
	if (start)		/* ends with '/' */
		return (-1);
	return (0);
}

int
tz_check(const char *zone, char *err, size_t errlen)
{
	const char	*dir;
	char		 path[4096], magic[4];
	struct stat	 st;
	int		 fd;
	ssize_t		 n;

	if (zone == NULL || *zone == '\0') {
		snprintf(err, errlen, "empty time zone name");
		return (-1);
	}
	if (tz_name_valid(zone) != 0) {
		snprintf(err, errlen, "unknown time zone \"%s\"", zone);
		return (-1);
	}
	/* These count leap seconds in time_t, which nothing else does. */
	if (strncmp(zone, "right/", 6) == 0) {
		snprintf(err, errlen, "unknown time zone \"%s\": leap second "
		    "zones are not supported", zone);
		return (-1);
	}
	dir = getenv("TZDIR");
	if (dir == NULL || *dir == '\0')
		dir = "/usr/share/zoneinfo";
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, zone) >=
	    sizeof path) {
		snprintf(err, errlen, "unknown time zone \"%s\"", zone);
		return (-1);
	}
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd == -1) {
		snprintf(err, errlen, "unknown time zone \"%s\"", zone);
		return (-1);
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, errlen, "unknown time zone \"%s\"", zone);
		return (-1);
	}
	do
		n = read(fd, magic, sizeof magic);
	while (n == -1 && errno == EINTR);
	close(fd);
	if (n != (ssize_t)sizeof magic || memcmp(magic, "TZif", 4) != 0) {
		snprintf(err, errlen, "unknown time zone \"%s\": %s is not a "
		    "tz database file", zone, path);
		return (-1);
	}
	return (0);
}

void
tz_localtime(const char *zone, time_t t, struct tm *tm)
{
	tz_use(zone);
	if (localtime_r(&t, tm) == NULL)
		memset(tm, 0, sizeof *tm);
}

/* The UTC offset in effect at instant T, in seconds east. */
static long
tz_offset(time_t t)
{
	struct tm	 tm;

	if (localtime_r(&t, &tm) == NULL)
		return (0);
	return (tm.tm_gmtoff);
}

/*
 * The first instant t with f(t) >= C.
 *
 * Offsets are taken a day before and a day after C (read as an instant):
 * every instant whose local time can be C lies between those two, since
 * no zone is more than 14 hours from UTC.  This assumes a zone changes
 * its offset at most once within that window, which holds for the whole
 * tz database since 1900.  With early and late offsets, the candidates
 * are C - early and C - late; a candidate is real when the zone has that
 * offset at that instant.  Two real candidates: C is repeated, take the
 * first.  None: C lies in a gap, and the answer is the transition, found
 * by bisection on f(t) >= C (f is increasing across a forward jump).
 */
time_t
tz_civil_to_instant(const char *zone, const struct tm *civil)
{
	struct tm	 tm = *civil;
	time_t		 c, t1, t2, lo, hi, mid;
	long		 early, late;
	bool		 ok1, ok2;

	tm.tm_isdst = 0;
	c = timegm(&tm);	/* civil fields counted as seconds */
	tz_use(zone);
	early = tz_offset(c - TZ_DAY);
	late = tz_offset(c + TZ_DAY);
	t1 = c - early;
	t2 = c - late;
	ok1 = (tz_offset(t1) == early);
	ok2 = (t2 == t1) ? ok1 : (tz_offset(t2) == late);
	if (ok1 && ok2)
		return (t1 < t2 ? t1 : t2);
	if (ok1)
		return (t1);
	if (ok2)
		return (t2);

	/* In a gap: f(lo) < C <= f(hi); find the first t with f(t) >= C. */
	lo = t1 < t2 ? t1 : t2;
	hi = t1 < t2 ? t2 : t1;
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (mid + tz_offset(mid) >= c)
			hi = mid;
		else
			lo = mid;
	}
	return (hi);
}

char *
tz_format(const char *zone, time_t t, char *buf, size_t len)
{
	struct tm	 tm;

	tz_localtime(zone, t, &tm);
	if (len > 0 && strftime(buf, len, "%Y-%m-%d %H:%M:%S %Z", &tm) == 0)
		buf[0] = '\0';
	return (buf);
}

char *
tz_format_utc(time_t t, char *buf, size_t len)
{
	struct tm	 tm;

	if (gmtime_r(&t, &tm) == NULL)
		memset(&tm, 0, sizeof tm);
	if (len > 0 && strftime(buf, len, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		buf[0] = '\0';
	return (buf);
}
