/*
 * bench.h - the perf_benchmark plugin: the queue operations the
 * application runs, measured legacy (call_queue) against separated
 * (unsigned_users_queue, outstanding_requests_queue) on the live
 * database, each in a transaction that is rolled back.
 *
 *	bench.c		descriptor, options, the run from start to end
 *	ops.c		the operations: their statements and plans' statements
 *	hist.c		the log-linear latency histogram
 *	load.c		the clients: async libpq, one process, poll()
 *	plan.c		EXPLAIN (ANALYZE, BUFFERS) of one operation
 *	guard.c		the busy-database refusal
 *	store.c		the result table, the comparison and the gate
 *	html.c		the HTML page of qsched report --format html
 */
#ifndef BENCH_H
#define BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include <qsched-plugin.h>

#define BENCH_LOCK_CLASS	"perf_benchmark"
#define BENCH_MAX_CLIENTS	16
#define BENCH_MAX_STEPS		2
#define BENCH_MAX_PARAMS	3
#define BENCH_SAMPLE		512	/* user ids an operation draws from */

/* hist.c: values in microseconds; relative error under 1/32. */
#define HIST_SUB_BITS		5
#define HIST_SUB		(1 << HIST_SUB_BITS)
#define HIST_MAX_SHIFT		36	/* values up to 2^41 us (25 days) */
#define HIST_BUCKETS		(2 * HIST_SUB + HIST_MAX_SHIFT * HIST_SUB)

struct hist {
	uint64_t	 count;
	uint64_t	 max;
	uint64_t	 sum;
	uint64_t	 bucket[HIST_BUCKETS];
};

void		 hist_init(struct hist *);
void		 hist_add(struct hist *, uint64_t us);
void		 hist_merge(struct hist *, const struct hist *);
uint64_t	 hist_percentile(const struct hist *, double p);

/* ops.c: what a parameter of a statement is. */
enum bench_param {
	BP_QUEUE,		/* the queue name ('unsigned_users') */
	BP_AGENT,		/* the agent id claims are made for */
	BP_USER,		/* a user id drawn from the operation's sample */
	BP_PREV,		/* the first value the previous step returned */
	BP_N,			/* next_n */
};

struct bench_step {
	const char	*sql;		/* {T}: the separated table */
	int		 nparams;
	enum bench_param params[BENCH_MAX_PARAMS];
	const char	*explain;	/* statement whose plan explains it, or
					 * NULL: the step itself */
	int		 nexplain;
	enum bench_param eparams[BENCH_MAX_PARAMS];
};

enum bench_variant {
	BV_LEGACY,		/* call_queue */
	BV_SEPARATED,		/* the separated table and queue_*() */
	BV_SHARED,		/* neither: user_call_scores */
};

struct bench_op {
	const char	*name;		/* "claim" */
	enum bench_variant variant;
	const char	*sample;	/* user ids: $1 the queue; NULL: none */
	bool		 needs_agent;
	int		 nsteps;
	struct bench_step steps[BENCH_MAX_STEPS];
};

extern const struct bench_op bench_ops[];
extern const int bench_nops;
extern const struct bench_op bench_control;
const char	*ops_variant_name(enum bench_variant);
/* ops_names_valid - 0 if LIST ("all" or names, comma-separated) names
 * only operations; else -1 with the reason in ERR. */
int		 ops_names_valid(const char *list, char *err, size_t errlen);
bool		 ops_selected(const char *list, const char *name);
/* ops_sql - TEMPLATE with {T} replaced by TABLE and {S} by the
 * call_sessions clause (or nothing); malloc()ed, or NULL. */
char		*ops_sql(const char *template, const char *table,
		    bool sessions);

/* What one run measures with; filled by bench.c. */
struct bench_cfg {
	const char	*queue;		/* "unsigned_users" */
	const char	*table;		/* "unsigned_users_queue" */
	const char	*operations;
	const char	*variants;	/* "all", "legacy", "separated" */
	int		 clients;
	int64_t		 duration_us;	/* per operation; 0 with iterations */
	int64_t		 iterations;	/* per operation; 0: by duration */
	int64_t		 warmup_us;
	int64_t		 statement_timeout_ms;
	int64_t		 lock_timeout_ms;
	int64_t		 next_n;
	char		 agent[24];	/* "" when agents is empty */
	char		 n_text[24];	/* next_n as text */
	bool		 have_legacy, have_separated, have_sessions;
};

/* One operation's outcome. */
struct bench_result {
	const struct bench_op *op;
	struct hist	 hist;
	struct hist	 control;	/* BEGIN; SELECT 1; ROLLBACK around it */
	uint64_t	 errors;
	int64_t		 elapsed_us;
	char		 first_error[256];
	char		*plans;		/* JSON array of EXPLAIN outputs */
	char		 note[256];	/* why skipped, or "" */
	bool		 skipped;
};

/* The sample of user ids an operation draws from. */
struct bench_users {
	char		 id[BENCH_SAMPLE][24];
	int		 n;
};

/* load.c */
struct bench_load;
struct bench_load *load_open(const struct qsched_host *, struct qsched_run *,
		    const struct bench_cfg *);
int		 load_run(struct bench_load *, const struct bench_op *,
		    const struct bench_users *, int64_t duration_us,
		    int64_t iterations, struct bench_result *);
void		 load_close(struct bench_load *);
/* Whether the measurement failed because one client's connection was
 * lost while the run's own connection lived (a transient failure). */
bool		 load_client_lost(const struct bench_load *);

/* plan.c: param values for a step; returns the number of params. */
int		 plan_params(const struct bench_cfg *, const enum bench_param *,
		    int n, const char *user, const char *prev,
		    const char **values);
int		 plan_explain(const struct qsched_host *, struct qsched_run *,
		    const struct bench_cfg *, const struct bench_op *,
		    const struct bench_users *, struct bench_result *);

/* guard.c */
struct bench_limits {
	int64_t		 max_lock_waiters;
	int64_t		 max_active_backends;
	int64_t		 max_replication_lag_ms;
	int		 clients;
};
/* guard_busy - 0: not busy; 1: busy, REASON says why; -1: query failed
 * (recorded). */
int		 guard_busy(const struct qsched_host *, struct qsched_run *,
		    const struct bench_limits *, char *reason, size_t len);

/* html.c: SQL creating qsched_bench.report_html(job). */
extern const char html_ddl[];

/* store.c */
int		 store_schema(const struct qsched_host *, struct qsched_run *);
struct bench_gate {
	double		 threshold;	/* 0.20 */
	int64_t		 min_samples;
	int64_t		 min_regression_us;
};
/* store_save - the rows of this run, then the gate, in one transaction.
 * Returns 0 (no regression), 1 (regressed; the message says which), -1. */
int		 store_save(const struct qsched_host *, struct qsched_run *,
		    const struct bench_cfg *, const struct bench_gate *,
		    struct bench_result *, int n);

#endif /* BENCH_H */
