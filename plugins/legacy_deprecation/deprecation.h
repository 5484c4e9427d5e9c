/*
 * deprecation.h - the legacy_deprecation plugin's internal interfaces,
 * grouped by file.  Functions that talk to the database return 0 on
 * success and -1 on failure, after recording why with host->message or
 * host->fail (host->exec does that).
 */
#ifndef DEPRECATION_H
#define DEPRECATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "qsched-plugin.h"
#include "../common/health.h"

#define DEP_NOBJECTS	3	/* the two queue types, then the table */
#define DEP_TABLE	2	/* index of the table object */
#define DEP_NGATES	4
#define DEP_UUID_LEN	36
#define DEP_SCHEMA	"qsched_legacy"
#define DEP_ARCHIVE	DEP_SCHEMA ".call_queue_archive"
#define DEP_MAP		DEP_SCHEMA ".archive_map"

/* The states, in order; "dropped" only for the table. */
enum dep_state {
	ST_DUAL_WRITE,
	ST_FROZEN,
	ST_MONITORING,
	ST_ARCHIVED,
	ST_PURGED,
	ST_DROPPED,
};

/* What one gate measured: ok, a line with its numbers, its evidence. */
struct gate {
	const char	*name;
	bool		 applies;	/* gates this object's next step */
	bool		 ok;
	char		*detail;	/* malloc'ed */
	char		*evidence;	/* jsonb text, malloc'ed */
};

/* One retired object, as stored in qsched_legacy.retirement. */
struct object {
	const char	*name;		/* unsigned_users, ..., call_queue */
	const char	*table;		/* its separated table, or NULL */
	const char	*job;		/* its population job, or NULL */
	enum dep_state	 state;
	bool		 clock;		/* monitoring_since is set */
	int64_t		 clock_age_s;	/* seconds since monitoring_since */
	char		 window[40];	/* where the gates' window starts */
	char		 frozen[40];	/* the freeze, or the window start */
	bool		 freeze_consistent;
	char		 digest[40];	/* the archive digest, or "" */
	int64_t		 archived;	/* rows in the archive */
	struct gate	 gates[DEP_NGATES];
};

/* What the next step of an object is. */
enum dep_action {
	ACT_NONE,		/* stay: gates or time say wait */
	ACT_FREEZE,
	ACT_ROLLBACK,
	ACT_MONITOR,		/* frozen -> monitoring */
	ACT_RESET_CLOCK,	/* monitoring: a gate failed */
	ACT_ARCHIVE,
	ACT_PURGE,
	ACT_DROP,
};

struct plan {
	enum dep_action	 action;
	char		 why[1024];	/* what allows or blocks it */
};

/* ledger.c - the state tables and transitions. */
extern const char *const ledger_states[];
/* Create qsched_legacy and its tables, and the three rows; idempotent. */
int	 ledger_prepare(const struct qsched_host *, struct qsched_run *);
/* 1 if the tables exist, 0 if not, -1 on error. */
int	 ledger_exists(const struct qsched_host *, struct qsched_run *);
/* Read OBJ's row (defaults when EXISTS is false). */
int	 ledger_read(const struct qsched_host *, struct qsched_run *,
	    struct object *obj, int64_t period_s, bool exists);
/* Store OBJ's gates (jsonb) in its row. */
int	 ledger_store_gates(const struct qsched_host *, struct qsched_run *,
	    const struct object *obj);
/*
 * Move OBJ to state TO (or keep it, for a clock reset), record the
 * transition with NOTE and the gates as evidence; CLOCK: 1 start the
 * monitoring clock, 0 clear it, -1 leave it.  Commits with the caller's
 * transaction if one is open.
 */
int	 ledger_move(const struct qsched_host *, struct qsched_run *,
	    struct object *obj, enum dep_state to, int clock, const char *note);
/* The gates of OBJ as one jsonb text, malloc'ed. */
char	*ledger_gates_json(const struct object *obj);
void	 ledger_free(struct object *obj);

/* gates.c - the evidence gates, measured on every run. */
extern const char *const gate_names[DEP_NGATES];
int	 gates_measure(const struct qsched_host *, struct qsched_run *,
	    struct object *obj, const struct object *objs);
/* Every applying gate ok; else the first failing one's name into WHY. */
bool	 gates_hold(const struct object *obj, char *why, size_t len);
/*
 * The foreign keys that reference call_queue, as a NOT EXISTS clause over
 * alias c ("" when none), malloc'ed; *NAMES gets "fk on table(col)" list.
 * PROBE: each check an index probe per row (OFFSET 0 keeps the planner
 * from hashing the whole referencing table), for a batch of rows;
 * otherwise the planner's choice, for a count over the whole table.
 * *FAIL (unless NULL): every such key fails a DELETE of a referenced row
 * at once (ON DELETE RESTRICT, or NO ACTION not deferred), none cascades,
 * sets null or waits for the commit.
 */
char	*gates_fk_clause(const struct qsched_host *, struct qsched_run *,
	    bool probe, char **names, bool *fail);

/* range.c - heap block ranges of a pass. */
struct range {
	int64_t		 block;		/* the next block to read */
	int64_t		 blocks;	/* the table's size, in blocks */
	int64_t		 step;		/* blocks per batch */
	int64_t		 filenode;	/* pg_relation_filenode of the table */
};
/* R's blocks, filenode and step (about batch_size rows) for TABLE. */
int	 range_extent(const struct qsched_host *, struct qsched_run *,
	    const char *table, struct range *r);
/* "(BLOCK,0)", the first tid of BLOCK. */
void	 range_tid(char *buf, size_t len, int64_t block);

/* archive.c - archive, proof, restore. */
/* The queue types the archive pass of OBJ covers, as a text[] literal. */
const char *archive_types(int index);
/*
 * Copy OBJ's rows into the archive in keyset batches with a checkpoint;
 * then prove.  1 done (when *PROVED, the digest is stored in a
 * transaction left open for the caller to commit with the transition),
 * 0 cancelled, -1 failed.
 */
int	 archive_run(const struct qsched_host *, struct qsched_run *,
	    struct object *obj, int index, struct health *h, bool *proved,
	    char *why, size_t len);
/*
 * The proof of OBJ: source rows of its types all in the archive and
 * identical; counts and digests per type into WHY (a report line).
 * *DIGEST gets the whole archive's digest of OBJ's types.  ACOUNT and
 * ASUM, for a queue type before its purge: the count and the sum of the
 * hashes of its archived rows as the archive pass copied them (the
 * archive is then not read back); ACOUNT -1 to read it.
 */
int	 archive_proof(const struct qsched_host *, struct qsched_run *,
	    int index, bool purged, int64_t acount, const char *asum,
	    bool *ok, char *digest, size_t dlen, char *why, size_t len);
/* Put archived rows back into call_queue; *ROWS restored. */
int	 archive_restore(const struct qsched_host *, struct qsched_run *,
	    struct object *obj, int index, int64_t *rows);

/* purge.c - batched deletes and the drop. */
/* Delete OBJ's archived, unreferenced rows in batches under lock_timeout
 * with retries, pausing while H says the database is unhealthy.  1 done,
 * 2 done but rows changed since archived (kept), 0 cancelled, -1
 * failed. */
int	 purge_run(const struct qsched_host *, struct qsched_run *,
	    struct object *obj, int index, struct health *h, int64_t *deleted,
	    int64_t *kept, char *why, size_t len);
/* Everything that blocks DROP TABLE call_queue now, into WHY; 1 if
 * nothing does. */
int	 purge_drop_ready(const struct qsched_host *, struct qsched_run *,
	    const struct object *objs, char *why, size_t len);
int	 purge_drop(const struct qsched_host *, struct qsched_run *);

/* plan.c - the next step of an object. */
extern const char *const plan_actions[];
/* BLOCKED: what blocks the drop ("" nothing), for the table. */
void	 plan_object(const struct object *objs, int index, bool legacy,
	    int64_t period_s, const char *blocked, struct plan *pl);
/* The state OBJ reaches if PL's step succeeds. */
enum dep_state plan_target(const struct object *obj, const struct plan *pl);

/* report.c - what a run shows: metrics, the dry run's report. */
void	 report_metrics(const struct qsched_host *, struct qsched_run *,
	    const struct object *objs, const struct plan *plans);
void	 report_print(FILE *f, const struct object *objs,
	    const struct plan *plans, bool legacy, int flag,
	    const char *blocked);

/*
 * The tables whose lock waiters pause the archive and the purge: the one
 * they delete from and read, the one they write.  A VACUUM pauses them
 * on call_queue only: the archive is qsched's own, insert-only while it
 * is written, read by no one else; its (auto)vacuum only sets visibility
 * and freeze bits, and a pass paused for it (10 s at 1M rows in
 * bench-deprecation.sh) protected nothing.
 */
#define DEP_HEALTH_TABLES						\
	"ARRAY['call_queue'::regclass, '" DEP_ARCHIVE "'::regclass]"
#define DEP_VACUUM_TABLES	"ARRAY['call_queue'::regclass]"

/* Shared helpers (deprecation.c). */
void	 dep_rollback(const struct qsched_host *, struct qsched_run *);
int	 dep_appendf(char *buf, size_t len, const char *fmt, ...)
	    QSCHED_PRINTF(3, 4);

#endif /* DEPRECATION_H */
