/*
 * dispatch.c - the daemon's fires become runs: claim and start them,
 * reap their workers, record them, retry them, catch up missed ones.
 */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

/*
 * Claim and start one fire, or a claimed retry (ID its row).  0 when it is
 * done with (started, claimed elsewhere, recorded blocked or failed); -1
 * when it could not be claimed (the database is away, or the claim
 * failed: logged).
 */
static int
dispatch_start(struct daemon *d, struct job *job, enum trigger trigger,
    time_t when, int attempt, int64_t id)
{
	struct run	*r;
	char		 err[QSCHED_ERRLEN], at[64];
	int		 rc;

	if (d->book == NULL)
		return (-1);
	r = run_new(d->cfg, job, trigger, when, attempt, false);
	r->id = id;
	if ((rc = run_start(r, d->book, err, sizeof err)) == 1) {
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

/* A run's worker is gone: record it, maybe schedule its retry. */
static void
dispatch_end(struct daemon *d, struct run *r)
{
	char	 err[QSCHED_ERRLEN];

	if (d->book == NULL || run_finish(r, d->book, !d->stopping, "daemon",
	    err, sizeof err) == -1) {
		if (d->book == NULL || book_lost(d, err)) {
			/* Recorded, and its retry scheduled, once back. */
			r->next = d->unrecorded;
			d->unrecorded = r;
			return;
		}
		log_run(QSCHED_LOG_ERR, r->job->name, r->id, "%s", err);
	}
	if (r->retry_id != 0)
		daemon_retry_due(d, clock_mono_ms() + r->retry_delay_ms);
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
		if (r != NULL)
			run_drain(r, d->book, wstatus);
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
			    1, 0) == -1) {
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
		if (dispatch_start(d, job, TRIGGER_CATCHUP, when, 1, 0) == -1 &&
		    d->book == NULL)
			d->fires[i].catchup = when;	/* after reconnecting */
		fired = true;
	}
	return (fired);
}

/*
 * Retries are rows (run.c): any daemon runs a due one once, whoever
 * scheduled it, so a daemon that died while waiting loses nothing.  Looked
 * for at every heartbeat and when one this daemon knows of is due.
 */
bool
dispatch_retries(struct daemon *d, int64_t mono)
{
	PGresult	*res;
	struct job	*job;
	char		 err[QSCHED_ERRLEN];
	bool		 fired = false;
	int64_t		 id, due_in;
	int		 got;

	if (d->book == NULL || d->retry_at == 0 || mono < d->retry_at)
		return (false);
	d->retry_at = 0;
	if ((res = history_due_retries(d->book, d->cfg, err,
	    sizeof err)) == NULL) {
		if (!book_lost(d, err))
			log_err("%s", err);
		return (false);
	}
	for (int i = 0; i < PQntuples(res) && d->book != NULL; i++) {
		due_in = atoll(PQgetvalue(res, i, 4));
		if (due_in > 0) {
			daemon_retry_due(d, mono + due_in);
			break;
		}
		id = atoll(PQgetvalue(res, i, 0));
		job = config_job(d->cfg, PQgetvalue(res, i, 1));
		if (job == NULL || !job->enabled)
			continue;	/* left for a qsched that runs it */
		if ((got = history_claim_retry(d->book, id, err,
		    sizeof err)) == -1) {
			if (!book_lost(d, err))
				log_err("job=%s: %s", job->name, err);
			break;
		}
		if (got == 0)
			continue;	/* another qsched took it */
		(void)dispatch_start(d, job, TRIGGER_RETRY,
		    (time_t)atoll(PQgetvalue(res, i, 2)),
		    atoi(PQgetvalue(res, i, 3)), id);
		fired = true;
	}
	PQclear(res);
	return (fired);
}
