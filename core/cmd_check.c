/*
 * cmd_check.c - qsched check: everything that can be wrong before a run,
 * found now: the config and every plugin option, the flags file, the
 * database, and each plugin's own preconditions.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A plugin's check() with the job's options and a live connection. */
static int
check_job(struct job *job, const struct config *cfg, PGconn *conn,
    const struct flags *flags)
{
	struct run	 r;
	struct qsched_run qr;
	int		 rc;

	memset(&r, 0, sizeof r);
	r.cfg = cfg;
	r.job = job;
	r.attempt = 1;
	r.dry_run = true;
	memset(&qr, 0, sizeof qr);
	qr.run = &r;
	qr.conn = conn;
	qr.flags = flags;
	qr.fd = -1;
	rc = job->plugin->desc->check(&host_services, &qr);
	if (rc != 0)
		printf("job \"%s\": check failed: %s%s%s\n", job->name,
		    qr.message ? qr.message : "no reason given",
		    qr.sqlstate[0] ? " SQLSTATE " : "", qr.sqlstate);
	else
		printf("job \"%s\": check ok\n", job->name);
	host_run_free(&qr);
	return (rc == 0 ? 0 : -1);
}

int
cmd_check(struct cmd_ctx *ctx)
{
	struct config	*cfg = NULL;
	struct flags	 flags;
	PGconn		*conn = NULL;
	char		 err[QSCHED_ERRLEN];
	int		 rc, failed = 0;

	if (ctx->argc != 1) {
		fprintf(stderr, "usage: qsched check\n");
		return (QSCHED_EXIT_USAGE);
	}
	if ((rc = cmd_load_config(ctx, &cfg, true)) != QSCHED_EXIT_OK)
		return (rc);
	if ((rc = cmd_require_jobs(cfg)) != QSCHED_EXIT_OK)
		goto out;
	printf("%s: ok, %zu job%s\n", cfg->path, cfg->njobs,
	    cfg->njobs == 1 ? "" : "s");
	if (flags_load(cfg, &flags, err, sizeof err) == -1) {
		fprintf(stderr, "qsched: %s\n", err);
		rc = QSCHED_EXIT_USAGE;
		goto out;
	}
	printf("%s: ok\n", *cfg->flags_file ? cfg->flags_file :
	    "flags (defaults)");
	if ((rc = cmd_connect(cfg, &conn, CMD_SCHEMA_ANY)) != QSCHED_EXIT_OK)
		goto out;
	printf("database: ok (server %d)\n", PQserverVersion(conn));
	if ((rc = schema_version(conn, err, sizeof err)) > 0)
		printf("qsched schema: version %d\n", rc);
	else if (rc == 0)
		printf("qsched schema: not installed yet (qsched init, or the "
		    "first qsched run or qsched daemon, creates it)\n");
	for (size_t i = 0; i < cfg->njobs; i++)
		if (cfg->jobs[i].plugin->desc->check != NULL &&
		    check_job(&cfg->jobs[i], cfg, conn, &flags) == -1)
			failed++;
	rc = failed ? QSCHED_EXIT_FAILED : QSCHED_EXIT_OK;
out:
	if (conn != NULL)
		PQfinish(conn);
	config_free(cfg);
	return (rc);
}
