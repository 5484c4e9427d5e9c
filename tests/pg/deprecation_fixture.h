/*
 * deprecation_fixture.h - the legacy_deprecation suite's fixture: a
 * legacy database (backfill_fixture.h's bf_load) migrated, backfilled
 * and populated the real way (qsched run of the shipped plugins), the
 * dual-write made consistent, and helpers to flip populate_legacy_queue,
 * run the job and read the retirement's state.  The helpers assert.
 */
#ifndef DEPRECATION_FIXTURE_H
#define DEPRECATION_FIXTURE_H

#include <libpq-fe.h>

/*
 * dep_prepare - load USERS users and ROWS call_queue rows (SEED), write
 * jobs.conf with the migration jobs and "legacy-deprecation" (EXTRA
 * inside its options { }), run schema-migrate, legacy-backfill and both
 * populations, then mark completed the live legacy rows the separated
 * queues do not have (so the dual-write is consistent).  Returns the
 * conf path.
 */
const char *dep_prepare(PGconn *c, int users, int rows, int seed,
	    const char *extra);

/* dep_prepare_job - the same, with SETTINGS (job-level lines, such as
 * timeout) in the job's section. */
const char *dep_prepare_job(PGconn *c, int users, int rows, int seed,
	    const char *settings, const char *extra);

/* dep_conf - only write that jobs.conf (SETTINGS and EXTRA as above);
 * SETTINGS may set the job's schedule (else "@manual");
 * dep_load - only load the data and run the jobs of CONF. */
const char *dep_conf(const char *settings, const char *extra);
void	 dep_load(PGconn *c, const char *conf, int users, int rows,
	    int seed);

/* dep_flag - write flags.ini with populate_legacy_queue = ON. */
void	 dep_flag(int on);

/* dep_run - qsched run legacy-deprecation [ARGS]; asserts exit 0. */
void	 dep_run(const char *conf, const char *arg1, const char *arg2);

/* dep_populate - run both population jobs; asserts they succeed. */
void	 dep_populate(const char *conf);

/* dep_claim - one agent claims one entry of each separated queue. */
void	 dep_claim(PGconn *c);

/* dep_state - the state of OBJECT; caller frees. */
char	*dep_state(PGconn *c, const char *object);
void	 dep_assert_state(PGconn *c, const char *object, const char *state);

/* dep_note, dep_counter - metrics of the newest legacy-deprecation run. */
char	*dep_note(PGconn *c, const char *name);
long long dep_counter(PGconn *c, const char *name);
char	*dep_message(PGconn *c);

/* dep_monitoring - from dual_write to monitoring for both queue types:
 * freeze, populate, claim, run again. */
void	 dep_monitoring(PGconn *c, const char *conf);

/* dep_rows_md5 - md5 of the call_queue rows matching WHERE, by id. */
char	*dep_rows_md5(PGconn *c, const char *table, const char *where);

#endif /* DEPRECATION_FIXTURE_H */
