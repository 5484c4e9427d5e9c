/*
 * book.c - the daemon's bookkeeping connection: it claims fires and
 * records outcomes, and it may go away at any time.
 *
 * A lost connection is noticed when a query fails, or at once when the
 * server closes it while the daemon idles (its socket turns readable).
 * The daemon then reconnects with capped exponential backoff, logs the
 * outage once and later failures at doubling intervals (collectd's
 * "complain"), holds the outcomes of runs that end meanwhile and records
 * them when it is back.
 */
#include "daemon.h"

#include <stdio.h>
#include <stdlib.h>

#define BOOK_BACKOFF_MIN_MS	1000	/* first reconnect delay */
#define BOOK_BACKOFF_MAX_MS	60000
#define BOOK_COMPLAIN_MIN_MS	60000	/* outage log lines: then doubling */
#define BOOK_COMPLAIN_MAX_MS	3600000
#define BOOK_RETENTION_MS	3600000	/* history retention pass: hourly */
#define BOOK_ABANDON_MS		10000	/* dead-process check, at most */

void
book_down(struct daemon *d, const char *why)
{
	int64_t	 mono = clock_mono_ms();
	char	 dur[32];

	if (d->book != NULL) {
		PQfinish(d->book);
		d->book = NULL;
	}
	if (!d->down) {
		d->down = true;
		d->down_since = mono;
		d->attempts = 1;
		d->missed = 0;
		d->backoff = BOOK_BACKOFF_MIN_MS;
		d->complain_every = BOOK_COMPLAIN_MIN_MS;
		d->complain_at = mono + d->complain_every;
		log_err("database unreachable: %s; fires are missed until it "
		    "is back (catch_up jobs then run once); reconnecting", why);
	} else {
		d->attempts++;
		if (mono >= d->complain_at) {
			log_warn("database still unreachable after %s (%d "
			    "attempts): %s", duration_format(mono -
			    d->down_since, dur, sizeof dur), d->attempts, why);
			d->complain_every *= 2;
			if (d->complain_every > BOOK_COMPLAIN_MAX_MS)
				d->complain_every = BOOK_COMPLAIN_MAX_MS;
			d->complain_at = mono + d->complain_every;
		}
		d->backoff *= 2;
		if (d->backoff > BOOK_BACKOFF_MAX_MS)
			d->backoff = BOOK_BACKOFF_MAX_MS;
	}
	d->reconnect_at = mono + d->backoff;
}

/* A bookkeeping query failed: was it the connection? */
bool
book_lost(struct daemon *d, const char *why)
{
	if (d->book != NULL && PQstatus(d->book) == CONNECTION_OK)
		return (false);
	book_down(d, why);
	return (true);
}

static void
book_record_held(struct daemon *d)
{
	struct run	*r;
	char		 err[QSCHED_ERRLEN];

	while ((r = d->unrecorded) != NULL && d->book != NULL) {
		if (run_finish(r, d->book, !d->stopping, "daemon", err,
		    sizeof err) == -1) {
			if (book_lost(d, err))
				return;
			log_run(QSCHED_LOG_ERR, r->job->name, r->id, "%s", err);
		} else
			log_run(QSCHED_LOG_INFO, r->job->name, r->id,
			    "recorded %s (held during the outage)",
			    run_status_name(r->status));
		if (r->retry_id != 0)
			daemon_retry_due(d, clock_mono_ms() +
			    r->retry_delay_ms);
		d->unrecorded = r->next;
		run_free(r);
	}
	daemon_gc(d);
}

/* Server messages (a FATAL on shutdown, say) go to our log, not raw to
 * stderr as libpq's default would. */
static void
book_notice(void *arg, const char *message)
{
	(void)arg;
	log_notice("database says: %s", message);
}

int
book_connect(struct daemon *d)
{
	PGconn	*c;
	char	 err[QSCHED_ERRLEN], dur[32];
	int64_t	 mono;

	c = db_connect(d->cfg->database, "qsched", NULL, err, sizeof err);
	if (c != NULL)
		(void)PQsetNoticeProcessor(c, book_notice, NULL);
	if (c != NULL && (schema_ensure(c, err, sizeof err) == -1 ||
	    history_abandon_dead(c, err, sizeof err) == -1 ||
	    history_heartbeat(c, d->cfg, "daemon", NULL, err,
	    sizeof err) == -1)) {
		PQfinish(c);
		c = NULL;
	}
	if (c == NULL) {
		book_down(d, err);
		return (-1);
	}
	d->book = c;
	mono = clock_mono_ms();
	if (d->down)
		log_notice("database reachable again after %s; %ld fires "
		    "were missed", duration_format(mono - d->down_since, dur,
		    sizeof dur), d->missed);
	d->down = false;
	d->abandon_at = mono + BOOK_ABANDON_MS;
	d->beat_at = mono + HISTORY_HEARTBEAT_MS;
	d->retry_at = mono;	/* retries due while no daemon ran */
	if (d->cfg->history_retention_ms > 0)
		d->retention_at = mono;
	book_record_held(d);
	return (0);
}

/* The server may end an idle connection (restart): notice it at once. */
void
book_input(struct daemon *d)
{
	PGnotify	*n;
	char		 err[QSCHED_ERRLEN];

	if (PQconsumeInput(d->book) == 0 || PQstatus(d->book) !=
	    CONNECTION_OK) {
		book_down(d, db_error(NULL, d->book, err, sizeof err));
		return;
	}
	while ((n = PQnotifies(d->book)) != NULL)
		PQfreemem(n);
}

void
book_retention(struct daemon *d, int64_t mono)
{
	char	 err[QSCHED_ERRLEN], dur[32];
	int	 n;

	if (d->book == NULL || d->retention_at == 0 || mono < d->retention_at)
		return;
	/* A pass deletes only folded runs: fold what is final first. */
	if (d->retention_done == 0 && totals_fold(d->book, err,
	    sizeof err) == -1) {
		if (!book_lost(d, err))
			log_err("%s", err);
		d->retention_at = mono + BOOK_RETENTION_MS;
		return;
	}
	n = retention_step(d->book, d->cfg->history_retention_ms, err,
	    sizeof err);
	if (n == -1) {
		if (!book_lost(d, err))
			log_err("%s", err);
		d->retention_at = mono + BOOK_RETENTION_MS;
		return;
	}
	d->retention_done += n;
	if (n == RETENTION_BATCH) {
		d->retention_at = mono;	/* the next batch after what is due */
		return;
	}
	if (d->retention_done > 0)
		log_info("history retention: deleted %lld runs older than %s",
		    (long long)d->retention_done, duration_format(
		    d->cfg->history_retention_ms, dur, sizeof dur));
	d->retention_done = 0;
	d->retention_at = mono + BOOK_RETENTION_MS;
	d->abandon_at = 0;	/* hourly at least */
}

/* Rows of this host whose qsched died (kill -9 of another daemon). */
void
book_abandon(struct daemon *d, int64_t mono)
{
	char	 err[QSCHED_ERRLEN];

	if (d->book == NULL || mono < d->abandon_at)
		return;
	d->abandon_at = mono + BOOK_ABANDON_MS;
	if (history_abandon_dead(d->book, err, sizeof err) == -1 &&
	    !book_lost(d, err))
		log_err("%s", err);
}

void
book_heartbeat(struct daemon *d, int64_t mono)
{
	char	 err[QSCHED_ERRLEN];
	int64_t	 retry_in = -1;

	if (d->book == NULL || mono < d->beat_at)
		return;
	d->beat_at = mono + HISTORY_HEARTBEAT_MS;
	if (history_heartbeat(d->book, d->cfg, "daemon", &retry_in, err,
	    sizeof err) == -1) {
		if (!book_lost(d, err))
			log_err("%s", err);
		return;
	}
	/* Retries others scheduled come to light here. */
	if (retry_in >= 0)
		daemon_retry_due(d, mono + retry_in);
}
