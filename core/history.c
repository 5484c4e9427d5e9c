/*
 * history.c - qsched.runs, written only by the parent process over its
 * bookkeeping connection (design section 3.4).
 */
#include "qsched.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *
history_host(void)
{
	static char	 host[256];

	if (host[0] == '\0' && gethostname(host, sizeof host - 1) == -1)
		snprintf(host, sizeof host, "unknown");
	return (host);
}

static char *
history_timestamp(time_t t, char *buf, size_t len)
{
	if (t == 0)
		return (NULL);
	return (tz_format_utc(t, buf, len));
}

int
history_insert(PGconn *book, struct run *r, enum run_status status,
    char *err, size_t errlen)
{
	char		 attempt[16], pid[16], sched[64], key[32];
	char		 e[QSCHED_ERRLEN];
	const char	*params[13];
	PGresult	*res;

	snprintf(attempt, sizeof attempt, "%d", r->attempt);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	params[0] = r->job->name;
	params[1] = r->job->plugin_name;
	params[2] = run_trigger_name(r->trigger);
	params[3] = history_timestamp(r->scheduled_for, sched, sizeof sched);
	params[4] = attempt;
	params[5] = run_status_name(status);
	params[6] = r->message;
	params[7] = r->dry_run ? "t" : "f";
	params[8] = r->job->lock;
	params[9] = history_host();
	params[10] = pid;
	params[11] = PACKAGE_VERSION;
	snprintf(key, sizeof key, "%lld", (long long)lock_job_key(r->job));
	params[12] = key;
	/*
	 * ON CONFLICT on the fire key is the cluster-wide claim: only one
	 * qsched anywhere gets the row back.  A run that ends at once
	 * (blocked) is inserted finished.
	 */
	res = db_query(book,
	    "INSERT INTO qsched.runs (job, plugin, trigger, scheduled_for, "
	    " attempt, status, message, dry_run, lock_name, host, pid, "
	    " qsched_version, lock_key, finished_at, duration_ms) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, "
	    " $13::bigint, "
	    " CASE WHEN $6 = 'running' THEN NULL ELSE clock_timestamp() END, "
	    " CASE WHEN $6 = 'running' THEN NULL ELSE 0 END) "
	    "ON CONFLICT (job, scheduled_for, attempt) "
	    " WHERE scheduled_for IS NOT NULL DO NOTHING RETURNING id",
	    13, params, e, sizeof e);
	if (res == NULL) {
		snprintf(err, errlen, "recording the run of job \"%s\": %s",
		    r->job->name, e);
		return (-1);
	}
	r->id = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL,
	    10) : 0;
	PQclear(res);
	return (0);
}

int
history_progress(PGconn *book, const struct run *r)
{
	char		 id[32], done[32], total[32], wpid[16], bpid[16];
	char		 e[QSCHED_ERRLEN];
	const char	*params[6] = { id, done, total, wpid, bpid, NULL };
	PGresult	*res;

	/* The daemon passes no connection while the database is away. */
	if (book == NULL)
		return (-1);
	snprintf(id, sizeof id, "%lld", (long long)r->id);
	snprintf(done, sizeof done, "%lld", (long long)r->done);
	snprintf(total, sizeof total, "%lld", (long long)r->total);
	snprintf(wpid, sizeof wpid, "%ld", (long)r->pid);
	snprintf(bpid, sizeof bpid, "%d", r->backend_pid);
	if (r->total == 0 && r->done == 0)
		params[1] = params[2] = NULL;
	else if (r->total < 0)
		params[2] = NULL;
	params[5] = r->state;
	res = db_query(book, "UPDATE qsched.runs SET progress_done = $2, "
	    "progress_total = $3, worker_pid = nullif($4, '0')::int, "
	    "backend_pid = nullif($5, '0')::int, state = $6 "
	    "WHERE id = $1 AND status = 'running'", 6, params, e, sizeof e);
	if (res == NULL) {
		log_run(QSCHED_LOG_WARNING, r->job->name, r->id,
		    "recording progress: %s", e);
		return (-1);
	}
	PQclear(res);
	return (0);
}

int
history_finish(PGconn *book, const struct run *r, char *err, size_t errlen)
{
	char		 id[32], rows[32], done[32], total[32], e[QSCHED_ERRLEN];
	const char	*params[9];
	PGresult	*res;

	snprintf(id, sizeof id, "%lld", (long long)r->id);
	snprintf(rows, sizeof rows, "%lld", (long long)r->rows);
	snprintf(done, sizeof done, "%lld", (long long)r->done);
	snprintf(total, sizeof total, "%lld", (long long)r->total);
	params[0] = id;
	params[1] = run_status_name(r->status);
	params[2] = rows;
	params[3] = r->message;
	params[4] = r->sqlstate[0] != '\0' ? r->sqlstate : NULL;
	params[5] = r->signal[0] != '\0' ? r->signal : NULL;
	params[6] = r->metrics != NULL ? r->metrics : "{}";
	params[7] = (r->done || r->total) ? done : NULL;
	params[8] = r->total > 0 ? total : NULL;
	/* The status guard keeps a row another process already closed
	 * (abandoned by a restarted daemon) as that process left it. */
	res = db_query(book, "UPDATE qsched.runs SET status = $2, "
	    "finished_at = clock_timestamp(), "
	    "duration_ms = (extract(epoch FROM clock_timestamp() - started_at)"
	    " * 1000)::bigint, rows_processed = $3, message = $4, "
	    "sqlstate = $5, signal = $6, metrics = $7::jsonb, "
	    "progress_done = $8, progress_total = $9 "
	    "WHERE id = $1 AND status = 'running'", 9, params, e, sizeof e);
	if (res == NULL) {
		snprintf(err, errlen, "recording the outcome of run %lld of "
		    "job \"%s\": %s", (long long)r->id, r->job->name, e);
		return (-1);
	}
	PQclear(res);
	return (0);
}

int
history_deps_met(PGconn *book, const struct job *job, char *missing,
    size_t len, char *err, size_t errlen)
{
	char		 e[QSCHED_ERRLEN];
	const char	*params[1];
	PGresult	*res;
	bool		 ok;

	for (size_t i = 0; i < job->ndepends; i++) {
		params[0] = job->depends_on[i];
		res = db_query(book, "SELECT EXISTS (SELECT 1 FROM qsched.runs "
		    "WHERE job = $1 AND status = 'succeeded' AND NOT dry_run)",
		    1, params, e, sizeof e);
		if (res == NULL) {
			snprintf(err, errlen, "checking depends_on of job "
			    "\"%s\": %s", job->name, e);
			return (-1);
		}
		ok = (*PQgetvalue(res, 0, 0) == 't');
		PQclear(res);
		if (!ok) {
			snprintf(missing, len, "%s", job->depends_on[i]);
			return (0);
		}
	}
	return (1);
}

/*
 * Whether process PID is alive and started no later than STARTED (epoch
 * seconds), so a recycled pid does not keep a dead run "running".
 */
static bool
history_pid_alive(pid_t pid, double started)
{
	char		 path[64], line[1024], *p;
	unsigned long long ticks;
	double		 btime = 0;
	FILE		*f;

	if (kill(pid, 0) == -1 && errno == ESRCH)
		return (false);
	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (true);	/* no /proc: trust kill() */
	p = fgets(line, sizeof line, f);
	fclose(f);
	if (p == NULL || (p = strrchr(line, ')')) == NULL)
		return (true);
	/* Field 22, starttime; p points at the end of field 2. */
	for (int field = 2; field < 21 && p != NULL; field++)
		p = strchr(p + 1, ' ');
	if (p == NULL || sscanf(p + 1, "%llu", &ticks) != 1)
		return (true);
	if ((f = fopen("/proc/stat", "r")) == NULL)
		return (true);
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "btime %lf", &btime) == 1)
			break;
	fclose(f);
	if (btime == 0)
		return (true);
	return (btime + (double)ticks / (double)sysconf(_SC_CLK_TCK) <=
	    started + 2);
}

/* This host's qsched.daemons rows of processes that are gone: their
 * retries are anyone's at once, not after their lease. */
static void
history_forget_dead(PGconn *book)
{
	char		 e[QSCHED_ERRLEN];
	const char	*params[2] = { history_host(), NULL };
	PGresult	*res, *del;

	res = db_query(book, "SELECT pid, extract(epoch FROM started_at) "
	    "FROM qsched.daemons WHERE host = $1", 1, params, e, sizeof e);
	if (res == NULL)
		return;
	for (int i = 0; i < PQntuples(res); i++) {
		if ((pid_t)atol(PQgetvalue(res, i, 0)) == getpid() ||
		    history_pid_alive((pid_t)atol(PQgetvalue(res, i, 0)),
		    atof(PQgetvalue(res, i, 1))))
			continue;
		params[1] = PQgetvalue(res, i, 0);
		del = db_query(book, "DELETE FROM qsched.daemons WHERE host = "
		    "$1 AND pid = $2::int", 2, params, e, sizeof e);
		PQclear(del);
	}
	PQclear(res);
}

int
history_abandon_dead(PGconn *book, char *err, size_t errlen)
{
	history_forget_dead(book);
	char		 e[QSCHED_ERRLEN];
	const char	*params[2] = { history_host(), NULL };
	PGresult	*res, *upd;
	int		 n = 0;

	res = db_query(book, "SELECT id, pid, extract(epoch FROM started_at), "
	    "job FROM qsched.runs WHERE status = 'running' AND host = $1", 1,
	    params, e, sizeof e);
	if (res == NULL) {
		snprintf(err, errlen, "looking for abandoned runs: %s", e);
		return (-1);
	}
	for (int i = 0; i < PQntuples(res); i++) {
		pid_t	 pid = (pid_t)atol(PQgetvalue(res, i, 1));

		if (history_pid_alive(pid, atof(PQgetvalue(res, i, 2))))
			continue;
		params[1] = PQgetvalue(res, i, 0);
		upd = db_query(book, "UPDATE qsched.runs SET status = "
		    "'abandoned', finished_at = clock_timestamp(), "
		    "duration_ms = (extract(epoch FROM clock_timestamp() - "
		    "started_at) * 1000)::bigint, message = 'qsched process ' "
		    "|| pid || ' on ' || host || ' ended while the run was in "
		    "progress' WHERE id = $2 AND host = $1 AND status = "
		    "'running'", 2, params, e, sizeof e);
		if (upd == NULL) {
			snprintf(err, errlen, "marking run %s abandoned: %s",
			    params[1], e);
			PQclear(res);
			return (-1);
		}
		if (atoi(PQcmdTuples(upd)) == 1) {
			log_run(QSCHED_LOG_WARNING, PQgetvalue(res, i, 3),
			    atoll(params[1]), "abandoned: qsched process %ld "
			    "is gone", (long)pid);
			n++;
		}
		PQclear(upd);
	}
	PQclear(res);
	return (n);
}

/*
 * Liveness, design section 3.4.  A qsched that owns runs keeps a row in
 * qsched.daemons and refreshes it every HISTORY_HEARTBEAT_MS; the same
 * statement marks abandoned, on any host, the running rows of owners
 * whose heartbeat is older than their lease.  A run whose owner has no
 * row at all (a short qsched run registers only once it has run a while)
 * is abandoned only once it is older than the lease.
 */
static bool	 history_registered;

int
history_heartbeat(PGconn *book, const struct config *cfg, const char *kind,
    int64_t *retry_in, char *err, size_t errlen)
{
	char		 pid[16], lease[24], e[QSCHED_ERRLEN], *names;
	const char	*params[6] = { history_host(), pid, kind, lease,
	    PACKAGE_VERSION, NULL };
	PGresult	*res;
	int		 n = 0;

	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	snprintf(lease, sizeof lease, "%d", HISTORY_LEASE_MS);
	params[5] = names = config_job_names(cfg);
	/*
	 * One round trip: the beat, the abandoning of silent owners' runs
	 * (one row each), and a last row with when the soonest retry of our
	 * jobs is due (NULL: none), so an idle daemon asks for nothing else.
	 * A daemon also folds the runs settled since into the per-job totals
	 * there (qsched.job_totals_fold(), totals.c), adding no wake-up; a
	 * qsched run does not (its cost is the write path's).
	 */
	res = db_query(book,
	    "WITH me AS (INSERT INTO qsched.daemons (host, pid, kind, "
	    " lease_ms, qsched_version) VALUES ($1, $2::int, $3, "
	    " $4::bigint, $5) ON CONFLICT (host, pid) DO UPDATE SET "
	    " heartbeat_at = clock_timestamp(), kind = excluded.kind, "
	    " lease_ms = excluded.lease_ms, qsched_version = "
	    " excluded.qsched_version RETURNING 1), "
	    "gone AS (DELETE FROM qsched.daemons WHERE heartbeat_at < "
	    " clock_timestamp() - interval '1 day' RETURNING 1), "
	    "ab AS (UPDATE qsched.runs r SET status = 'abandoned', "
	    " finished_at = clock_timestamp(), duration_ms = (extract(epoch "
	    " FROM clock_timestamp() - r.started_at) * 1000)::bigint, "
	    " message = 'qsched process ' || r.pid || ' on ' || r.host || "
	    " ' stopped while the run was in progress (no heartbeat within "
	    "its lease)' "
	    " WHERE r.status = 'running' AND r.started_at < clock_timestamp() "
	    " - $4::bigint * interval '1 ms' AND NOT (r.host = $1 AND r.pid = "
	    " $2::int) AND NOT EXISTS (SELECT 1 FROM qsched.daemons d "
	    " WHERE d.host = r.host AND d.pid = r.pid AND d.heartbeat_at > "
	    " clock_timestamp() - d.lease_ms * interval '1 ms') "
	    " RETURNING r.id, r.job, r.host, r.pid), "
	    "fold AS (SELECT CASE WHEN $3 = 'daemon' THEN "
	    " qsched.job_totals_fold() END AS mark) "
	    "SELECT id, job, host, pid, NULL::bigint FROM ab "
	    "UNION ALL SELECT NULL, NULL, NULL, NULL, (SELECT CASE WHEN "
	    " min(due_at) IS NOT NULL THEN greatest(0, (extract(epoch FROM "
	    " min(due_at) - clock_timestamp()) * 1000)::bigint) END "
	    " FROM qsched.runs WHERE status = 'retry_scheduled' AND "
	    " job = ANY($6::text[])) FROM fold",
	    6, params, e, sizeof e);
	free(names);
	if (res == NULL) {
		snprintf(err, errlen, "heartbeat: %s", e);
		return (-1);
	}
	history_registered = true;
	for (int i = 0; i < PQntuples(res); i++) {
		if (PQgetisnull(res, i, 0)) {
			if (retry_in != NULL)
				*retry_in = PQgetisnull(res, i, 4) ? -1 :
				    atoll(PQgetvalue(res, i, 4));
			continue;
		}
		log_run(QSCHED_LOG_WARNING, PQgetvalue(res, i, 1),
		    atoll(PQgetvalue(res, i, 0)), "abandoned: qsched process %s "
		    "on %s stopped heartbeating", PQgetvalue(res, i, 3),
		    PQgetvalue(res, i, 2));
		n++;
	}
	PQclear(res);
	return (n);
}

void
history_unregister(PGconn *book)
{
	char		 pid[16], e[QSCHED_ERRLEN];
	const char	*params[2] = { history_host(), pid };
	PGresult	*res;

	if (!history_registered || book == NULL ||
	    PQstatus(book) != CONNECTION_OK)
		return;
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	res = db_query(book, "DELETE FROM qsched.daemons WHERE host = $1 AND "
	    "pid = $2::int", 2, params, e, sizeof e);
	PQclear(res);
	history_registered = false;
}

bool
history_is_registered(void)
{
	return (history_registered);
}

int
history_schedule_retry(PGconn *book, const struct run *r, int64_t delay_ms,
    int64_t *id, char *err, size_t errlen)
{
	char		 attempt[16], pid[16], sched[64], delay[24], key[32];
	char		 e[QSCHED_ERRLEN];
	const char	*params[11];
	PGresult	*res;

	snprintf(attempt, sizeof attempt, "%d", r->attempt + 1);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	snprintf(delay, sizeof delay, "%lld", (long long)delay_ms);
	snprintf(key, sizeof key, "%lld", (long long)lock_job_key(r->job));
	params[0] = r->job->name;
	params[1] = r->job->plugin_name;
	params[2] = history_timestamp(r->scheduled_for, sched, sizeof sched);
	params[3] = attempt;
	params[4] = r->job->lock;
	params[5] = history_host();
	params[6] = pid;
	params[7] = PACKAGE_VERSION;
	params[8] = key;
	params[9] = delay;
	params[10] = r->dry_run ? "t" : "f";
	res = db_query(book,
	    "INSERT INTO qsched.runs (job, plugin, trigger, scheduled_for, "
	    " attempt, status, due_at, lock_name, host, pid, qsched_version, "
	    " lock_key, dry_run, message) "
	    "VALUES ($1, $2, 'retry', $3, $4, 'retry_scheduled', "
	    " clock_timestamp() + $10::bigint * interval '1 ms', $5, $6, $7, "
	    " $8, $9::bigint, $11, 'waiting to retry') "
	    "ON CONFLICT (job, scheduled_for, attempt) "
	    " WHERE scheduled_for IS NOT NULL DO NOTHING RETURNING id",
	    11, params, e, sizeof e);
	if (res == NULL) {
		snprintf(err, errlen, "scheduling the retry of job \"%s\": %s",
		    r->job->name, e);
		return (-1);
	}
	*id = PQntuples(res) == 1 ? atoll(PQgetvalue(res, 0, 0)) : 0;
	PQclear(res);
	return (0);
}

int
history_claim_retry(PGconn *book, int64_t id, char *err, size_t errlen)
{
	char		 sid[32], pid[16], e[QSCHED_ERRLEN];
	const char	*params[3] = { sid, history_host(), pid };
	PGresult	*res;
	int		 n;

	snprintf(sid, sizeof sid, "%lld", (long long)id);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	/* The status guard is the claim: one qsched anywhere wins. */
	res = db_query(book, "UPDATE qsched.runs SET status = 'running', "
	    "started_at = clock_timestamp(), host = $2, pid = $3::int, "
	    "qsched_version = '" PACKAGE_VERSION "', message = NULL "
	    "WHERE id = $1::bigint AND status = 'retry_scheduled'", 3, params,
	    e, sizeof e);
	if (res == NULL) {
		snprintf(err, errlen, "claiming retry run %lld: %s",
		    (long long)id, e);
		return (-1);
	}
	n = atoi(PQcmdTuples(res));
	PQclear(res);
	return (n == 1 ? 1 : 0);
}

int
history_cancel_retry(PGconn *book, int64_t id, const char *why)
{
	char		 sid[32], e[QSCHED_ERRLEN];
	const char	*params[2] = { sid, why };
	PGresult	*res;

	snprintf(sid, sizeof sid, "%lld", (long long)id);
	res = db_query(book, "UPDATE qsched.runs SET status = 'cancelled', "
	    "finished_at = clock_timestamp(), duration_ms = 0, message = $2 "
	    "WHERE id = $1::bigint AND status = 'retry_scheduled'", 2, params,
	    e, sizeof e);
	if (res == NULL)
		return (-1);
	PQclear(res);
	return (0);
}

PGresult *
history_due_retries(PGconn *book, const struct config *cfg, char *err,
    size_t errlen)
{
	char		 e[QSCHED_ERRLEN], *names = config_job_names(cfg);
	const char	*params[1] = { names };
	PGresult	*res;

	/*
	 * A daemon's retry is anyone's; a qsched run waits for its own and
	 * leaves it to the daemons only when it is gone.  Rows due within a
	 * second come too, and the soonest later one says when to look next.
	 */
	res = db_query(book, "SELECT r.id, r.job, extract(epoch FROM "
	    "r.scheduled_for)::bigint, r.attempt, greatest(0, (extract(epoch "
	    "FROM r.due_at - clock_timestamp()) * 1000)::bigint) "
	    "FROM qsched.runs r "
	    "WHERE r.status = 'retry_scheduled' AND r.job = ANY($1::text[]) "
	    " AND (EXISTS (SELECT 1 FROM qsched.daemons d WHERE d.host = "
	    "  r.host AND d.pid = r.pid AND d.kind = 'daemon') "
	    "  OR NOT EXISTS (SELECT 1 FROM qsched.daemons d WHERE d.host = "
	    "  r.host AND d.pid = r.pid AND d.heartbeat_at > clock_timestamp() "
	    "  - d.lease_ms * interval '1 ms')) "
	    "ORDER BY r.due_at LIMIT 100", 1, params, e, sizeof e);
	free(names);
	if (res == NULL)
		snprintf(err, errlen, "looking for due retries: %s", e);
	return (res);
}
