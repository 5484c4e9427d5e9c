/*
 * migrate.c - the schema_migrate plugin: apply the numbered SQL files of a
 * directory in order, each once, recorded with its SHA-256 in
 * qsched.schema_migrations (and optionally in Prisma's ledger), refusing
 * to go on when an applied file has changed since.
 */
#include <config.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "migrate.h"

#ifndef QSCHED_DATADIR
#define QSCHED_DATADIR	"/usr/share/qsched"
#endif

static const struct qsched_option migrate_options[] = {
	{ "dir", QSCHED_OPT_STRING, 0, QSCHED_DATADIR "/sql/migrations", 0, 0,
	    NULL, "directory of NNNN_name.sql migrations" },
	{ "target", QSCHED_OPT_STRING, 0, "latest", 0, 0, NULL,
	    "apply up to this version (a number), or \"latest\"" },
	{ "lock_timeout", QSCHED_OPT_DURATION, 0, "1s", 1, 3600000, NULL,
	    "how long DDL may wait for a table lock before retrying" },
	{ "lock_retries", QSCHED_OPT_INT, 0, "30", 0, 10000, NULL,
	    "how often a lock timeout is retried, with backoff" },
	{ "resolve_duplicates", QSCHED_OPT_BOOL, 0, "false", 0, 0, NULL,
	    "adopting app-made tables: keep the best live entry per user, "
	    "mark the others superseded" },
	{ "prisma_ledger", QSCHED_OPT_BOOL, 0, "false", 0, 0, NULL,
	    "also record migrations in _prisma_migrations" },
	{ "expect_tables", QSCHED_OPT_STRING, 0,
	    "unsigned_users_queue,outstanding_requests_queue", 0, 0, NULL,
	    "comma-separated tables that must exist after migrating" },
	{ NULL, 0, 0, NULL, 0, 0, NULL, NULL },
};

/* "latest" or a version number; INT_MAX for latest, -1 if malformed. */
static int
migrate_target(const char *text)
{
	char	*end;
	long	 v;

	if (strcmp(text, "latest") == 0 || *text == '\0')
		return (INT_MAX);
	errno = 0;
	v = strtol(text, &end, 10);
	if (errno != 0 || *end != '\0' || v < 0 || v > INT_MAX)
		return (-1);
	return ((int)v);
}

static int
migrate_check(const struct qsched_host *host, struct qsched_run *run)
{
	struct migration_set set;
	const char	*target = host->opt_string(run, "target");

	if (migrate_target(target) == -1) {
		host->message(run, "target: \"%s\" is neither a version number "
		    "nor \"latest\"", target);
		return (-1);
	}
	if (files_load(host, run, host->opt_string(run, "dir"), &set) == -1)
		return (-1);
	files_free(&set);
	return (0);
}

/* After migrating, the tables the application needs must be there. */
static int
migrate_verify(const struct qsched_host *host, struct qsched_run *run)
{
	const char	*list = host->opt_string(run, "expect_tables");
	const char	*params[1];
	char		*copy = strdup(list), *name, *save = NULL;
	PGresult	*res;
	int		 rc = 0, found = 0;

	if (copy == NULL)
		return (-1);
	for (name = strtok_r(copy, ", ", &save); name != NULL && rc == 0;
	    name = strtok_r(NULL, ", ", &save)) {
		params[0] = name;
		res = PQexecParams(host->conn(run), "SELECT to_regclass($1) "
		    "IS NOT NULL", 1, NULL, params, NULL, NULL, 0);
		if (PQresultStatus(res) != PGRES_TUPLES_OK) {
			host->fail(run, res, "checking table %s", name);
			rc = -1;
		} else if (*PQgetvalue(res, 0, 0) != 't') {
			host->message(run, "table %s does not exist after "
			    "migrating", name);
			rc = -1;
		} else
			found++;
		PQclear(res);
	}
	free(copy);
	host->counter(run, "expected_tables_found", found);
	return (rc);
}

/*
 * Which files are pending; an applied file whose checksum changed is
 * drift and stops everything.  Returns the number pending, or -1.
 */
static int
migrate_pending(const struct qsched_host *host, struct qsched_run *run,
    struct migration_set *set, int target, bool *pending)
{
	char	 sum[SHA256_HEX_LEN + 1];
	int	 n = 0, found;

	for (size_t i = 0; i < set->n; i++) {
		const struct migration *m = &set->m[i];

		pending[i] = false;
		if ((found = ledger_checksum(host, run, m->version, sum)) == -1)
			return (-1);
		if (found && strcmp(sum, m->checksum) != 0) {
			host->message(run, "drift: %s changed after it was "
			    "applied (ledger sha256 %.12s..., file %.12s...); "
			    "restore the file, or add a new migration",
			    m->path, sum, m->checksum);
			host->note(run, "drift", m->file);
			return (-1);
		}
		if (!found && m->version <= target) {
			pending[i] = true;
			n++;
		}
	}
	return (n);
}

static enum qsched_result
migrate_run(const struct qsched_host *host, struct qsched_run *run)
{
	struct migration_set set;
	struct apply_opts o;
	enum qsched_result rc = QSCHED_FAIL;
	bool		*pending = NULL, locked = false, claimed = false;
	int		 target, npending, applied = 0, version = 0;

	o.lock_timeout_ms = host->opt_duration_ms(run, "lock_timeout");
	o.lock_retries = host->opt_int(run, "lock_retries");
	o.prisma = host->opt_bool(run, "prisma_ledger");
	if (migrate_check(host, run) == -1)
		return (QSCHED_FAIL);
	target = migrate_target(host->opt_string(run, "target"));
	if (files_load(host, run, host->opt_string(run, "dir"), &set) == -1)
		return (QSCHED_FAIL);
	if ((pending = calloc(set.n + 1, sizeof *pending)) == NULL)
		goto out;
	/* Held for the whole run; Prisma's lock only briefly (prisma.c). */
	if (lock_poll(host, run, MIGRATE_LOCK_SQL, "the migration lock") ==
	    -1) {
		rc = host->cancelled(run) ? QSCHED_CANCELLED : QSCHED_FAIL;
		goto out;
	}
	locked = true;
	if (ledger_prepare(host, run) == -1 ||
	    (npending = migrate_pending(host, run, &set, target, pending)) ==
	    -1 || ledger_orphans(host, run, &set) == -1)
		goto out;
	host->counter(run, "files", (int64_t)set.n);
	host->counter(run, "pending", npending);

	if (host->dry_run(run)) {
		for (size_t i = 0; i < set.n; i++)
			if (pending[i])
				printf("pending  %s  sha256 %s  %s\n",
				    set.m[i].file, set.m[i].checksum,
				    set.m[i].no_transaction ?
				    "no transaction (statement by statement)" :
				    "one transaction");
		fflush(stdout);
		host->message(run, "dry run: %d migration%s pending", npending,
		    npending == 1 ? "" : "s");
		rc = QSCHED_OK;
		goto out;
	}

	if (o.prisma) {
		claimed = true;
		if (prisma_claim_all(host, run, &set, pending, target) == -1) {
			rc = host->cancelled(run) ? QSCHED_CANCELLED :
			    QSCHED_FAIL;
			goto out;
		}
	}
	if (host->opt_bool(run, "resolve_duplicates"))
		PQclear(PQexec(host->conn(run), "SELECT set_config("
		    "'qsched.resolve_duplicates', 'true', false)"));
	for (size_t i = 0; i < set.n; i++) {
		if (!pending[i]) {
			if (set.m[i].version <= target)
				version = set.m[i].version;
			continue;
		}
		if (host->cancelled(run)) {
			host->message(run, "cancelled before %s; %d applied",
			    set.m[i].file, applied);
			rc = QSCHED_CANCELLED;
			goto out;
		}
		host->progress(run, applied, npending);
		if (apply_one(host, run, &set.m[i], &o) == -1) {
			rc = host->cancelled(run) ? QSCHED_CANCELLED :
			    QSCHED_FAIL;
			goto out;
		}
		applied++;
		version = set.m[i].version;
		host->progress(run, applied, npending);
	}
	if (migrate_verify(host, run) == -1)
		goto out;
	host->counter(run, "applied", applied);
	host->counter(run, "version", version);
	if (applied > 0)
		host->message(run, "applied %d migration%s; schema at version "
		    "%d", applied, applied == 1 ? "" : "s", version);
	else
		host->message(run, "up to date at version %d", version);
	rc = QSCHED_OK;
out:
	host->counter(run, "applied", applied);
	/* Claims of migrations this run did not apply must not stay. */
	if (claimed)
		(void)prisma_unclaim(host, run);
	if (locked)
		(void)lock_release(host, run, MIGRATE_UNLOCK_SQL);
	free(pending);
	files_free(&set);
	return (rc);
}

QSCHED_PLUGIN_DEFINE(
	.name = "schema_migrate",
	.version = PACKAGE_VERSION,
	.summary = "apply numbered SQL migrations once each, with a checksum "
	    "ledger",
	.options = migrate_options,
	.check = migrate_check,
	.run = migrate_run,
)
