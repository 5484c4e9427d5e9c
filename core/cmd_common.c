/*
 * cmd_common.c - start-up shared by the commands: load the configuration,
 * connect the bookkeeping connection.  Only these start-up paths decide
 * exit statuses; everything below them returns errors.
 */
#include "qsched.h"

#include <stdio.h>

int
cmd_load_config(struct cmd_ctx *ctx, struct config **cfg, bool bind)
{
	char	 err[QSCHED_ERRLEN];

	if ((bind ? config_load : config_load_file)(ctx->config_path, cfg,
	    err, sizeof err) == -1) {
		fprintf(stderr, "qsched: %s\n", err);
		return (QSCHED_EXIT_USAGE);
	}
	return (QSCHED_EXIT_OK);
}

int
cmd_require_jobs(const struct config *cfg)
{
	if (cfg->njobs > 0)
		return (QSCHED_EXIT_OK);
	fprintf(stderr, "qsched: %s: no jobs defined (an empty or truncated "
	    "file?)\n", cfg->path);
	return (QSCHED_EXIT_USAGE);
}

int
cmd_connect(const struct config *cfg, PGconn **conn, enum cmd_schema mode)
{
	char	 err[QSCHED_ERRLEN], target[256];
	int	 have;

	*conn = db_connect(cfg->database, "qsched", NULL, err, sizeof err);
	if (*conn == NULL) {
		fprintf(stderr, "qsched: database unreachable (%s): %s\n",
		    db_target(cfg->database, target, sizeof target), err);
		return (QSCHED_EXIT_DB);
	}
	if (mode == CMD_SCHEMA_ANY)
		return (QSCHED_EXIT_OK);
	if (mode == CMD_SCHEMA_ENSURE) {
		if (schema_ensure(*conn, err, sizeof err) == -1 ||
		    history_abandon_dead(*conn, err, sizeof err) == -1)
			goto fail;
		return (QSCHED_EXIT_OK);
	}
	/* Reading commands write nothing: they only say what is missing. */
	if ((have = schema_version(*conn, err, sizeof err)) == -1)
		goto fail;
	if (have == 0) {
		fprintf(stderr, "qsched: no qsched schema in %s: `qsched init` "
		    "creates it (so do the first `qsched run` and `qsched "
		    "daemon`)\n", db_target(cfg->database, target,
		    sizeof target));
		PQfinish(*conn);
		*conn = NULL;
		return (QSCHED_EXIT_DB);
	}
	return (QSCHED_EXIT_OK);
fail:
	fprintf(stderr, "qsched: %s\n", err);
	PQfinish(*conn);
	*conn = NULL;
	return (QSCHED_EXIT_DB);
}

int
cmd_init(struct cmd_ctx *ctx)
{
	struct config	*cfg = NULL;
	PGconn		*conn = NULL;
	char		 err[QSCHED_ERRLEN];
	int		 rc;

	if (ctx->argc != 1) {
		fprintf(stderr, "usage: qsched init\n");
		return (QSCHED_EXIT_USAGE);
	}
	if ((rc = cmd_load_config(ctx, &cfg, false)) != QSCHED_EXIT_OK)
		return (rc);
	if ((rc = cmd_connect(cfg, &conn, CMD_SCHEMA_ANY)) != QSCHED_EXIT_OK) {
		config_free(cfg);
		return (rc);
	}
	if (schema_ensure(conn, err, sizeof err) == -1) {
		fprintf(stderr, "qsched: %s\n", err);
		rc = QSCHED_EXIT_DB;
	} else {
		printf("qsched schema: version %d\n", schema_version(conn, err,
		    sizeof err));
		rc = QSCHED_EXIT_OK;
	}
	PQfinish(conn);
	config_free(cfg);
	return (rc);
}

/*
 * --since takes a duration back from now ("2h", "7d") or anything
 * PostgreSQL reads as a timestamptz ("2026-11-01", "2026-11-01 08:00Z").
 */
char *
cmd_since(PGconn *conn, const char *text, char *err, size_t errlen)
{
	char		 e[QSCHED_ERRLEN], *out;
	int64_t		 ms;
	const char	*params[1] = { text };
	PGresult	*res;

	if (duration_parse(text, &ms, e, sizeof e) == 0) {
		char	 t[64];

		xasprintf(&out, "%s", tz_format_utc((time_t)((clock_now_ms() -
		    ms) / 1000), t, sizeof t));
		return (out);
	}
	res = db_query(conn, "SELECT $1::timestamptz::text", 1, params, e,
	    sizeof e);
	if (res == NULL) {
		snprintf(err, errlen, "--since: \"%s\" is neither a duration "
		    "(2h, 7d) nor a timestamp (%s)", text, e);
		return (NULL);
	}
	out = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (out);
}

int
cmd_format_option(const char *cmd, const char *name, enum format *f)
{
	if (format_parse(name, f) == 0)
		return (0);
	fprintf(stderr, "qsched: %s: --format: \"%s\" is not table, json or "
	    "csv\n", cmd, name);
	return (-1);
}
