/*
 * cmd_history.c - qsched history: the run rows, newest first, filtered.
 */
#include "qsched.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The table is for reading on a terminal; JSON and CSV carry every column. */
#define HISTORY_TABLE_SQL						\
	"SELECT id, job, trigger, attempt, status, "			\
	" to_char(started_at AT TIME ZONE 'UTC', "			\
	"  'YYYY-MM-DD HH24:MI:SS') AS started_utc, "			\
	" CASE WHEN duration_ms IS NULL THEN '' "			\
	"  WHEN duration_ms < 10000 THEN duration_ms || 'ms' "		\
	"  ELSE round(duration_ms / 1000.0, 1) || 's' END AS duration, "	\
	" rows_processed AS rows, "					\
	" concat_ws(' ', CASE WHEN status = 'running' AND "		\
	"  progress_total > 0 THEN progress_done || '/' || "		\
	"  progress_total END, signal, "				\
	"  CASE WHEN sqlstate IS NOT NULL THEN '[' || sqlstate || ']' END, " \
	"  left(message, 100)) AS message "

#define HISTORY_FULL_SQL						\
	"SELECT id, job, plugin, trigger, scheduled_for, attempt, status, " \
	" started_at, finished_at, duration_ms, rows_processed, message, " \
	" sqlstate, signal, metrics, progress_done, progress_total, "	\
	" dry_run, lock_name, lock_key, due_at, state, host, pid, "	\
	" worker_pid, backend_pid, qsched_version "


int
cmd_history(struct cmd_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "job", required_argument, NULL, 'j' },
		{ "status", required_argument, NULL, 's' },
		{ "since", required_argument, NULL, 'S' },
		{ "limit", required_argument, NULL, 'l' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct config	*cfg = NULL;
	PGconn		*conn = NULL;
	PGresult	*res;
	enum format	 format = FORMAT_TABLE;
	const char	*job = NULL, *status = NULL, *since_text = NULL;
	const char	*params[4];
	char		 err[QSCHED_ERRLEN], limit[24] = "20", *since = NULL;
	char		*sql, *end;
	int		 ch, rc;
	char		 known[256];

	while ((ch = getopt_long(ctx->argc, ctx->argv, "", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'j':
			job = optarg;
			break;
		case 's':
			status = optarg;
			if (run_status_parse(status) == -1) {
				run_status_list(known, sizeof known);
				fprintf(stderr, "qsched: history: --status: "
				    "unknown status \"%s\" (%s)\n", status, known);
				return (QSCHED_EXIT_USAGE);
			}
			break;
		case 'S':
			since_text = optarg;
			break;
		case 'l':
			if (strtol(optarg, &end, 10) < 1 || *end != '\0') {
				fprintf(stderr, "qsched: history: --limit: "
				    "\"%s\" is not a positive count\n", optarg);
				return (QSCHED_EXIT_USAGE);
			}
			snprintf(limit, sizeof limit, "%s", optarg);
			break;
		case 'f':
			if (cmd_format_option("history", optarg, &format) == -1)
				return (QSCHED_EXIT_USAGE);
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
	if (since_text != NULL &&
	    (since = cmd_since(conn, since_text, err, sizeof err)) ==
	    NULL) {
		fprintf(stderr, "qsched: history: %s\n", err);
		rc = QSCHED_EXIT_USAGE;
		goto out;
	}
	params[0] = job;
	params[1] = status;
	params[2] = since;
	params[3] = limit;
	xasprintf(&sql, "%s FROM qsched.runs "
	    "WHERE ($1::text IS NULL OR job = $1) "
	    "AND ($2::text IS NULL OR status = $2) "
	    "AND ($3::timestamptz IS NULL OR started_at >= $3) "
	    "ORDER BY id DESC LIMIT $4::bigint",
	    format == FORMAT_TABLE ? HISTORY_TABLE_SQL : HISTORY_FULL_SQL);
	res = db_query(conn, sql, 4, params, err, sizeof err);
	free(sql);
	if (res == NULL) {
		fprintf(stderr, "qsched: history: %s\n", err);
		rc = QSCHED_EXIT_DB;
		goto out;
	}
	format_result(res, format, stdout);
	PQclear(res);
	rc = QSCHED_EXIT_OK;
out:
	free(since);
	if (conn != NULL)
		PQfinish(conn);
	config_free(cfg);
	return (rc);
usage:
	fprintf(stderr, "usage: qsched history [--job J] [--status S] "
	    "[--since T] [--limit N] [--format table|json|csv]\n");
	return (QSCHED_EXIT_USAGE);
}
