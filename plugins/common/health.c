/*
 * health.c - the health signals (health.h), read between batches:
 *
 *   vacuum        a VACUUM (manual or autovacuum) is working on one of the
 *                 job's target tables: pg_stat_progress_vacuum
 *   lock waiters  a session waits for a lock on one of the tables the job
 *                 writes or reads: pg_locks, not granted
 *   replica lag   a standby's replay, flush or write lag exceeds
 *                 max_replica_lag: pg_stat_replication (no standby: never)
 *   archive       more WAL segments than max_archive_backlog wait for the
 *                 archiver (.ready files, pg_ls_archive_statusdir());
 *                 only with archive_mode on
 *   canary        one queue_claim_next() on a separated table, rolled
 *                 back, takes longer than canary_latency
 *
 * Privileges: the views show other sessions' details to superusers and
 * members of pg_read_all_stats (pg_monitor); without them a signal sees
 * less and trips less, never wrongly.  pg_ls_archive_statusdir() needs
 * superuser or pg_monitor: without it the archive signal is off for the
 * run, which is logged once.
 */
#include <config.h>

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "health.h"

const char *const health_signals[HEALTH_NSIGNALS] = {
	"vacuum", "lock_waiters", "replica_lag", "archive", "canary",
};

int
health_command(const struct qsched_host *host, struct qsched_run *run,
    const char *what, const char *sql)
{
	PGresult	*res;

	if ((res = host->exec(run, what, sql, 0, NULL)) == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

bool
health_sleep(const struct qsched_host *host, struct qsched_run *run,
    int64_t ms)
{
	struct timespec	 ts;
	int64_t		 step;

	while (ms > 0 && !host->cancelled(run)) {
		step = ms < 50 ? ms : 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)step * 1000000L;
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return (!host->cancelled(run));
}

void
health_init(const struct qsched_host *host, struct qsched_run *run,
    struct health *th, const char *targets, const char *locked)
{
	memset(th, 0, sizeof *th);
	th->targets = targets;
	th->locked = locked;
	th->enabled = host->opt_bool(run, "throttle");
	th->interval_ms = host->opt_duration_ms(run, "throttle_interval");
	th->vacuum = host->opt_bool(run, "pause_on_vacuum");
	th->lock_waiters = host->opt_bool(run, "pause_on_lock_waiters");
	th->max_lag_ms = host->opt_duration_ms(run, "max_replica_lag");
	th->max_archive = host->opt_int(run, "max_archive_backlog");
	th->canary_ms = host->opt_duration_ms(run, "canary_latency");
	th->canary_queue = host->opt_string(run, "canary_queue");
	th->last_check_us = -1;
}

/* The one-query signals: vacuum, lock waiters, replica lag, archive mode. */
static int
health_stats(const struct qsched_host *host, struct qsched_run *run,
    struct health *th, char *why, size_t len, int *sig)
{
	PGresult	*res;
	char		*sql;
	int		 rc = 0;

	if (asprintf(&sql,
	    "SELECT (SELECT string_agg(DISTINCT v.relid::regclass::text, ', ') "
	    "FROM pg_stat_progress_vacuum AS v WHERE v.datid = (SELECT d.oid "
	    "FROM pg_database AS d WHERE d.datname = current_database()) "
	    "AND v.relid = ANY (%s)), "
	    "(SELECT string_agg(DISTINCT l.relation::regclass::text, ', ') "
	    "FROM pg_locks AS l WHERE NOT l.granted AND l.database = (SELECT "
	    "d.oid FROM pg_database AS d WHERE d.datname = "
	    "current_database()) AND l.relation = ANY (%s)), "
	    "(SELECT (1000 * extract(epoch FROM max(greatest(r.write_lag, "
	    "r.flush_lag, r.replay_lag))))::bigint FROM pg_stat_replication "
	    "AS r), current_setting('archive_mode') <> 'off'", th->targets,
	    th->locked) == -1) {
		host->message(run, "out of memory");
		return (-1);
	}
	res = host->exec(run, "reading the database's health", sql, 0, NULL);
	free(sql);
	if (res == NULL)
		return (-1);
	th->archiving = *PQgetvalue(res, 0, 3) == 't';
	if (th->vacuum && !PQgetisnull(res, 0, 0)) {
		snprintf(why, len, "vacuum on %s", PQgetvalue(res, 0, 0));
		*sig = HEALTH_VACUUM;
		rc = 1;
	} else if (th->lock_waiters && !PQgetisnull(res, 0, 1)) {
		snprintf(why, len, "lock waiters on %s", PQgetvalue(res, 0, 1));
		*sig = HEALTH_LOCKS;
		rc = 1;
	} else if (th->max_lag_ms > 0 && !PQgetisnull(res, 0, 2) &&
	    strtoll(PQgetvalue(res, 0, 2), NULL, 10) > th->max_lag_ms) {
		snprintf(why, len, "replica lag %s ms > %" PRId64 " ms",
		    PQgetvalue(res, 0, 2), th->max_lag_ms);
		*sig = HEALTH_LAG;
		rc = 1;
	}
	PQclear(res);
	return (rc);
}

/* WAL segments waiting for the archiver; off for the run if not readable. */
static int
health_archive(const struct qsched_host *host, struct qsched_run *run,
    struct health *th, char *why, size_t len, int *sig)
{
	PGresult	*res;
	const char	*state;
	int64_t		 ready;

	if (th->max_archive <= 0 || !th->archiving || th->archive_off)
		return (0);
	res = PQexec(host->conn(run), "SELECT count(*) FROM "
	    "pg_ls_archive_statusdir() WHERE name LIKE '%.ready'");
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state == NULL || strcmp(state, "42501") != 0) {
			host->fail(run, res, "reading the WAL archive status");
			PQclear(res);
			return (-1);
		}
		/* Not permitted: degrade, once. */
		th->archive_off = true;
		host->log(run, QSCHED_LOG_WARNING, "throttle: cannot read the "
		    "WAL archive status (pg_ls_archive_statusdir() needs "
		    "superuser or pg_monitor); the archive backlog is not "
		    "watched in this run");
		PQclear(res);
		return (0);
	}
	ready = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	th->archive_ready = ready;
	if (ready <= th->max_archive)
		return (0);
	snprintf(why, len, "WAL archive backlog %" PRId64 " segments > %"
	    PRId64, ready, th->max_archive);
	*sig = HEALTH_ARCHIVE;
	return (1);
}

/*
 * The canary: what an agent's claim costs now, on a separated table,
 * rolled back so no entry is taken.  Any agent id will do: the claim is
 * never committed.  It is undone to a savepoint and the transaction then
 * commits, because an agent's claim ends with a commit that waits for
 * its WAL flush, and under load that wait is most of what agents feel
 * (agents claiming flat out spent about 90% of their time in WALWrite
 * and WALSync waits in bench-population.sh); a claim rolled back whole
 * never flushes and stayed fast while theirs slowed down.  The claim's
 * subtransaction gave the transaction an id, so its commit record is
 * flushed like theirs; nothing else is written.
 */
static int
health_canary(const struct qsched_host *host, struct qsched_run *run,
    struct health *th, char *why, size_t len, int *sig)
{
	const char	*params[1] = { th->canary_queue };
	const char	*state;
	PGresult	*res;
	int64_t		 t0, us;

	if (th->canary_ms <= 0)
		return (0);
	t0 = host->mono_us();
	if (health_command(host, run, "beginning the canary claim",
	    "BEGIN; SAVEPOINT canary") == -1)
		return (-1);
	res = PQexecParams(host->conn(run), "SELECT count(q.*) FROM (SELECT "
	    "min(a.id) AS id FROM agents AS a) AS a, LATERAL "
	    "queue_claim_next($1, a.id) AS q WHERE a.id IS NOT NULL", 1, NULL,
	    params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
		if (state != NULL && (strcmp(state, "42883") == 0 ||
		    strcmp(state, "42P01") == 0)) {
			/* No queue_claim_next() or agents: no canary. */
			host->log(run, QSCHED_LOG_WARNING, "throttle: no canary "
			    "claim in this run: %s", PQresultErrorField(res,
			    PG_DIAG_MESSAGE_PRIMARY));
			th->canary_ms = 0;
			PQclear(res);
			return (health_command(host, run, "rolling the canary "
			    "claim back", "ROLLBACK"));
		}
		host->fail(run, res, "the canary claim");
		PQclear(res);
		PQclear(PQexec(host->conn(run), "ROLLBACK"));
		return (-1);
	}
	PQclear(res);
	if (health_command(host, run, "rolling the canary claim back",
	    "ROLLBACK TO SAVEPOINT canary; COMMIT") == -1)
		return (-1);
	us = host->mono_us() - t0;
	th->canaries++;
	if (us > th->canary_max_us)
		th->canary_max_us = us;
	if (us <= th->canary_ms * 1000)
		return (0);
	snprintf(why, len, "canary claim took %" PRId64 " ms > %" PRId64
	    " ms", us / 1000, th->canary_ms);
	*sig = HEALTH_CANARY;
	return (1);
}

int
health_check(const struct qsched_host *host, struct qsched_run *run,
    struct health *th, char *why, size_t len, int *sig)
{
	int	 rc;

	*why = '\0';
	*sig = -1;
	if ((rc = health_stats(host, run, th, why, len, sig)) != 0)
		return (rc);
	if ((rc = health_archive(host, run, th, why, len, sig)) != 0)
		return (rc);
	return (health_canary(host, run, th, why, len, sig));
}

void
health_begin(const struct qsched_host *host, struct qsched_run *run,
    struct health *th, const char *why, int sig)
{
	if (strcmp(why, th->reason) == 0)
		return;
	/* A new pause, or a new reason: once each. */
	if (th->reason[0] == '\0') {
		th->pause_start_us = host->mono_us();
		th->pauses++;
		th->by[sig]++;
	} else if (sig != th->signal)
		th->by[sig]++;
	host->log(run, QSCHED_LOG_NOTICE, "throttled: %s; pausing", why);
	host->state(run, "throttled: %s", why);
	snprintf(th->reason, sizeof th->reason, "%s", why);
	th->signal = sig;
	health_metrics(host, run, th);
}

int
health_wait(const struct qsched_host *host, struct qsched_run *run,
    struct health *th)
{
	char		 why[sizeof th->reason];
	int64_t		 now, t0;
	int		 rc, sig;

	if (!th->enabled)
		return (0);
	now = host->mono_us();
	if (th->last_check_us >= 0 &&
	    now - th->last_check_us < th->interval_ms * 1000)
		return (0);
	t0 = now;
	for (;;) {
		th->last_check_us = host->mono_us();
		if ((rc = health_check(host, run, th, why, sizeof why,
		    &sig)) == -1)
			return (-1);
		if (rc == 0)
			break;
		health_begin(host, run, th, why, sig);
		if (!health_sleep(host, run, th->interval_ms))
			return (-1);
	}
	if (th->reason[0] != '\0') {
		if (th->pause_start_us > 0 && th->pause_start_us < t0)
			t0 = th->pause_start_us;
		th->paused_us += host->mono_us() - t0;
		th->pause_start_us = 0;
		host->log(run, QSCHED_LOG_NOTICE, "resuming after %" PRId64
		    " ms throttled (%s)", (host->mono_us() - t0) / 1000,
		    th->reason);
		host->state(run, NULL);
		th->reason[0] = '\0';
		th->signal = -1;
		health_metrics(host, run, th);
	}
	return (0);
}

void
health_metrics(const struct qsched_host *host, struct qsched_run *run,
    const struct health *th)
{
	char	 name[64];

	host->counter(run, "throttle_pauses", th->pauses);
	for (int i = 0; i < HEALTH_NSIGNALS; i++) {
		snprintf(name, sizeof name, "throttle_pauses_%s",
		    health_signals[i]);
		host->counter(run, name, th->by[i]);
	}
	host->counter(run, "throttled_ms", th->paused_us / 1000);
	host->counter(run, "canary_claims", th->canaries);
	host->counter(run, "canary_max_us", th->canary_max_us);
}
