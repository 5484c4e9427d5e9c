/*
 * backfill.h - the legacy_backfill plugin's internal interfaces, grouped
 * by file.  Functions that talk to the database return 0 on success and
 * -1 on failure, after recording why with host->message or host->fail.
 */
#ifndef BACKFILL_H
#define BACKFILL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qsched-plugin.h"
#include "../common/health.h"

#define BACKFILL_BATCH_MIN	100
#define BACKFILL_BATCH_MAX	50000
#define BACKFILL_NTYPES		2	/* the queue types that are copied */
#define BACKFILL_UUID_LEN	36
#define BACKFILL_BLOCKS_MAX	131072	/* 1 GiB of heap per batch at most */
#define BACKFILL_CHECKPOINT	"state"
#define BACKFILL_PARALLEL_MAX	16

/* state.c - the checkpoint of a pass, and batch sizing; no database. */
enum state_phase {
	PHASE_NONE,		/* no pass ever started */
	PHASE_COPY,		/* copying: resume at state.block */
	PHASE_PROOF,		/* everything copied; the proof is due */
	PHASE_DONE,		/* the pass ended; hwm is the next one's prev */
};
struct state {
	enum state_phase phase;
	int64_t		 pass;		/* run id of the attempt that began it */
	int64_t		 hwm;		/* xid8: rows written before it */
	int64_t		 prev;		/* xid8: the previous pass's hwm, or 0 */
	int64_t		 block;		/* the next heap block of call_queue */
	int64_t		 blocks;	/* its size in blocks when the scan began */
	int64_t		 filenode;	/* its relfilenode then: a rewrite restarts */
	int64_t		 total;		/* rows the pass examines */
	int64_t		 done;		/* rows examined so far */
	int64_t		 batches;
	int64_t		 inserted;
	int64_t		 updated;
	int64_t		 unchanged;
	int64_t		 conflicts;
	uint64_t	 digest[BACKFILL_NTYPES];	/* of the rows written */
	int64_t		 size;		/* the batch size reached */
	int64_t		 ranges;	/* split into qsched.backfill_ranges */
};
extern const char *const state_types[BACKFILL_NTYPES];
int	 state_type_index(const char *queue_type);	/* -1 if not copied */
/* Parse a checkpoint value into ST; -1 (ST zeroed) if malformed. */
int	 state_parse(const char *text, struct state *st);
/* Write ST as a checkpoint value; returns the length, as snprintf. */
int	 state_format(const struct state *st, char *buf, size_t len);
const char	*state_phase_name(enum state_phase);
/*
 * The next batch size after a batch of SIZE rows took ELAPSED_MS: toward
 * TARGET_MS, at most doubling or halving, within [BACKFILL_BATCH_MIN,
 * BACKFILL_BATCH_MAX].
 */
int64_t	 state_next_size(int64_t size, int64_t elapsed_ms, int64_t target_ms);
/* The same within the options' [LO, HI]; elapsed = target clamps only. */
int64_t	 state_adapt_size(int64_t size, int64_t elapsed_ms, int64_t target_ms,
	    int64_t lo, int64_t hi);
/* The heap blocks for a batch of SIZE rows at ST's density: at least 1,
 * at most what is left and BACKFILL_BLOCKS_MAX. */
int64_t	 state_batch_blocks(const struct state *st, int64_t size);
/* Digest arithmetic: sums of 64-bit hashes, mod 2^64.  "123" -> 123; -1
 * if TEXT is not a decimal number below 2^64. */
int	 state_digest_parse(const char *text, uint64_t *out);

/* query.c - SQL text shared by the plan, the batches and the proof. */
/*
 * Where the bookkeeping lives.  The names are fixed; a dry run that finds
 * the tables missing reads empty stand-ins instead of creating them.
 */
struct query_rels {
	const char	*conflicts;	/* qsched.backfill_conflicts, or empty */
	const char	*positions;	/* qsched.backfill_positions, or empty */
};
/* The xid8 of row version ALIAS: see query.c for why and how. */
void	 query_xid8(FILE *f, const char *alias);
/* "AND <scope>": ALIAS written before HWM ($H) and, if PREV ($P) is
 * given, not before PREV.  H and P are parameter numbers (P 0: none, and
 * the caller passes parameter types, as $P is then unused). */
void	 query_scope(FILE *f, const char *alias, int h, int p);
/* The mapped columns of legacy row C joined to u (user_call_scores) and
 * p (positions), named as the target columns. */
void	 query_mapped(FILE *f);
/* A row of queue type TYPE's table as a record of ALIAS's columns, or
 * a CASE over ALIAS.queue_type when TYPE is NULL. */
void	 query_row(FILE *f, const char *alias, const char *type);
/* "sum of hash_record_extended(EXPR) mod 2^64" as text. */
void	 query_digest(FILE *f, const char *expr, const char *filter);
/* The target table of a queue type, and its column list. */
const char	*query_table(const char *type);
const char	*query_columns(const char *type);
/* Prefix every column of a comma-separated LIST with ALIAS. */
void	 query_prefixed(FILE *f, const char *alias, const char *list);
/* A memstream to build a query in; NULL (and the run failed) if out of
 * memory. */
FILE	*query_open(const struct qsched_host *, struct qsched_run *,
	    char **bufp, size_t *lenp);
/* Close memstream F and return its string *BUFP; NULL (and the run
 * failed) if out of memory. */
char	*query_finish(const struct qsched_host *, struct qsched_run *,
	    FILE *f, char **bufp);
/*
 * Run SQL with text parameters (NULL entries are SQL NULL) of TYPES
 * (pg_type oids; NULL: inferred).  Returns the result (tuples or command)
 * or NULL after host->fail(WHAT).
 */
#define QUERY_TID	27
#define QUERY_INT4	23
#define QUERY_INT8	20
#define QUERY_TEXTARRAY	1009
PGresult *query_exec(const struct qsched_host *, struct qsched_run *,
	    const char *what, const char *sql, int n, const Oid *types,
	    const char *const *params);
int	 query_command(const struct qsched_host *, struct qsched_run *,
	    const char *what, const char *sql);
/* The statuses option as a text[] literal into BUF, "" for all. */
int	 query_statuses(const struct qsched_host *, struct qsched_run *,
	    char *buf, size_t len);
int	 query_statuses_valid(const char *text, char *err, size_t len);

/* plan.c - the bookkeeping tables, and the start of a pass. */
/* Create qsched.backfill_conflicts and qsched.backfill_positions. */
int	 plan_tables(const struct qsched_host *, struct qsched_run *);
/* 1 if both exist, 0 if not (dry runs), -1 on error. */
int	 plan_tables_exist(const struct qsched_host *, struct qsched_run *);
/* The high-water mark: the oldest transaction of this database still
 * running (see plan.c); rows written before it are in the pass. */
int	 plan_hwm(const struct qsched_host *, struct qsched_run *,
	    int64_t *hwm);
/*
 * What the window [prev, hwm) holds: TODO rows of the copied types to
 * examine, the largest legacy queue_position of each copied type below
 * hwm, and per other queue type (and per status left out) the rows that
 * stay in call_queue, as counters skipped_<type> when METRICS, as lines
 * on OUT when not NULL.  Returns 0 or -1.
 */
struct plan_counts {
	int64_t		 todo;
	int64_t		 todo_type[BACKFILL_NTYPES];
	int64_t		 maxpos[BACKFILL_NTYPES];
	int64_t		 skipped;
};
int	 plan_count(const struct qsched_host *, struct qsched_run *,
	    int64_t hwm, int64_t prev, struct plan_counts *, bool metrics,
	    FILE *out);
/* The size in blocks and the relfilenode of call_queue, into ST. */
int	 plan_extent(const struct qsched_host *, struct qsched_run *,
	    struct state *st);
/* Begin a pass in ST (hwm, prev, pass set): positions for the rows
 * without one, duplicate live rows recorded as conflicts, where the scan
 * starts and ends, and the checkpoint, in one transaction. */
int	 plan_begin(const struct qsched_host *, struct qsched_run *,
	    struct state *st, const struct plan_counts *);

struct health;

/* batch.c - one batch: copy, record, checkpoint, commit. */
struct batch_totals {
	int64_t		 inserted[BACKFILL_NTYPES];
	int64_t		 updated[BACKFILL_NTYPES];
	int64_t		 unchanged[BACKFILL_NTYPES];
	int64_t		 conflicts[BACKFILL_NTYPES];
	int64_t		 reasons[4];	/* by batch_reasons[] */
	int64_t		 batches;
	int64_t		 timeouts;	/* statement timeouts: size halved */
	int64_t		 retries;	/* batches retried after a conflict */
	int64_t		 resumed;	/* rows earlier runs did in ranges */
};
extern const char *const batch_reasons[4];
/*
 * Copy the next batch, about *SIZE rows from st->block on, and commit it
 * with the checkpoint.  Returns 1 when a batch was copied, 0 when nothing
 * is left, -1 on failure.  *SIZE halves after a statement timeout.
 */
int	 batch_run(const struct qsched_host *, struct qsched_run *,
	    struct state *st, int64_t *size, struct batch_totals *);
/*
 * The pieces parallel.c shares: the statement (parameters as batch.c
 * says; PREV: a sync pass), one result row accounted, the SQLSTATEs worth
 * a retry, and the check that the transaction left call_queue alone.
 */
char	*batch_sql(const struct qsched_host *, struct qsched_run *, bool prev);
int	 batch_account(const struct qsched_host *, struct qsched_run *,
	    PGresult *res, int r, struct state *st, struct batch_totals *t);
bool	 batch_transient(const char *sqlstate);
/* The table was rewritten: scan it again from block 0 (checkpointed). */
int	 batch_rescan(const struct qsched_host *, struct qsched_run *,
	    struct state *st);
#define BATCH_UNTOUCHED_SQL						\
	"SELECT pg_stat_get_xact_tuples_inserted('call_queue'::regclass) "	\
	"+ pg_stat_get_xact_tuples_updated('call_queue'::regclass) "	\
	"+ pg_stat_get_xact_tuples_deleted('call_queue'::regclass), "	\
	"coalesce((SELECT string_agg(DISTINCT l.mode, ',') FROM pg_locks "	\
	"AS l WHERE l.pid = pg_backend_pid() AND l.locktype = 'relation' "	\
	"AND l.relation = 'call_queue'::regclass AND l.mode <> "		\
	"'AccessShareLock'), '')"
int	 batch_untouched_result(const struct qsched_host *,
	    struct qsched_run *, const PGresult *res);
#define BATCH_NPARAMS	7
extern const Oid batch_types[BATCH_NPARAMS];

/* parallel.c - the copy phase on parallel worker connections. */
/*
 * Copy what is left of the pass on min(parallel, ranges) connections
 * from host->connect(), each batch committing with its range's row in
 * qsched.backfill_ranges; then fold the ranges into ST and the
 * checkpoint, phase proof.  Throttles as the serial copy does.
 */
enum qsched_result parallel_copy(const struct qsched_host *,
	    struct qsched_run *, struct state *st, struct batch_totals *t,
	    int64_t *size, struct health *th);

/*
 * throttle.c - health throttling between batches: plugins/common/health.h
 * on the backfill's tables (vacuum on the two targets; lock waiters on
 * them and on call_queue, which it reads).  The other calls are health.h's.
 */
void	 throttle_init(const struct qsched_host *, struct qsched_run *,
	    struct health *);

/* proof.c - the conservation proof. */
struct proof_type {
	int64_t		 source;
	int64_t		 copied;
	int64_t		 conflicts;
	int64_t		 missing;
	uint64_t	 source_digest;
	uint64_t	 copy_digest;
};
struct proof {
	struct proof_type t[BACKFILL_NTYPES];
	bool		 ok;
	char		 why[512];	/* the first failure, or "ok" */
};
/* Prove every legacy row below HWM of the copied types is copied or a
 * conflict, and the copies equal their sources; on a mismatch, narrow
 * down to the first differing id range. */
int	 proof_run(const struct qsched_host *, struct qsched_run *,
	    const struct query_rels *, int64_t hwm, struct proof *);
void	 proof_print(const struct proof *, FILE *f);

#endif /* BACKFILL_H */
