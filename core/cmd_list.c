/*
 * cmd_list.c - qsched list [--format table|json|csv]: every job with its
 * plugin, schedule, whether the daemon schedules it, its next fire in its
 * own zone, and how its last run went.  The jobs come from the file, the
 * last runs from the database; without a database the list is still
 * printed (exit 3).
 */
#include "qsched.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define OID_BOOL	16
#define OID_INT8	20
#define OID_TEXT	25

struct list_col {
	const char	*name;
	Oid		 type;
	bool		 table;		/* shown in the table format too */
};

static const struct list_col list_cols[] = {
	{ "job", OID_TEXT, true },
	{ "plugin", OID_TEXT, true },
	{ "schedule", OID_TEXT, true },
	{ "timezone", OID_TEXT, false },
	{ "enabled", OID_BOOL, true },
	{ "catch_up", OID_BOOL, false },
	{ "next_fire", OID_TEXT, true },
	{ "next_fire_utc", OID_TEXT, false },
	{ "last_status", OID_TEXT, true },
	{ "last_run", OID_TEXT, true },
	{ "last_run_id", OID_INT8, false },
};
#define LIST_NCOLS	(sizeof list_cols / sizeof list_cols[0])
#define LIST_LAST	8		/* first column from the database */

/* The last run of every job, in the order of the file; NULL on error. */
static PGresult *
list_last_runs(PGconn *conn, const struct config *cfg, char *err,
    size_t errlen)
{
	const char	*params[1];
	char		*names = config_job_names(cfg);
	PGresult	*res;

	params[0] = names;
	/* One index probe per job (runs_job_started), not a scan. */
	res = db_query(conn, "SELECT r.status, to_char(r.started_at AT TIME "
	    "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'), r.id "
	    "FROM unnest($1::text[]) WITH ORDINALITY AS j(job, n) "
	    "LEFT JOIN LATERAL (SELECT id, status, started_at "
	    " FROM qsched.runs WHERE job = j.job "
	    " ORDER BY started_at DESC, id DESC LIMIT 1) r ON true "
	    "ORDER BY j.n", 1, params, err, errlen);
	free(names);
	return (res);
}

static void
list_set(PGresult *res, int row, int *col, const char *v)
{
	(void)PQsetvalue(res, row, (*col)++, (char *)v, v == NULL ? -1 :
	    (int)strlen(v));
}

static PGresult *
list_build(const struct config *cfg, const PGresult *last, bool table)
{
	PGresAttDesc	 attrs[LIST_NCOLS];
	PGresult	*res;
	char		 local[64], utc[32];
	time_t		 next, now = clock_now();
	int		 n = 0;

	memset(attrs, 0, sizeof attrs);
	for (size_t c = 0; c < LIST_NCOLS; c++) {
		if (table && !list_cols[c].table)
			continue;
		attrs[n].name = (char *)list_cols[c].name;
		/* The table says yes/no, JSON true/false. */
		attrs[n].typid = table ? OID_TEXT : list_cols[c].type;
		attrs[n].typlen = -1;
		attrs[n].atttypmod = -1;
		n++;
	}
	res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	if (res == NULL || !PQsetResultAttrs(res, n, attrs)) {
		fprintf(stderr, "qsched: list: out of memory\n");
		exit(QSCHED_EXIT_FAILED);
	}
	for (size_t i = 0; i < cfg->njobs; i++) {
		const struct job *job = &cfg->jobs[i];
		bool	 has_next = false;
		int	 col = 0, row = (int)i;

		if (job->enabled && !job->cron.manual &&
		    cron_next(&job->cron, job->timezone, now, &next) == 0)
			has_next = true;
		list_set(res, row, &col, job->name);
		list_set(res, row, &col, job->plugin_name);
		list_set(res, row, &col, job->schedule);
		if (!table)
			list_set(res, row, &col, job->timezone);
		list_set(res, row, &col, table ? (job->enabled ? "yes" : "no") :
		    (job->enabled ? "t" : "f"));
		if (!table)
			list_set(res, row, &col, job->catch_up ? "t" : "f");
		list_set(res, row, &col, has_next ? tz_format(job->timezone,
		    next, local, sizeof local) : table ? (job->cron.manual ?
		    "manual" : "disabled") : NULL);
		if (!table)
			list_set(res, row, &col, has_next ? tz_format_utc(next,
			    utc, sizeof utc) : NULL);
		for (int c = 0; c < (table ? 2 : 3); c++) {
			const char *v = NULL;

			if (last != NULL && !PQgetisnull(last, row, c))
				v = PQgetvalue(last, row, c);
			else if (table)
				v = c == 0 && last != NULL ? "never" : "";
			list_set(res, row, &col, v);
		}
	}
	return (res);
}

int
cmd_list(struct cmd_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct config	*cfg = NULL;
	PGconn		*conn = NULL;
	PGresult	*last = NULL, *res;
	enum format	 format = FORMAT_TABLE;
	char		 err[QSCHED_ERRLEN];
	int		 ch, rc;

	while ((ch = getopt_long(ctx->argc, ctx->argv, "", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'f':
			if (cmd_format_option("list", optarg, &format) == -1)
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
	rc = cmd_connect(cfg, &conn, CMD_SCHEMA_READ);
	if (rc == QSCHED_EXIT_OK &&
	    (last = list_last_runs(conn, cfg, err, sizeof err)) == NULL) {
		fprintf(stderr, "qsched: list: %s\n", err);
		rc = QSCHED_EXIT_DB;
	}
	if (rc != QSCHED_EXIT_OK)
		fprintf(stderr, "qsched: list: the last runs are unknown\n");
	res = list_build(cfg, last, format == FORMAT_TABLE);
	format_result(res, format, stdout);
	PQclear(res);
	PQclear(last);
	if (conn != NULL)
		PQfinish(conn);
	config_free(cfg);
	return (rc);
usage:
	fprintf(stderr, "usage: qsched list [--format table|json|csv]\n");
	return (QSCHED_EXIT_USAGE);
}
