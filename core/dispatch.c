/*
 * dispatch.c - the daemon's fires become runs: claim and start them,
 * reap their workers, record them, retry them, catch up missed ones.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Claim and start one fire.  0 when it is done with (started, claimed
 * elsewhere, recorded blocked or failed); -1 when it could not be claimed
 * (the database is away, or the claim failed: logged).
 */
static int
dispatch_start(struct daemon *d, struct job *job, enum trigger trigger,
    time_t when, int attempt)
{
	struct flags	 flags;
	struct run	*r;
	char		 err[QSCHED_ERRLEN], at[64];
	int		 rc;

	if (d->book == NULL)
		return (-1);
	r = run_new(d->cfg, job, trigger, when, attempt, false);
	/* Flags are read for every run; a bad file fails the run. */
	if (flags_load(d->cfg, &flags, err, sizeof err) == -1) {
		r->message = xstrdup(err);
		r->status = RUN_FAILED;
		rc = history_insert(d->book, r, RUN_FAILED, err, sizeof err);
		if (rc == 0 && r->id != 0)
			log_run(QSCHED_LOG_ERR, job->name, r->id, "failed: %s",
			    r->message);
	} else if ((rc = run_begin(r, d->book, &flags, err, sizeof err)) ==
	    1) {
		r->next = d->runs;
		d->runs = r;
		return (0);
	}
	if (rc == -1) {
		if (!book_lost(d, err))
			log_err("job=%s: %s", job->name, err);
		run_free(r);
		return (-1);
	}
	if (r->id == 0)
		log_debug("job=%s: the fire of %s is claimed already (by "
		    "another qsched, or it ran before)", job->name,
		    daemon_when(job, when, at, sizeof at));
	run_free(r);
	return (0);
}

static void
dispatch_retry_add(struct daemon *d, const struct run *r)
{
	struct daemon_retry *t = xcalloc(1, sizeof *t);
	int64_t		 delay = run_retry_delay_ms(r->job, r->attempt);
	char		 dur[32];

	t->job = xstrdup(r->job->name);
	t->scheduled_for = r->scheduled_for;
	t->attempt = r->attempt + 1;
	t->due = clock_mono_ms() + delay;
	t->next = d->retries;
	d->retries = t;
	log_run(QSCHED_LOG_NOTICE, r->job->name, r->id, "retrying in %s "
	    "(attempt %d of %d)", duration_format(delay, dur, sizeof dur),
	    t->attempt, r->job->retries + 1);
}

void
dispatch_retry_free(struct daemon_retry *t)
{
	free(t->job);
	free(t);
}

/* A run's worker is gone: record it, maybe retry it. */
static void
dispatch_end(struct daemon *d, struct run *r)
{
	char	 err[QSCHED_ERRLEN];
	bool	 held = false;

	if (run_end(r, d->book, err, sizeof err) == -1) {
		if (d->book == NULL || book_lost(d, err))
			held = true;
		else
			log_run(QSCHED_LOG_ERR, r->job->name, r->id, "%s", err);
	}
	if (!d->stopping && r->status == RUN_FAILED && r->retryable &&
	    r->attempt <= r->job->retries)
		dispatch_retry_add(d, r);
	if (held) {
		r->next = d->unrecorded;
		d->unrecorded = r;
	} else
		run_free(r);
}

bool
dispatch_reap(struct daemon *d)
{
	struct run	*r, **rp;
	pid_t		 pid;
	int		 wstatus;
	bool		 ended = false;

	while ((pid = waitpid(-1, &wstatus, WNOHANG)) > 0) {
		for (r = d->runs; r != NULL && r->pid != pid; r = r->next)
			;
		if (r == NULL)
			continue;
		/* Whatever it wrote before exiting is in the pipe. */
		run_read(r, d->book);
		if (r->fd != -1) {
			close(r->fd);
			r->fd = -1;
		}
		run_reaped(r, wstatus);
	}
	for (rp = &d->runs; (r = *rp) != NULL;) {
		if (r->pid != 0) {
			rp = &r->next;
			continue;
		}
		*rp = r->next;
		r->next = NULL;
		dispatch_end(d, r);
		ended = true;
	}
	if (ended)
		daemon_gc(d);
	return (ended);
}

bool
dispatch_fires(struct daemon *d, int64_t now_ms)
{
	struct job	*job;
	struct fire	*f;
	time_t		 when, first;
	char		 a[64], b[64], dur[32];
	bool		 fired = false;

	for (size_t i = 0; i < d->cfg->njobs; i++) {
		job = &d->cfg->jobs[i];
		f = &d->fires[i];
		switch (fire_due(f, job, now_ms, &when, &first)) {
		case FIRE_NONE:
			continue;
		case FIRE_RUN:
			if (first < when && !d->down)
				log_notice("job=%s: fires from %s to %s came "
				    "together; only the last one runs",
				    job->name, daemon_when(job, first, a,
				    sizeof a), daemon_when(job, when, b,
				    sizeof b));
			if (dispatch_start(d, job, TRIGGER_SCHEDULE, when,
			    1) == -1) {
				fire_missed(f, job, when);
				d->missed++;
			}
			fired = true;
			break;
		case FIRE_MISSED:
			if (d->down) {
				d->missed++;
				break;
			}
			log_warn("job=%s: missed the fires from %s to %s (%s "
			    "late)%s", job->name, daemon_when(job, first, a,
			    sizeof a), daemon_when(job, when, b, sizeof b),
			    duration_format(now_ms - (int64_t)when * 1000, dur,
			    sizeof dur), job->catch_up ? "; catch_up runs the "
			    "last one once" : "");
			break;
		}
	}
	return (fired);
}

bool
dispatch_catchups(struct daemon *d)
{
	struct job	*job;
	time_t		 when;
	char		 at[64];
	bool		 fired = false;

	for (size_t i = 0; i < d->cfg->njobs && d->book != NULL; i++) {
		if ((when = d->fires[i].catchup) == 0)
			continue;
		job = &d->cfg->jobs[i];
		d->fires[i].catchup = 0;
		/* Claimed only if no run of that fire is recorded. */
		log_debug("job=%s: catching up the fire of %s if it did not "
		    "run", job->name, daemon_when(job, when, at, sizeof at));
		if (dispatch_start(d, job, TRIGGER_CATCHUP, when, 1) == -1 &&
		    d->book == NULL)
			d->fires[i].catchup = when;	/* after reconnecting */
		fired = true;
	}
	return (fired);
}

bool
dispatch_retries(struct daemon *d, int64_t mono)
{
	struct daemon_retry **tp = &d->retries, *t;
	struct job	*job;
	bool		 fired = false;

	while ((t = *tp) != NULL && d->book != NULL) {
		if (t->due > mono) {
			tp = &t->next;
			continue;
		}
		*tp = t->next;
		job = config_job(d->cfg, t->job);
		if (job == NULL || !job->enabled)
			log_notice("job=%s: retry dropped: the job is %s since "
			    "the reload", t->job, job == NULL ? "gone" :
			    "disabled");
		else if (dispatch_start(d, job, TRIGGER_RETRY, t->scheduled_for,
		    t->attempt) == -1 && d->book == NULL) {
			t->next = *tp;	/* again once reconnected */
			*tp = t;
			break;
		}
		dispatch_retry_free(t);
		fired = true;
	}
	return (fired);
}
