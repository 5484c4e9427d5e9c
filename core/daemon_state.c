/*
 * daemon_state.c - the small pieces of the daemon's state that its
 * bookkeeping (book.c) and dispatch (dispatch.c) change as well as the
 * loop (daemon.c): retired configurations, the next look for retries, and
 * how a fire time is written in the log.
 */
#include "daemon.h"

#include <stdlib.h>

const char *
daemon_when(const struct job *job, time_t t, char *buf, size_t len)
{
	return (tz_format(job->timezone, t, buf, len));
}

static bool
daemon_uses(const struct daemon *d, const struct config *cfg)
{
	for (const struct run *r = d->runs; r != NULL; r = r->next)
		if (r->cfg == cfg)
			return (true);
	for (const struct run *r = d->unrecorded; r != NULL; r = r->next)
		if (r->cfg == cfg)
			return (true);
	return (false);
}

void
daemon_gc(struct daemon *d)
{
	struct daemon_retired **pp = &d->retired, *old;

	while ((old = *pp) != NULL) {
		if (daemon_uses(d, old->cfg)) {
			pp = &old->next;
			continue;
		}
		*pp = old->next;
		config_free(old->cfg);
		free(old);
	}
}

void
daemon_retry_due(struct daemon *d, int64_t mono)
{
	if (d->retry_at == 0 || mono < d->retry_at)
		d->retry_at = mono;
}

