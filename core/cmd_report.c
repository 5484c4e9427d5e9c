/*
 * cmd_report.c - qsched report [--job J] [--since T] [--format F]: per job,
 * how its runs went.  The numbers come from the SQL function behind the
 * view qsched.job_summary (sql/core/0002_job_summary.sql), so the CLI and
 * psql agree by construction.
 */
#include "qsched.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

/* The table is for a terminal: UTC to the second, a short message. */
#define REPORT_TABLE_SQL						\
	"SELECT job, runs, succeeded, failed, skipped, "		\
	" coalesce(success_rate || '%', '') AS success, "		\
	" p50_ms, p95_ms, rows_processed AS rows, "			\
	" to_char(last_success AT TIME ZONE 'UTC', "			\
	"  'YYYY-MM-DD HH24:MI:SS') AS last_success, "			\
	" to_char(last_failure AT TIME ZONE 'UTC', "			\
	"  'YYYY-MM-DD HH24:MI:SS') AS last_failure, "			\
	" concat_ws(': ', last_failure_status, "			\
	"  left(last_failure_message, 80)) AS last_failure_message "

#define REPORT_FULL_SQL	"SELECT * "

int
cmd_report(struct cmd_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "job", required_argument, NULL, 'j' },
		{ "since", required_argument, NULL, 'S' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct config	*cfg = NULL;
	PGconn		*conn = NULL;
	PGresult	*res;
	enum format	 format = FORMAT_TABLE;
	const char	*job = NULL, *since_text = NULL, *params[2];
	char		 err[QSCHED_ERRLEN], *since = NULL, *sql;
	int		 ch, rc;

	while ((ch = getopt_long(ctx->argc, ctx->argv, "", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'j':
			job = optarg;
			break;
		case 'S':
			since_text = optarg;
			break;
		case 'f':
			if (cmd_format_option("report", optarg, &format) == -1)
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
	    (since = cmd_since(conn, since_text, err, sizeof err)) == NULL) {
		fprintf(stderr, "qsched: report: %s\n", err);
		rc = QSCHED_EXIT_USAGE;
		goto out;
	}
	params[0] = since;
	params[1] = job;
	xasprintf(&sql, "%s FROM qsched.job_summary_since($1::timestamptz) "
	    "WHERE ($2::text IS NULL OR job = $2) ORDER BY job",
	    format == FORMAT_TABLE ? REPORT_TABLE_SQL : REPORT_FULL_SQL);
	res = db_query(conn, sql, 2, params, err, sizeof err);
	free(sql);
	if (res == NULL) {
		fprintf(stderr, "qsched: report: %s\n", err);
		rc = QSCHED_EXIT_DB;
		goto out;
	}
	format_result(res, format, stdout);
	PQclear(res);
out:
	free(since);
	if (conn != NULL)
		PQfinish(conn);
	config_free(cfg);
	return (rc);
usage:
	fprintf(stderr, "usage: qsched report [--job J] [--since T] "
	    "[--format table|json|csv]\n");
	return (QSCHED_EXIT_USAGE);
}
