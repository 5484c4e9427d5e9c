/*
 * throttle.c - the backfill's health throttling: between batches it
 * waits while the database is unhealthy, so the agents' claims keep
 * their latency.  The signals, the pause and its counters are the shared
 * ones of plugins/common/health.c (also used by legacy_deprecation);
 * this file maps backfill.h's struct throttle onto struct health, field
 * for field, and names the backfill's tables: vacuum on the two targets,
 * lock waiters on the targets and on call_queue, which it reads.
 */
#include <config.h>

#include <string.h>

#include "backfill.h"
#include "../common/health.h"

_Static_assert((int)THROTTLE_NSIGNALS == (int)HEALTH_NSIGNALS,
    "backfill.h's throttle signals are health.h's");

const char *const throttle_signals[THROTTLE_NSIGNALS] = {
	"vacuum", "lock_waiters", "replica_lag", "archive", "canary",
};

#define THROTTLE_TARGETS						\
	"ARRAY['unsigned_users_queue'::regclass, "			\
	"'outstanding_requests_queue'::regclass]"
#define THROTTLE_LOCKED							\
	"ARRAY['unsigned_users_queue'::regclass, "			\
	"'outstanding_requests_queue'::regclass, 'call_queue'::regclass]"

static void
throttle_to(const struct throttle *th, struct health *h)
{
	memset(h, 0, sizeof *h);
	h->targets = THROTTLE_TARGETS;
	h->locked = THROTTLE_LOCKED;
	h->enabled = th->enabled;
	h->vacuum = th->vacuum;
	h->lock_waiters = th->lock_waiters;
	h->archiving = th->archiving;
	h->archive_off = th->archive_off;
	h->interval_ms = th->interval_ms;
	h->max_lag_ms = th->max_lag_ms;
	h->max_archive = th->max_archive;
	h->canary_ms = th->canary_ms;
	h->canary_queue = th->canary_queue;
	h->last_check_us = th->last_check_us;
	memcpy(h->reason, th->reason, sizeof h->reason);
	h->signal = th->signal;
	h->pauses = th->pauses;
	memcpy(h->by, th->by, sizeof h->by);
	h->paused_us = th->paused_us;
	h->pause_start_us = th->pause_start_us;
	h->canaries = th->canaries;
	h->canary_max_us = th->canary_max_us;
	h->archive_ready = th->archive_ready;
}

static void
throttle_from(struct throttle *th, const struct health *h)
{
	th->enabled = h->enabled;
	th->vacuum = h->vacuum;
	th->lock_waiters = h->lock_waiters;
	th->archiving = h->archiving;
	th->archive_off = h->archive_off;
	th->interval_ms = h->interval_ms;
	th->max_lag_ms = h->max_lag_ms;
	th->max_archive = h->max_archive;
	th->canary_ms = h->canary_ms;
	th->canary_queue = h->canary_queue;
	th->last_check_us = h->last_check_us;
	memcpy(th->reason, h->reason, sizeof th->reason);
	th->signal = h->signal;
	th->pauses = h->pauses;
	memcpy(th->by, h->by, sizeof th->by);
	th->paused_us = h->paused_us;
	th->pause_start_us = h->pause_start_us;
	th->canaries = h->canaries;
	th->canary_max_us = h->canary_max_us;
	th->archive_ready = h->archive_ready;
}

void
throttle_init(const struct qsched_host *host, struct qsched_run *run,
    struct throttle *th)
{
	struct health	 h;

	health_init(host, run, &h, THROTTLE_TARGETS, THROTTLE_LOCKED);
	memset(th, 0, sizeof *th);
	throttle_from(th, &h);
}

int
throttle_check(const struct qsched_host *host, struct qsched_run *run,
    struct throttle *th, char *why, size_t len, int *sig)
{
	struct health	 h;
	int		 rc;

	throttle_to(th, &h);
	rc = health_check(host, run, &h, why, len, sig);
	throttle_from(th, &h);
	return (rc);
}

void
throttle_begin(const struct qsched_host *host, struct qsched_run *run,
    struct throttle *th, const char *why, int sig)
{
	struct health	 h;

	throttle_to(th, &h);
	health_begin(host, run, &h, why, sig);
	throttle_from(th, &h);
}

int
throttle_wait(const struct qsched_host *host, struct qsched_run *run,
    struct throttle *th)
{
	struct health	 h;
	int		 rc;

	throttle_to(th, &h);
	rc = health_wait(host, run, &h);
	throttle_from(th, &h);
	return (rc);
}

void
throttle_metrics(const struct qsched_host *host, struct qsched_run *run,
    const struct throttle *th)
{
	struct health	 h;

	throttle_to(th, &h);
	health_metrics(host, run, &h);
}
