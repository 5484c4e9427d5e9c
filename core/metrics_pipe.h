/*
 * metrics_pipe.h - one round trip for the metrics refresh (metrics.c):
 * libpq's pipeline mode sends every statement at once, and the answers
 * are read back in order, each sync ending a group whose failure costs
 * only that group.  The caller puts the connection in pipeline mode.
 *
 * Every send is a no-op once the pipe failed; the first failure is
 * written to ERR ("metrics: WHAT: ...").  Reading waits for the server
 * until UNTIL (monotonic ms) at most: a server that does not answer at
 * all (stopped, or a dead host behind a live route) is given up, its
 * connection shut down, as db.c does.
 */
#ifndef METRICS_PIPE_H
#define METRICS_PIPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>

struct metrics_pipe {
	PGconn		*conn;
	int		 syncs;		/* sent and not yet read */
	char		*err;
	size_t		 errlen;
	bool		 failed;
	int64_t		 until;		/* mono ms: the server must answer */
};

/* Send SQL with N text PARAMS, unnamed. */
void	 metrics_pipe_send(struct metrics_pipe *p, const char *what,
	    const char *sql, int n, const char *const *params);
/* Prepare SQL as statement NAME. */
void	 metrics_pipe_prepare(struct metrics_pipe *p, const char *what,
	    const char *name, const char *sql);
/* Run prepared statement NAME with N text PARAMS. */
void	 metrics_pipe_exec(struct metrics_pipe *p, const char *what,
	    const char *name, int n, const char *const *params);
/* End a group: what follows runs even when it failed. */
void	 metrics_pipe_sync(struct metrics_pipe *p);

/*
 * The next statement's result, its terminating NULL consumed: the
 * result (the caller clears it), or NULL with ERR set.
 */
PGresult *metrics_pipe_result(struct metrics_pipe *p, const char *what,
	    char *err, size_t errlen);
/* Read up to and including the next sync; false if the connection broke. */
bool	 metrics_pipe_skip(struct metrics_pipe *p);

#endif
