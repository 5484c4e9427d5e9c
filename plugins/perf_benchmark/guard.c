/*
 * guard.c - whether the database is too busy to be measured: the run
 * refuses to start (and stops between operations) when more sessions of
 * this database wait for a lock than max_lock_waiters, more other client
 * backends of this database are running a statement than
 * max_active_backends, a standby replays more
 * than max_replication_lag behind (pg_stat_replication.replay_lag, which
 * PostgreSQL shows in full only to superusers and pg_monitor members),
 * the server is itself a standby (the write operations need the
 * primary), or fewer connection slots are free than the clients need.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>

#include "bench.h"

#define GUARD_SQL							\
	"SELECT (SELECT count(*) FROM pg_locks AS l "			\
	"  JOIN pg_stat_activity AS a USING (pid) WHERE NOT l.granted "	\
	"  AND a.datname = current_database()), "			\
	" (SELECT count(*) FROM pg_stat_activity WHERE state = 'active' " \
	"  AND backend_type = 'client backend' "			\
	"  AND datname = current_database() "				\
	"  AND pid <> pg_backend_pid()), "				\
	" pg_is_in_recovery(), "					\
	" (SELECT coalesce(round(max(extract(epoch FROM replay_lag)) * " \
	"  1000), 0) FROM pg_stat_replication), "			\
	" current_setting('max_connections')::int - "			\
	"  current_setting('superuser_reserved_connections')::int - "	\
	"  (SELECT count(*) FROM pg_stat_activity "			\
	"   WHERE backend_type = 'client backend')"

int
guard_busy(const struct qsched_host *host, struct qsched_run *run,
    const struct bench_limits *lim, char *reason, size_t len)
{
	PGresult	*res;
	long long	 waiters, active, lag, free_slots;
	bool		 standby;

	if ((res = host->exec(run, "checking how busy the database is",
	    GUARD_SQL, 0, NULL)) == NULL)
		return (-1);
	waiters = atoll(PQgetvalue(res, 0, 0));
	active = atoll(PQgetvalue(res, 0, 1));
	standby = *PQgetvalue(res, 0, 2) == 't';
	lag = atoll(PQgetvalue(res, 0, 3));
	free_slots = atoll(PQgetvalue(res, 0, 4));
	PQclear(res);
	if (standby)
		snprintf(reason, len, "the server is a standby: the "
		    "operations need the primary");
	else if (waiters > lim->max_lock_waiters)
		snprintf(reason, len, "database busy: %lld sessions wait for "
		    "a lock (max_lock_waiters %lld)", waiters,
		    (long long)lim->max_lock_waiters);
	else if (active > lim->max_active_backends)
		snprintf(reason, len, "database busy: %lld other backends "
		    "are active (max_active_backends %lld)", active,
		    (long long)lim->max_active_backends);
	else if (lag > lim->max_replication_lag_ms)
		snprintf(reason, len, "database busy: a standby replays "
		    "%lld ms behind (max_replication_lag %lld ms)", lag,
		    (long long)lim->max_replication_lag_ms);
	else if (free_slots < lim->clients + 2)
		snprintf(reason, len, "only %lld connection slots are free; "
		    "%d clients need %d", free_slots, lim->clients,
		    lim->clients + 2);
	else
		return (0);
	return (1);
}
