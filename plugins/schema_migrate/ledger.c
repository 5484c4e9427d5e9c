/*
 * ledger.c - what has been applied: qsched.schema_migrations.  The
 * mirror in Prisma's _prisma_migrations is prisma.c's.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate.h"

bool
ledger_exec(const struct qsched_host *host, struct qsched_run *run,
    const char *what, const char *sql, int n, const char *const *params,
    PGresult **out)
{
	PGresult	*res;

	/* Without parameters, several statements may go at once. */
	if ((res = host->exec(run, what, sql, n, n == 0 ? NULL :
	    params)) == NULL)
		return (false);
	if (out != NULL)
		*out = res;
	else
		PQclear(res);
	return (true);
}

int
ledger_prepare(const struct qsched_host *host, struct qsched_run *run)
{
	return (ledger_exec(host, run, "creating qsched.schema_migrations",
	    "SET client_min_messages = warning; "
	    "CREATE TABLE IF NOT EXISTS qsched.schema_migrations ("
	    "version integer PRIMARY KEY, name text NOT NULL, "
	    "checksum text NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'), "
	    "applied_at timestamptz NOT NULL DEFAULT clock_timestamp(), "
	    "duration_ms bigint NOT NULL, host text NOT NULL, "
	    "pid integer NOT NULL, qsched_version text NOT NULL); "
	    "RESET client_min_messages", 0, NULL, NULL) ? 0 : -1);
}

int
ledger_checksum(const struct qsched_host *host, struct qsched_run *run,
    int version, char out[SHA256_HEX_LEN + 1])
{
	char		 v[16];
	const char	*params[1] = { v };
	PGresult	*res;
	int		 found;

	snprintf(v, sizeof v, "%d", version);
	if (!ledger_exec(host, run, "reading qsched.schema_migrations",
	    "SELECT checksum FROM qsched.schema_migrations WHERE version = $1",
	    1, params, &res))
		return (-1);
	found = PQntuples(res) == 1;
	if (found)
		snprintf(out, SHA256_HEX_LEN + 1, "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
	return (found);
}

int
ledger_orphans(const struct qsched_host *host, struct qsched_run *run,
    const struct migration_set *set)
{
	PGresult	*res;

	if (!ledger_exec(host, run, "reading qsched.schema_migrations",
	    "SELECT version, name FROM qsched.schema_migrations "
	    "ORDER BY version", 0, NULL, &res))
		return (-1);
	for (int i = 0; i < PQntuples(res); i++) {
		int	 v = atoi(PQgetvalue(res, i, 0));
		bool	 known = false;

		for (size_t j = 0; j < set->n && !known; j++)
			known = set->m[j].version == v;
		if (!known)
			host->log(run, QSCHED_LOG_WARNING, "migration %04d_%s "
			    "is in the ledger but not on disk", v,
			    PQgetvalue(res, i, 1));
	}
	PQclear(res);
	return (0);
}

int
ledger_record(const struct qsched_host *host, struct qsched_run *run,
    const struct migration *m, int64_t duration_ms)
{
	char		 v[16], dur[24], hostname[256], pid[16];
	const char	*params[7] = { v, m->name, m->checksum, dur, hostname,
	    pid, host->version };

	snprintf(v, sizeof v, "%d", m->version);
	snprintf(dur, sizeof dur, "%lld", (long long)duration_ms);
	snprintf(pid, sizeof pid, "%ld", (long)getpid());
	if (gethostname(hostname, sizeof hostname) == -1)
		snprintf(hostname, sizeof hostname, "unknown");
	hostname[sizeof hostname - 1] = '\0';
	return (ledger_exec(host, run, "recording the migration in "
	    "qsched.schema_migrations", "INSERT INTO qsched.schema_migrations "
	    "(version, name, checksum, duration_ms, host, pid, qsched_version) "
	    "VALUES ($1, $2, $3, $4, $5, $6, $7)", 7, params, NULL) ? 0 : -1);
}
