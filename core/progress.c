/*
 * progress.c - how a long run shows its progress to the person who started
 * it: a live line (done/total, rate, ETA) on a terminal, and without one a
 * log line every PROGRESS_LOG_EVERY_MS.
 */
#include "qsched.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#define PROGRESS_LOG_EVERY_MS	10000

static bool	progress_line_shown;
static int64_t	progress_logged;

static void
progress_eta(int64_t secs, char *buf, size_t len)
{
	if (secs < 0)
		snprintf(buf, len, "?");
	else if (secs >= 3600)
		snprintf(buf, len, "%lldh%02lldm", (long long)(secs / 3600),
		    (long long)(secs % 3600 / 60));
	else
		snprintf(buf, len, "%lldm%02llds", (long long)(secs / 60),
		    (long long)(secs % 60));
}

void
progress_show(const struct run *r)
{
	int64_t	 now = clock_mono_ms(), elapsed = now - r->started_mono;
	double	 rate = elapsed > 0 ? (double)r->done * 1000.0 / elapsed : 0;
	char	 line[320], eta[32], pct[16] = "";
	int64_t	 left = -1;
	size_t	 n;

	if (r->total > 0) {
		snprintf(pct, sizeof pct, " (%.1f%%)",
		    100.0 * (double)r->done / (double)r->total);
		if (rate > 0)
			left = (int64_t)((double)(r->total - r->done) / rate);
	}
	progress_eta(left, eta, sizeof eta);
	if (r->total > 0)
		snprintf(line, sizeof line, "%s: %lld/%lld%s  %.0f/s  ETA %s",
		    r->job->name, (long long)r->done, (long long)r->total, pct,
		    rate, eta);
	else
		snprintf(line, sizeof line, "%s: %lld done  %.0f/s",
		    r->job->name, (long long)r->done, rate);
	n = strlen(line);
	if (r->state != NULL)
		snprintf(line + n, sizeof line - n, "  [%s]", r->state);

	if (isatty(STDERR_FILENO)) {
		/* \r and erase-to-end: the line is redrawn in place. */
		fprintf(stderr, "\r%s\033[K", line);
		fflush(stderr);
		progress_line_shown = true;
	} else if (now - (progress_logged > r->started_mono ? progress_logged :
	    r->started_mono) >= PROGRESS_LOG_EVERY_MS) {
		progress_logged = now;
		log_run(QSCHED_LOG_INFO, r->job->name, r->id, "progress %s",
		    line + strlen(r->job->name) + 2);
	}
}

void
progress_clear(void)
{
	if (progress_line_shown) {
		fprintf(stderr, "\r\033[K");
		fflush(stderr);
		progress_line_shown = false;
	}
}
