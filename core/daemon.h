/*
 * daemon.h - the daemon's private interfaces, shared by daemon.c (the
 * loop), daemon_state.c, book.c (the bookkeeping connection) and
 * dispatch.c (fires become runs).  Nothing else sees struct daemon.
 */
#ifndef DAEMON_H
#define DAEMON_H

#include "qsched.h"

/* A configuration replaced by a reload, kept while its runs go on. */
struct daemon_retired {
	struct config	*cfg;
	struct daemon_retired *next;
};
struct daemon {
	const char	*path;
	const struct daemon_opts *opts;
	struct config	*cfg;
	struct fire	*fires;		/* one per cfg->jobs[i] */
	struct daemon_retired *retired;
	struct run	*runs;		/* workers started and not yet ended */
	struct run	*unrecorded;	/* ended while the database was away */
	int64_t		 retry_at;	/* mono ms: look for due retries; 0 */
	int64_t		 beat_at;	/* mono ms: the next heartbeat */
	PGconn		*book;		/* NULL while the database is away */

	/* Outage: logged once, then rate-limited (book.c). */
	bool		 down;
	int64_t		 down_since;	/* mono ms */
	int64_t		 reconnect_at;
	int64_t		 backoff;
	int64_t		 complain_at;
	int64_t		 complain_every;
	int		 attempts;
	long		 missed;	/* fires missed in this outage */

	int64_t		 retention_at;	/* mono ms; 0: off */
	int64_t		 retention_done;
	int64_t		 abandon_at;	/* mono ms; 0: at the next chance */
	bool		 stopping;
	bool		 cancelled;
	int64_t		 stop_at;

	int		 tfd;		/* the next fire, CLOCK_REALTIME */
	int64_t		 offset;	/* wall - mono ms at the last wake-up */
	int64_t		 fake_mono0;
	struct pollfd	*pfd;
	size_t		 npfd;
	char		 status[512];	/* the last STATUS= sent */
	long		 reloads_ok;
	long		 reloads_failed;
};
/* daemon_state.c - what book.c and dispatch.c change in the daemon. */
/* Free configurations retired by reloads once no run uses them. */
void	 daemon_gc(struct daemon *);
/* Look for due retries at MONO (or sooner if already set). */
void	 daemon_retry_due(struct daemon *, int64_t mono);
/* T in JOB's zone, for log lines: "2026-03-29 02:00:00 BST". */
const char *daemon_when(const struct job *job, time_t t, char *buf,
	    size_t len);

/* book.c - the daemon's bookkeeping connection and database outages. */
/* Connect, ensure the schema, abandon dead runs, record held outcomes;
 * on failure the outage starts or goes on.  0 or -1. */
int	 book_connect(struct daemon *);
void	 book_down(struct daemon *, const char *why);
/* After a failed query: true (and the outage begins) if the connection
 * is what failed. */
bool	 book_lost(struct daemon *, const char *why);
void	 book_input(struct daemon *);	/* the idle socket is readable */
void	 book_retention(struct daemon *, int64_t mono);
void	 book_abandon(struct daemon *, int64_t mono);
/* The daemon's heartbeat (and the abandoning of silent owners' runs);
 * each beat also looks for due retries. */
void	 book_heartbeat(struct daemon *, int64_t mono);

/* dispatch.c - fires become runs; runs end, are recorded, retried.  The
 * bool functions say whether they started or ended anything. */
bool	 dispatch_fires(struct daemon *, int64_t now_ms);
bool	 dispatch_catchups(struct daemon *);
bool	 dispatch_retries(struct daemon *, int64_t mono);
bool	 dispatch_reap(struct daemon *);

#endif /* DAEMON_H */
