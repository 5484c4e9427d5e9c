/*
 * prisma.c - with prisma_ledger on, a mirror of the applied migrations in
 * Prisma's _prisma_migrations, so the application's `prisma migrate
 * deploy` treats them as applied and never runs qsched's files itself.
 *
 * Prisma serialises its migrators on pg_advisory_lock(72707369), waited
 * for inside a statement for at most 10 s.  That waiting statement holds a
 * snapshot, and CREATE INDEX CONCURRENTLY waits for every older snapshot:
 * holding the lock across a concurrent build deadlocks (40P01), or makes
 * the deploy give up.  So qsched holds Prisma's lock only while it writes
 * the mirror, a few milliseconds, and never while a migration runs.
 *
 * A deploy may then read the ledger while qsched applies its files, so
 * before the first file runs every pending migration is claimed, in one
 * short section under the lock: a row that Prisma counts as applied
 * (finished_at set, rolled_back_at NULL; deploy and status look at
 * nothing else), which deploy therefore leaves alone, marked as a claim
 * by applied_steps_count 0 and its logs text.  Applying a file turns its
 * claim into the row Prisma itself writes (started and finished then,
 * applied_steps_count 1, logs NULL), in the transaction that records it
 * in qsched's ledger.  When the run fails, the claims left are deleted:
 * Prisma 6.19.3's `migrate status` then says the migration is not yet
 * applied, where for a rolled-back row it would say "up to date" while
 * deploy tries to apply it.  A run killed outright leaves its claims
 * until the next run, which deletes them first: holding the migrators'
 * lock, it knows that no other qsched migrator is at work.
 */
#include <config.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "migrate.h"

#define PRISMA_CLAIM_LOGS	"qsched: applying"
#define PRISMA_IS_CLAIM							\
	"applied_steps_count = 0 AND rolled_back_at IS NULL "		\
	"AND logs LIKE '" PRISMA_CLAIM_LOGS "%'"

/* The DDL Prisma itself uses, so `prisma migrate` finds what it expects. */
static int
prisma_prepare(const struct qsched_host *host, struct qsched_run *run)
{
	return (ledger_exec(host, run, "creating _prisma_migrations",
	    "SET client_min_messages = warning; "
	    "CREATE TABLE IF NOT EXISTS \"_prisma_migrations\" ("
	    "\"id\" VARCHAR(36) PRIMARY KEY NOT NULL, "
	    "\"checksum\" VARCHAR(64) NOT NULL, "
	    "\"finished_at\" TIMESTAMPTZ, "
	    "\"migration_name\" VARCHAR(255) NOT NULL, "
	    "\"logs\" TEXT, "
	    "\"rolled_back_at\" TIMESTAMPTZ, "
	    "\"started_at\" TIMESTAMPTZ NOT NULL DEFAULT now(), "
	    "\"applied_steps_count\" INTEGER NOT NULL DEFAULT 0); "
	    "RESET client_min_messages", 0, NULL, NULL) ? 0 : -1);
}

/* A claim row for M unless an applied row of its name exists. */
static int
prisma_claim(const struct qsched_host *host, struct qsched_run *run,
    const struct migration *m)
{
	char		 logs[256];
	const char	*params[3] = { m->prisma_name, m->checksum, logs };

	snprintf(logs, sizeof logs, PRISMA_CLAIM_LOGS " (qsched run %lld, "
	    "pid %ld): counted as applied so that prisma migrate deploy leaves "
	    "it to qsched; applied_steps_count becomes 1 once it is applied",
	    (long long)host->run_id(run), (long)getpid());
	return (ledger_exec(host, run, "claiming the migration in "
	    "_prisma_migrations", "INSERT INTO \"_prisma_migrations\" "
	    "(id, checksum, finished_at, migration_name, logs, rolled_back_at, "
	    "started_at, applied_steps_count) "
	    "SELECT gen_random_uuid()::text, $2::text, now(), $1::text, "
	    "$3::text, NULL, now(), 0 WHERE NOT EXISTS (SELECT 1 FROM "
	    "\"_prisma_migrations\" WHERE migration_name = $1::text "
	    "AND finished_at IS NOT NULL AND rolled_back_at IS NULL)", 3,
	    params, NULL) ? 0 : -1);
}

/*
 * Delete the claims no run finished, on CONN; the number deleted, or -1
 * (logged: the caller's own failure stays the run's message).
 */
static int
prisma_delete_claims(const struct qsched_host *host, struct qsched_run *run,
    PGconn *conn)
{
	PGresult	*res;
	int		 n;

	res = PQexec(conn, "DELETE FROM \"_prisma_migrations\" WHERE "
	    PRISMA_IS_CLAIM);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		host->log(run, QSCHED_LOG_ERR, "deleting qsched's claims from "
		    "_prisma_migrations: %s", PQresultErrorMessage(res));
		PQclear(res);
		return (-1);
	}
	n = atoi(PQcmdTuples(res));
	PQclear(res);
	return (n);
}

int
prisma_claim_all(const struct qsched_host *host, struct qsched_run *run,
    const struct migration_set *set, const bool *pending, int target)
{
	int64_t		 t0;
	int		 rc = -1, stale, claimed = 0;

	if (lock_poll(host, run, PRISMA_LOCK_SQL, "Prisma's migration lock") ==
	    -1)
		return (-1);
	t0 = host->mono_us();
	if (prisma_prepare(host, run) == -1 ||
	    (stale = prisma_delete_claims(host, run, host->conn(run))) == -1)
		goto out;
	if (stale > 0)
		host->log(run, QSCHED_LOG_WARNING, "deleted %d claim%s in "
		    "_prisma_migrations that an interrupted run left", stale,
		    stale == 1 ? "" : "s");
	for (size_t i = 0; i < set->n; i++) {
		if (set->m[i].version > target)
			continue;
		/* Mirror what was applied before prisma_ledger was on. */
		if (!pending[i] && prisma_record(host, run, &set->m[i]) == -1)
			goto out;
		if (pending[i]) {
			if (prisma_claim(host, run, &set->m[i]) == -1)
				goto out;
			claimed++;
		}
	}
	rc = 0;
out:
	if (lock_release(host, run, PRISMA_UNLOCK_SQL) == -1)
		rc = -1;
	host->counter(run, "prisma_lock_held_ms",
	    (host->mono_us() - t0) / 1000);
	if (rc == 0 && claimed > 0)
		host->log(run, QSCHED_LOG_INFO, "claimed %d migration%s in "
		    "_prisma_migrations; Prisma's lock held %lld ms", claimed,
		    claimed == 1 ? "" : "s",
		    (long long)(host->mono_us() - t0) / 1000);
	return (rc);
}

int
prisma_unclaim(const struct qsched_host *host, struct qsched_run *run)
{
	PGconn	*conn = host->conn(run), *own = NULL;
	int	 n;

	/* A terminated backend takes the run's connection with it. */
	if (PQstatus(conn) != CONNECTION_OK && (conn = own =
	    host->connect(run)) == NULL)
		return (-1);
	if (PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	n = prisma_delete_claims(host, run, conn);
	if (n > 0)
		host->log(run, QSCHED_LOG_NOTICE, "withdrew %d claim%s from "
		    "_prisma_migrations: %s not applied", n, n == 1 ? "" : "s",
		    n == 1 ? "that migration is" : "those migrations are");
	if (own != NULL)
		PQfinish(own);
	return (n < 0 ? -1 : 0);
}

int
prisma_record(const struct qsched_host *host, struct qsched_run *run,
    const struct migration *m)
{
	const char	*params[2] = { m->prisma_name, m->checksum };

	/* This run's claim becomes the row Prisma writes for a success. */
	if (!ledger_exec(host, run, "recording the migration in "
	    "_prisma_migrations", "UPDATE \"_prisma_migrations\" SET "
	    "checksum = $2::text, started_at = now(), finished_at = now(), "
	    "logs = NULL, applied_steps_count = 1 "
	    "WHERE migration_name = $1::text AND " PRISMA_IS_CLAIM, 2, params,
	    NULL))
		return (-1);
	/*
	 * A failed row of the same name (finished_at and rolled_back_at both
	 * NULL) would make `prisma migrate deploy` refuse to run: once the
	 * migration has succeeded, such rows are marked rolled back.
	 */
	if (!ledger_exec(host, run, "resolving failed _prisma_migrations rows",
	    "UPDATE \"_prisma_migrations\" SET rolled_back_at = now() "
	    "WHERE migration_name = $1::text AND finished_at IS NULL "
	    "AND rolled_back_at IS NULL", 1, params, NULL))
		return (-1);
	return (ledger_exec(host, run, "recording the migration in "
	    "_prisma_migrations", "INSERT INTO \"_prisma_migrations\" "
	    "(id, checksum, finished_at, migration_name, logs, rolled_back_at, "
	    "started_at, applied_steps_count) "
	    "SELECT gen_random_uuid()::text, $2::text, now(), $1::text, NULL, "
	    "NULL, now(), 1 WHERE NOT EXISTS (SELECT 1 FROM "
	    "\"_prisma_migrations\" WHERE migration_name = $1::text "
	    "AND finished_at IS NOT NULL "
	    "AND rolled_back_at IS NULL)", 2, params, NULL) ? 0 : -1);
}
