/*
 * cmd_common.c - start-up shared by the commands: load the configuration,
 * connect the bookkeeping connection.  Only these start-up paths decide
 * exit statuses; everything below them returns errors.
 */
#include "qsched.h"

#include <stdio.h>

int
cmd_load_config(struct cmd_ctx *ctx, struct config **cfg)
{
	char	 err[QSCHED_ERRLEN];

	if (config_load(ctx->config_path, cfg, err, sizeof err) == -1) {
		fprintf(stderr, "qsched: %s\n", err);
		return (QSCHED_EXIT_USAGE);
	}
	return (QSCHED_EXIT_OK);
}

int
cmd_connect(const struct config *cfg, PGconn **conn, bool ensure_schema)
{
	char	 err[QSCHED_ERRLEN];

	*conn = db_connect(cfg->database, "qsched", err, sizeof err);
	if (*conn == NULL) {
		fprintf(stderr, "qsched: database unreachable (%s): %s\n",
		    *cfg->database ? cfg->database : "PG* environment", err);
		return (QSCHED_EXIT_DB);
	}
	if (!ensure_schema)
		return (QSCHED_EXIT_OK);
	if (schema_ensure(*conn, err, sizeof err) == -1 ||
	    history_abandon_dead(*conn, err, sizeof err) == -1) {
		fprintf(stderr, "qsched: %s\n", err);
		PQfinish(*conn);
		*conn = NULL;
		return (QSCHED_EXIT_DB);
	}
	return (QSCHED_EXIT_OK);
}
