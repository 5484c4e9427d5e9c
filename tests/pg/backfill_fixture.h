/*
 * backfill_fixture.h - what the legacy_backfill suites share: a legacy
 * database with generated data and the migrations applied the real way
 * (qsched run schema-migrate), the jobs.conf for it, and questions about
 * the result (metrics, the end state, the live-entry rule).
 *
 * The helpers assert, as th.h's do.  Strings returned as "char *" are
 * malloc'ed and freed by the caller.
 */
#ifndef BACKFILL_FIXTURE_H
#define BACKFILL_FIXTURE_H

#include <libpq-fe.h>

/* The generator's clock, so two loads with one seed are identical. */
#define BF_NOW	"2026-11-29 08:00:00"

/*
 * bf_load - load the legacy schema and qsched_fixture.generate(USERS,
 * SEED, ROWS, BF_NOW) into th_dbname.
 */
void	 bf_load(PGconn *c, int users, int rows, int seed);

/*
 * bf_conf - jobs.conf with the jobs "schema-migrate" (the migrations in
 * $QSCHED_SRCDIR) and "legacy-backfill" (depends_on schema-migrate),
 * EXTRA written inside the latter's section (settings and options {}).
 * RETURN VALUE: the path, as th_conf_shipped.
 */
const char *bf_conf(const char *extra);

/* bf_migrate - qsched run schema-migrate; asserts it succeeds. */
void	 bf_migrate(const char *conf);

/*
 * bf_prepare - bf_load, bf_conf(EXTRA) and bf_migrate in one; returns
 * the conf path.
 */
const char *bf_prepare(PGconn *c, int users, int rows, int seed,
	    const char *extra);

/* bf_metric - metric NAME of the newest legacy-backfill run, a number. */
long long bf_metric(PGconn *c, const char *name);

/* bf_message - the newest legacy-backfill run's message. */
char	*bf_message(PGconn *c);

/*
 * bf_end_state - an md5 of everything the backfill leaves behind: both
 * target tables, row by row, and the conflicts (without run ids and
 * times, which differ between two runs reaching the same state).
 */
char	*bf_end_state(PGconn *c);

/* bf_source_state - an md5 of call_queue, every row and column. */
char	*bf_source_state(PGconn *c);

/*
 * bf_assert_live_rule - asserts no user has two live (pending or
 * assigned) entries in either target table.
 */
void	 bf_assert_live_rule(PGconn *c);

/*
 * bf_assert_accounted - asserts that per copied queue type every legacy
 * row is either copied or a recorded conflict, never both or neither,
 * counted independently of the plugin's proof.
 */
void	 bf_assert_accounted(PGconn *c);

/*
 * bf_lock_key - the plugin's advisory lock key, computed here as
 * qsched-plugin(3) documents lock keys (FNV-1a 64 of
 * "legacy_backfill/bookkeeping"), not by calling the core.
 */
long long bf_lock_key(void);

/* bf_reset - forget every backfill: empty targets and bookkeeping. */
void	 bf_reset(PGconn *c);

#endif /* BACKFILL_FIXTURE_H */
