/*
 * sql.c - the generic job: run one SQL statement, or a ;-separated script,
 * in one transaction, and record the rows it affected.  What pg_cron users
 * reach for first.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qsched-plugin.h"

static const struct qsched_option sql_options[] = {
	{ "statement", QSCHED_OPT_STRING, QSCHED_OPT_REQUIRED, NULL, 0, 0,
	    NULL, "SQL to run: one statement or a ;-separated script" },
	{ "transaction", QSCHED_OPT_BOOL, 0, "true", 0, 0, NULL,
	    "run it in one transaction; false runs each statement in "
	    "autocommit (VACUUM, CREATE INDEX CONCURRENTLY)" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

static bool
sql_command(const struct qsched_host *host, struct qsched_run *run,
    const char *command)
{
	PGresult	*res = host->exec(run, command, command, 0, NULL);

	PQclear(res);
	return (res != NULL);
}

/*
 * Send the script with the simple query protocol, which runs several
 * statements in one go, and add up what each one reports.  Returns false
 * after recording the first error.
 */
static bool
sql_script(const struct qsched_host *host, struct qsched_run *run,
    const char *script, int64_t *rows, int64_t *statements)
{
	PGconn		*conn = host->conn(run);
	PGresult	*res;
	bool		 ok = true;

	if (!PQsendQuery(conn, script)) {
		host->fail(run, NULL, "sending the statement");
		return (false);
	}
	while ((res = PQgetResult(conn)) != NULL) {
		switch (PQresultStatus(res)) {
		case PGRES_COMMAND_OK:
		case PGRES_TUPLES_OK:
			*rows += strtoll(PQcmdTuples(res), NULL, 10);
			(*statements)++;
			break;
		default:
			if (ok)
				host->fail(run, res, "statement %lld",
				    (long long)*statements + 1);
			ok = false;
		}
		PQclear(res);
	}
	return (ok);
}

static enum qsched_result
sql_run(const struct qsched_host *host, struct qsched_run *run)
{
	const char	*statement = host->opt_string(run, "statement");
	bool		 txn = host->opt_bool(run, "transaction");
	bool		 dry = host->dry_run(run);
	int64_t		 rows = 0, statements = 0;

	if (dry && !txn) {
		host->message(run, "dry run: would run in autocommit (not "
		    "executed): %s", statement);
		return (QSCHED_OK);
	}
	if (txn && !sql_command(host, run, "BEGIN"))
		return (QSCHED_FAIL);
	if (!sql_script(host, run, statement, &rows, &statements)) {
		if (txn)
			PQclear(PQexec(host->conn(run), "ROLLBACK"));
		return (host->cancelled(run) ? QSCHED_CANCELLED : QSCHED_FAIL);
	}
	/* A dry run executes inside the transaction and rolls it back, so
	 * it reports what the statement would really touch. */
	if (txn && !sql_command(host, run, dry ? "ROLLBACK" : "COMMIT"))
		return (QSCHED_FAIL);
	host->counter(run, "statements", statements);
	if (dry)
		host->message(run, "dry run: %lld row%s would be affected "
		    "(rolled back)", (long long)rows, rows == 1 ? "" : "s");
	else {
		host->add_rows(run, rows);
		host->message(run, "%lld row%s affected", (long long)rows,
		    rows == 1 ? "" : "s");
	}
	return (QSCHED_OK);
}

QSCHED_PLUGIN_DEFINE(
	.name = "sql",
	.version = PACKAGE_VERSION,
	.summary = "run one SQL statement or script in a transaction",
	.options = sql_options,
	.run = sql_run,
)
