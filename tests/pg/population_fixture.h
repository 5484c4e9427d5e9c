/*
 * population_fixture.h - helpers for the queue_population suite
 * (tests/pg_population): the application's database with generated
 * users, the migrations applied the real way (the schema-migrate job),
 * runs of the population jobs, the population rule written independently
 * of the plugin, and row snapshots that tell which rows a run wrote.
 *
 * Every helper asserts (th.h): a test needs no error checks around them.
 * Tables the helpers create (pf_expect, snapshots) live in the test's own
 * database.
 */
#ifndef POPULATION_FIXTURE_H
#define POPULATION_FIXTURE_H

#include <stdbool.h>

#include <libpq-fe.h>

#define PF_UNSIGNED	"unsigned-population"
#define PF_OUTSTANDING	"outstanding-population"

/* A queue as the tests see it: its name, table and job. */
struct pf_queue {
	const char	*name;		/* "unsigned_users" */
	const char	*table;		/* "unsigned_users_queue" */
	const char	*job;		/* PF_UNSIGNED */
};
extern const struct pf_queue pf_unsigned, pf_outstanding;

/*
 * pf_flags - write th_tmp/flags.ini with these two flags (the others
 * true).  Call it before pf_conf, which otherwise writes all-true flags.
 */
void	 pf_flags(bool separated, bool legacy);

/*
 * pf_conf - jobs.conf with the shipped plugins and the jobs
 * schema-migrate (this tree's sql/migrations), unsigned-population and
 * outstanding-population (default options, and SETTINGS, jobs.conf
 * lines, unless NULL).  Harness-owned path.
 */
const char *pf_conf(const char *settings);

/*
 * pf_load - the application's tables with USERS generated users (SEED),
 * then the migrations, applied by running schema-migrate.  ADOPT: the
 * separated tables as the application made them, filled the way its own
 * jobs left them (generate_separated), adopted by the migrations with
 * resolve_duplicates.
 *
 * Generated times spread continuously around the rule's two time
 * boundaries (the cooling period and next_call_after), so some user
 * would cross one while a test runs; users within ten minutes of either
 * are moved twenty minutes further away, which keeps every user's
 * eligibility fixed for ten minutes.
 */
void	 pf_load(PGconn *c, const char *conf, int users, int seed,
	    bool adopt);

/*
 * pf_user - add a user of queue type QTYPE (SQL: 'unsigned_users', NULL,
 * ...) with this score, created AGE_S seconds ago, next_call_after
 * NCA_S seconds from now (SQL NULL if NCA_NULL).
 */
void	 pf_user(PGconn *c, long long user_id, const char *qtype, int score,
	    bool active, long age_s, bool nca_null, long nca_s);

/*
 * pf_refresh - run JOB (with --set max_size=MAX unless MAX < 0, and
 * --dry-run if DRY); asserts it exits with WANT.
 */
void	 pf_refresh(const char *conf, const char *job, long max, bool dry,
	    int want);
/* pf_refresh_set - the same, with one more --set SET unless NULL. */
void	 pf_refresh_set(const char *conf, const char *job, long max, bool dry,
	    const char *set, int want);
/* The --set that makes a refresh compare the whole queue. */
#define PF_FULL	"full_refresh_every=0"

/* pf_metric - metrics->NAME of the newest run of JOB; asserts it is set. */
long long pf_metric(PGconn *c, const char *job, const char *name);

/*
 * pf_expect - table pf_expect(user_id, pos, score, reason, created_at,
 * next_call_after): the population rule for queue Q at the start time
 * of the newest run of its job, with MAX and the cooling period in
 * seconds, written without the plugin's SQL.
 */
void	 pf_expect(PGconn *c, const struct pf_queue *q, long max,
	    long cooling_s);

/*
 * pf_mismatches - rows where the pending entries of Q and pf_expect
 * disagree: a user in one and not the other, another place in claim
 * order (queue_position is sparse: its rank is compared), a position
 * two entries share, another score, reason or queue column, or an
 * available_from in the future.  Users holding an assigned entry are
 * left out: they keep it.
 */
long long pf_mismatches(PGconn *c, const struct pf_queue *q);

/*
 * pf_snapshot - remember every row of TABLE (id, xmin, ctid and its
 * content without updated_at) in table SNAP.
 */
void	 pf_snapshot(PGconn *c, const char *table, const char *snap);

/*
 * pf_written - rows of TABLE written since pf_snapshot(SNAP): inserted,
 * updated (another xmin or ctid) or deleted.  pf_written_same - of
 * those updated, the ones whose content (but updated_at) did not change:
 * writes that were not needed.
 */
long long pf_written(PGconn *c, const char *table, const char *snap);
long long pf_written_same(PGconn *c, const char *table, const char *snap);

/*
 * pf_queue_every_unsigned - fill unsigned_users_queue with every user of
 * that queue type, pending, in score order (positions 1..N), and
 * ANALYZE: a queue to measure or fault, not the population's rule.
 */
void	 pf_queue_every_unsigned(PGconn *c);

#endif /* POPULATION_FIXTURE_H */
