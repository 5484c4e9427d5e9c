/*
 * cmd_status.c - qsched status [--format table|json|csv]: the runs in
 * progress on any host, with their progress and who holds their lock, as
 * the database sees them now.
 */
#include "qsched.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

/*
 * A worker names its connection qsched/<job>/<run id> and holds its job
 * lock; qsched.job_locks (lock.c) says which backend holds or waits for
 * which key.  A running row with no backend is a run whose worker is gone:
 * its qsched died, and the row is marked abandoned once that qsched's
 * heartbeat is older than its lease.
 */
#define STATUS_SQL							\
	"SELECT r.id AS run, r.job, r.trigger, r.attempt, r.host, r.pid, " \
	" %s AS started, "						\
	" %s AS elapsed, "						\
	" CASE WHEN r.progress_total > 0 THEN r.progress_done || '/' || " \
	"  r.progress_total ELSE r.progress_done::text END AS progress, " \
	" CASE WHEN r.progress_total > 0 THEN round(100.0 * "		\
	"  r.progress_done / r.progress_total, 1) END AS pct, "		\
	" r.state, mine.backend_pid AS backend, r.lock_name AS lock, "	\
	" CASE WHEN mine.backend_pid IS NULL THEN 'no worker connected' " \
	"  WHEN mine.granted THEN 'held by this run' "			\
	"  ELSE 'waiting; held by ' || coalesce((SELECT 'run ' || h.run_id " \
	"   || ' of job ' || h.job || ' on ' || h.host || ' (pid ' || "	\
	"   h.qsched_pid || ')' FROM qsched.job_locks h WHERE h.lock_key = " \
	"   mine.lock_key AND h.granted AND h.run_id IS NOT NULL LIMIT 1), " \
	"   (SELECT 'backend ' || h.backend_pid FROM qsched.job_locks h " \
	"   WHERE h.lock_key = mine.lock_key AND h.granted LIMIT 1), "	\
	"   'unknown') END AS lock_holder "				\
	"FROM qsched.runs r "						\
	"LEFT JOIN LATERAL (SELECT l.backend_pid, l.lock_key, l.granted " \
	" FROM qsched.job_locks l WHERE l.run_id = r.id "		\
	" AND l.lock_key = r.lock_key ORDER BY l.granted DESC LIMIT 1) " \
	" mine ON true "		\
	"WHERE r.status = 'running' "					\
	"ORDER BY r.started_at, r.id"

/* The qsched processes that own runs, and how fresh their heartbeat is. */
#define STATUS_DAEMONS_SQL						\
	"SELECT host, pid, kind, qsched_version AS version, "		\
	" %s AS started, %s AS heartbeat_age, "			\
	" CASE WHEN heartbeat_at > clock_timestamp() - lease_ms * "	\
	"  interval '1 ms' THEN 'alive' ELSE 'lease expired' END AS state " \
	"FROM qsched.daemons ORDER BY kind, host, pid"

int
cmd_status(struct cmd_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ "daemons", no_argument, NULL, 'd' },
		{ NULL, 0, NULL, 0 },
	};
	bool		 daemons = false;
	struct config	*cfg = NULL;
	PGconn		*conn = NULL;
	PGresult	*res;
	enum format	 format = FORMAT_TABLE;
	char		 err[QSCHED_ERRLEN], *sql;
	int		 ch, rc;

	while ((ch = getopt_long(ctx->argc, ctx->argv, "", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (cmd_format_option("status", optarg, &format) == -1)
				return (QSCHED_EXIT_USAGE);
			break;
		case 'd':
			daemons = true;
			break;
		default:
			goto usage;
		}
	}
	if (optind != ctx->argc)
		goto usage;
	if ((rc = cmd_load_config(ctx, &cfg, false)) != QSCHED_EXIT_OK)
		return (rc);
	if ((rc = cmd_connect(cfg, &conn, CMD_SCHEMA_READ)) != QSCHED_EXIT_OK)
		goto out;
	/* The table reads best in UTC and whole seconds; JSON keeps types. */
	if (daemons && format == FORMAT_TABLE)
		xasprintf(&sql, STATUS_DAEMONS_SQL, "to_char(started_at AT TIME "
		    "ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')", "date_trunc('second', "
		    "clock_timestamp() - heartbeat_at)::text");
	else if (daemons)
		xasprintf(&sql, STATUS_DAEMONS_SQL, "started_at", "round(extract("
		    "epoch FROM clock_timestamp() - heartbeat_at), 3)");
	else if (format == FORMAT_TABLE)
		xasprintf(&sql, STATUS_SQL, "to_char(r.started_at AT TIME ZONE "
		    "'UTC', 'YYYY-MM-DD HH24:MI:SS')",
		    "date_trunc('second', clock_timestamp() - r.started_at)"
		    "::text");
	else
		xasprintf(&sql, STATUS_SQL, "r.started_at",
		    "round(extract(epoch FROM clock_timestamp() - "
		    "r.started_at), 3)");
	res = db_query(conn, sql, 0, NULL, err, sizeof err);
	free(sql);
	if (res == NULL) {
		fprintf(stderr, "qsched: status: %s\n", err);
		rc = QSCHED_EXIT_DB;
		goto out;
	}
	if (format == FORMAT_TABLE && PQntuples(res) == 0)
		printf(daemons ? "no qsched process holds a heartbeat\n" :
		    "no runs in progress\n");
	else
		format_result(res, format, stdout);
	PQclear(res);
	/* The table shows the daemons after the runs. */
	if (!daemons && format == FORMAT_TABLE) {
		xasprintf(&sql, STATUS_DAEMONS_SQL, "to_char(started_at AT TIME "
		    "ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS')", "date_trunc('second', "
		    "clock_timestamp() - heartbeat_at)::text");
		res = db_query(conn, sql, 0, NULL, err, sizeof err);
		free(sql);
		if (res != NULL && PQntuples(res) > 0) {
			printf("\n");
			format_result(res, format, stdout);
		}
		PQclear(res);
	}
out:
	if (conn != NULL)
		PQfinish(conn);
	config_free(cfg);
	return (rc);
usage:
	fprintf(stderr, "usage: qsched status [--daemons] "
	    "[--format table|json|csv]\n");
	return (QSCHED_EXIT_USAGE);
}
