/*
 * log.c - logging to stderr, design section 3.7.
 *
 * Under systemd (JOURNAL_STREAM set) each line starts with the "<N>" syslog
 * priority and carries no timestamp, since the journal adds its own;
 * otherwise lines start with an ISO 8601 timestamp and the level name.
 */
#include "qsched.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int	log_level = QSCHED_LOG_INFO;
static bool	log_journal;

static const char *const log_level_names[] = {
	"emerg", "alert", "crit", "error", "warning", "notice", "info", "debug",
};

void
log_init(void)
{
	const char	*js = getenv("JOURNAL_STREAM");

	log_journal = (js != NULL && *js != '\0');
}

void
log_set_level(int level)
{
	if (level < QSCHED_LOG_ERR)
		level = QSCHED_LOG_ERR;
	if (level > QSCHED_LOG_DEBUG)
		level = QSCHED_LOG_DEBUG;
	log_level = level;
}

int
log_get_level(void)
{
	return (log_level);
}

/*
 * Build the whole line first and write it with one write(2), so lines from
 * the daemon and its workers never interleave mid-line.
 */
static void
log_emit(int level, const char *prefix, const char *fmt, va_list ap)
{
	char		 line[4096];
	size_t		 n = 0;
	int		 saved = errno, r;

	if (level > log_level)
		return;
	if (log_journal)
		r = snprintf(line, sizeof line, "<%d>", level);
	else {
		char		 ts[32];
		struct tm	 tm;
		int64_t		 now = clock_now_ms();
		time_t		 secs = (time_t)(now / 1000);

		gmtime_r(&secs, &tm);
		strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
		r = snprintf(line, sizeof line, "%s.%03dZ qsched[%ld] %s: ", ts,
		    (int)(now % 1000), (long)getpid(), log_level_names[level]);
	}
	if (r > 0)
		n = (size_t)r < sizeof line ? (size_t)r : sizeof line - 1;
	if (prefix != NULL && n < sizeof line) {
		r = snprintf(line + n, sizeof line - n, "%s", prefix);
		if (r > 0)
			n += (size_t)r < sizeof line - n ? (size_t)r :
			    sizeof line - n - 1;
	}
	if (n < sizeof line) {
		r = vsnprintf(line + n, sizeof line - n, fmt, ap);
		if (r > 0)
			n += (size_t)r < sizeof line - n ? (size_t)r :
			    sizeof line - n - 1;
	}
	/* Multi-line server messages become one log line. */
	for (size_t i = 0; i < n; i++)
		if (line[i] == '\n')
			line[i] = ' ';
	while (n > 0 && line[n - 1] == ' ')
		n--;
	line[n++] = '\n';
	(void)write(STDERR_FILENO, line, n);
	errno = saved;
}

void
log_vmsg(int level, const char *fmt, va_list ap)
{
	log_emit(level, NULL, fmt, ap);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_emit(level, NULL, fmt, ap);
	va_end(ap);
}

void
log_vrun(int level, const char *job, int64_t run_id, const char *fmt,
    va_list ap)
{
	char	 prefix[256];

	snprintf(prefix, sizeof prefix, "job=%s run=%lld: ", job,
	    (long long)run_id);
	log_emit(level, prefix, fmt, ap);
}

void
log_run(int level, const char *job, int64_t run_id, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vrun(level, job, run_id, fmt, ap);
	va_end(ap);
}
