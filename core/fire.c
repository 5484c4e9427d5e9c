/*
 * fire.c - when each job fires, as the daemon sees it.
 *
 * Fire times are instants (time_t), computed by cron_next with the job's
 * zone and DST rules, so the wall clock's readings are only compared with
 * them: a clock set back makes the daemon wait for the instants again and
 * nothing fires twice; a clock set forward (or a suspend, or a loop held
 * up) makes several fires due at once, and they coalesce into the latest
 * one, which runs if it is at most FIRE_GRACE_MS late and is otherwise
 * missed.  A missed fire of a catch_up job is run once, as a catch-up.
 */
#include "qsched.h"

/*
 * The latest fire in (after, until].  cron_next only looks forward, so
 * windows ending at UNTIL grow by doubling until one holds a fire, and
 * the fires of that window are walked forward: the walk sees at most the
 * fires of the window's older half.
 */
int
fire_latest(const struct job *job, time_t after, time_t until,
    time_t *latest)
{
	time_t	 t, n, from, w;

	if (until <= after || cron_next(&job->cron, job->timezone, after,
	    &t) == -1 || t > until)
		return (-1);
	for (w = 1;; w *= 2) {
		from = until - w > after ? until - w : after;
		if (cron_next(&job->cron, job->timezone, from, &t) == 0 &&
		    t <= until)
			break;
		if (from == after)
			return (-1);	/* not reached: there is one */
	}
	while (cron_next(&job->cron, job->timezone, t, &n) == 0 && n <= until)
		t = n;
	*latest = t;
	return (0);
}

static bool
fire_scheduled(const struct job *job)
{
	return (job->enabled && !job->cron.manual);
}

void
fire_start(struct fire *f, const struct job *job, time_t now,
    int64_t horizon_ms)
{
	time_t	 horizon = (time_t)(horizon_ms / 1000);

	f->next = f->catchup = 0;
	if (!fire_scheduled(job))
		return;
	if (cron_next(&job->cron, job->timezone, now, &f->next) == -1)
		f->next = 0;
	/*
	 * Only a fire whose row would still be in the history can be told
	 * apart from one that ran: beyond the horizon (history_retention)
	 * its row may have been deleted, and a catch-up would run it again.
	 */
	if (job->catch_up && horizon > 0 &&
	    fire_latest(job, now - horizon, now, &f->catchup) == -1)
		f->catchup = 0;
}

enum fire_due
fire_due(struct fire *f, const struct job *job, int64_t now_ms, time_t *when,
    time_t *first)
{
	time_t	 now = (time_t)(now_ms / 1000), latest;

	if (f->next == 0 || (int64_t)f->next * 1000 > now_ms)
		return (FIRE_NONE);
	*first = latest = f->next;
	(void)fire_latest(job, f->next, now, &latest);
	if (cron_next(&job->cron, job->timezone, latest, &f->next) == -1)
		f->next = 0;
	*when = latest;
	if (now_ms - (int64_t)latest * 1000 <= FIRE_GRACE_MS)
		return (FIRE_RUN);
	fire_missed(f, job, latest);
	return (FIRE_MISSED);
}

void
fire_missed(struct fire *f, const struct job *job, time_t when)
{
	if (job->catch_up && fire_scheduled(job) && when > f->catchup)
		f->catchup = when;
}
