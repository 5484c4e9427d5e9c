/*
 * throttle.c - the backfill's health throttling: between batches it
 * waits while the database is unhealthy, so the agents' claims keep
 * their latency.  The signals, the pause and its counters are the shared
 * ones of plugins/common/health.c (also used by legacy_deprecation);
 * this file names the backfill's tables: vacuum on the two targets, lock
 * waiters on the targets and on call_queue, which it reads.
 */
#include <config.h>

#include "backfill.h"

#define THROTTLE_TARGETS						\
	"ARRAY['unsigned_users_queue'::regclass, "			\
	"'outstanding_requests_queue'::regclass]"
#define THROTTLE_LOCKED							\
	"ARRAY['unsigned_users_queue'::regclass, "			\
	"'outstanding_requests_queue'::regclass, 'call_queue'::regclass]"

void
throttle_init(const struct qsched_host *host, struct qsched_run *run,
    struct health *th)
{
	health_init(host, run, th, THROTTLE_TARGETS, THROTTLE_LOCKED);
}
