/*
 * population.h - the queue_population plugin's internal interfaces,
 * grouped by file.  Functions return 0 on success and -1 on failure,
 * after recording why with host->message or host->fail.
 */
#ifndef POPULATION_H
#define POPULATION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qsched-plugin.h"

/* queues.c - what differs between the two queues. */
#define QUEUE_REASONS	4	/* score 0, <= 5, <= 10, higher */
struct queue_def {
	const char	*name;		/* "unsigned_users", as the option */
	const char	*table;		/* "unsigned_users_queue" */
	const char	*live_key;	/* the unique index on live entries */
	const char	*reason[QUEUE_REASONS];
	/*
	 * The queue's own columns as SQL fragments.  Values and SET read the
	 * rule's row "m" (the user's created_at is m.created_at); the
	 * comparison reads the rule's row "r" and the entry "q".
	 */
	const char	*extra_columns;	/* ", signature_missing_since, ..." */
	const char	*extra_values;	/* ", m.created_at, 'initial'" */
	const char	*extra_set;	/* ", signature_type = 'initial'" */
	const char	*extra_differs;	/* " OR q.signature_type IS ..." */
};
/* The queue called NAME, or NULL. */
const struct queue_def *queues_find(const char *name);

/*
 * refresh.c - one refresh: the diff between the rule and the queue.
 * Positions are spaced REFRESH_GAP apart where the refresh numbers a
 * run of entries; a window renumbered to make room spaces its entries at
 * least REFRESH_GAP_MIN apart when it can.
 */
#define REFRESH_GAP	1024
#define REFRESH_GAP_MIN	64
struct refresh_opts {
	const struct queue_def *queue;
	int64_t		 cooling_ms;
	int64_t		 max_size;	/* 0: no cap */
	int64_t		 lease_ms;
	const char	*work_mem;
	int64_t		 full_every_ms;	/* full_refresh_every; 0: always */
	bool		 legacy;	/* also maintain call_queue */
	bool		 dry_run;	/* roll back instead of committing */
};
struct refresh_counts {
	int64_t		 eligible;
	int64_t		 inserted;
	int64_t		 updated;
	int64_t		 removed;
	int64_t		 unchanged;
	int64_t		 kept_assigned;
	int64_t		 expired_assignments;
	/*
	 * Rows the diff meant to write that a concurrent transaction changed
	 * first (an agent's claim, the application adding the user), left
	 * to the next refresh.
	 */
	int64_t		 skipped_concurrent;
	/* Entries written only to move them (their content was right). */
	int64_t		 moved;
	/* 1 if the refresh renumbered the whole queue (see refresh.c). */
	int64_t		 renumbered_all;
	int64_t		 legacy_inserted;
	int64_t		 legacy_updated;
	int64_t		 legacy_removed;	/* deleted */
	int64_t		 legacy_completed;	/* referenced: marked completed */
	int64_t		 legacy_unchanged;
	int64_t		 legacy_kept_assigned;
	int64_t		 elapsed_ms;		/* BEGIN to COMMIT */
	int64_t		 log_rows;	/* change log rows read (and deleted) */
	int64_t		 scoped;	/* 1: only the changed users compared */
	int64_t		 compared;	/* scoped: the users compared */
	int64_t		 neighbours;	/* scoped: entries placed between */
	char		 full_reason[128];	/* why a full comparison */
};
/* What one refresh statement does. */
struct refresh_mode {
	bool		 legacy;	/* also call_queue */
	bool		 log;		/* consume the change log (0011) */
	bool		 scoped;	/* only the users that can have changed */
};
/* A growing string for the statement; on allocation failure it stays
 * failed and refresh_sql returns NULL. */
struct sqlbuf {
	char		*data;
	size_t		 len;
	size_t		 cap;
	bool		 failed;
};
void	 sqlbuf_add(struct sqlbuf *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
/* The refresh statement for QUEUE in MODE (malloc'ed). */
char	*refresh_sql(const struct queue_def *queue,
	    const struct refresh_mode *mode);
/*
 * Run one refresh in one transaction.  Returns 0, or -1 after host->fail
 * (the transaction is rolled back).  *retry is set when the failure is a
 * race worth another attempt at once.
 */
int	 refresh_run(const struct qsched_host *, struct qsched_run *,
	    const struct refresh_opts *, struct refresh_counts *, bool *retry);

/*
 * changes.c - the change log (migration 0011): whether this refresh may
 * compare only the users it names, and what the refresh leaves for the
 * next one.  Both run inside the refresh's transaction.
 */
#define CHANGES_MAX	10000	/* more changed users: a full comparison */
#define CHANGES_FLOOR_S	"1000"	/* up to this many always scoped */
struct changes_state {
	bool		 log;		/* the log exists: consume it */
	bool		 trusted;	/* the triggers are there and enabled */
	const char	*reason;	/* why not scoped (static); NULL: scoped */
	char		 last_now[32];	/* the last refresh's now */
	char		 triggers[256];	/* the triggers' oids, as recorded */
	char		 rule[96];	/* the options that shape the rule */
	char		 dirty[96];	/* what the queue's triggers saw */
	char		*ids;		/* the logged users, an array literal */
};
/* changes_begin fills CS (CS->ids malloc'ed: the caller frees it). */
int	 changes_begin(const struct qsched_host *, struct qsched_run *,
	    const struct refresh_opts *, const char *now,
	    struct changes_state *);
int	 changes_end(const struct qsched_host *, struct qsched_run *,
	    const struct refresh_opts *, const char *now,
	    const struct changes_state *, bool full);

/*
 * scoped.c - the scoped diff: the users that can have changed, their
 * neighbours, the rule for them ("m", as refresh.c's full diff), and
 * "ok", whether its placement may be written.
 */
void	 scoped_sql(struct sqlbuf *, const struct queue_def *);
void	 scoped_sql_ok(struct sqlbuf *);

#endif /* POPULATION_H */
