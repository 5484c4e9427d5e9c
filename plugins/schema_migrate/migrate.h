/*
 * migrate.h - the schema_migrate plugin's internal interfaces, grouped by
 * file.  Functions return 0 on success and -1 on failure, after recording
 * why with host->message or host->fail.
 */
#ifndef MIGRATE_H
#define MIGRATE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qsched-plugin.h"

/* sha256.c - FIPS 180-4 SHA-256, for the ledgers' checksums. */
#define SHA256_HEX_LEN	64
void	 sha256_hex(const void *data, size_t len,
	    char out[SHA256_HEX_LEN + 1]);

/* split.c - one SQL script into statements, for no-transaction files. */
/*
 * The next statement of SQL starting at *POS: its start and length, with
 * leading blanks and comments skipped and the terminating ';' left out.
 * Quotes, dollar quotes and comments are honoured, so a ';' inside them
 * does not split.  Returns false when only blanks and comments are left.
 */
bool	 split_next(const char *sql, size_t *pos, size_t *start,
	    size_t *len);

/* files.c - the migration files of a directory. */
struct migration {
	int		 version;
	char		*file;		/* "0005_indexes.sql" */
	char		*name;		/* "indexes" */
	char		*path;
	char		*sql;		/* the whole file */
	size_t		 len;
	char		 checksum[SHA256_HEX_LEN + 1];
	bool		 no_transaction;	/* first line -- qsched:no-transaction */
	char		*prisma_name;	/* the Prisma migration_name */
};
struct migration_set {
	struct migration *m;
	size_t		 n;
};
int	 files_load(const struct qsched_host *, struct qsched_run *,
	    const char *dir, struct migration_set *);
void	 files_free(struct migration_set *);

/* ledger.c - qsched.schema_migrations. */
/* Run SQL with N text parameters (none: several statements may go at
 * once); true on success, the result in *OUT unless OUT is NULL; false
 * after the run's failure is recorded. */
bool	 ledger_exec(const struct qsched_host *, struct qsched_run *,
	    const char *what, const char *sql, int n,
	    const char *const *params, PGresult **out);
int	 ledger_prepare(const struct qsched_host *, struct qsched_run *);
/* The checksum recorded for VERSION into OUT; 1 found, 0 not, -1 error. */
int	 ledger_checksum(const struct qsched_host *, struct qsched_run *,
	    int version, char out[SHA256_HEX_LEN + 1]);
/* Versions in the ledger with no file on disk: logged as warnings. */
int	 ledger_orphans(const struct qsched_host *, struct qsched_run *,
	    const struct migration_set *);
/* Record M as applied, in the caller's transaction if one is open. */
int	 ledger_record(const struct qsched_host *, struct qsched_run *,
	    const struct migration *, int64_t duration_ms);

/* prisma.c - the mirror in Prisma's _prisma_migrations. */
/*
 * Under Prisma's lock, held only for this: create the table, delete
 * claims an interrupted run left, mirror the applied migrations up to
 * TARGET, and claim each PENDING one (a row Prisma counts as applied).
 */
int	 prisma_claim_all(const struct qsched_host *, struct qsched_run *,
	    const struct migration_set *, const bool *pending, int target);
/* Delete the claims no migration of this run finished (after a failure). */
int	 prisma_unclaim(const struct qsched_host *, struct qsched_run *);
/* M applied: its claim, else a new row, becomes a finished row; failed
 * rows of its name are marked rolled back.  In the caller's transaction. */
int	 prisma_record(const struct qsched_host *, struct qsched_run *,
	    const struct migration *);

/* lock.c - migrators serialise on advisory locks, polled from autocommit. */
#define MIGRATE_LOCK_SQL	"pg_try_advisory_lock(29044, 1)"
#define MIGRATE_UNLOCK_SQL	"pg_advisory_unlock(29044, 1)"
#define PRISMA_LOCK_SQL		"pg_try_advisory_lock(72707369)"
#define PRISMA_UNLOCK_SQL	"pg_advisory_unlock(72707369)"
/* Poll TRY_SQL until it returns true; 0, or -1 (cancelled or error). */
int	 lock_poll(const struct qsched_host *, struct qsched_run *,
	    const char *try_sql, const char *what);
/* Run UNLOCK_SQL; 0, or -1 (logged) when the lock was not held. */
int	 lock_release(const struct qsched_host *, struct qsched_run *,
	    const char *unlock_sql);

/* apply.c - one migration file, with lock_timeout retries. */
struct apply_opts {
	int64_t		 lock_timeout_ms;
	int64_t		 lock_retries;
	bool		 prisma;
};
int	 apply_one(const struct qsched_host *, struct qsched_run *,
	    const struct migration *, const struct apply_opts *);

#endif /* MIGRATE_H */
