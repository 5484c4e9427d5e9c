/*
 * cmd_run.c - qsched run JOB: one job now, in the foreground, through the
 * same run path as the daemon (run.c): same lock, timeout, retries and
 * history.  This file only drives it: options, signals, waits.
 */
#include "qsched.h"

#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define CMD_RUN_CANCEL_GRACE_MS	10000	/* ^C: time to stop cleanly */
#define CMD_RUN_RECONNECT_MS	30000	/* a restarting server gets this */

static volatile sig_atomic_t cmd_run_interrupted;
static sigset_t	 cmd_run_waitmask;
static int64_t	 cmd_run_beat_at;	/* mono ms of the next heartbeat */

static void
cmd_run_signal(int sig)
{
	if (sig == SIGINT || sig == SIGTERM)
		cmd_run_interrupted = sig;
}

/* Sleep up to MS on PFD, returning early on a signal. */
static void
cmd_run_wait(struct pollfd *pfd, nfds_t n, int64_t ms)
{
	struct timespec	 ts;

	ms = ms < 0 ? 0 : ms;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	(void)ppoll(pfd, n, &ts, &cmd_run_waitmask);
}

/* A run that lasts registers this process and keeps its lease. */
static void
cmd_run_heartbeat(PGconn *book)
{
	char	 err[QSCHED_ERRLEN];
	int64_t	 now = clock_mono_ms();

	if (now < cmd_run_beat_at)
		return;
	cmd_run_beat_at = now + HISTORY_HEARTBEAT_MS;
	if (history_heartbeat(book, NULL, "run", NULL, err, sizeof err) ==
	    -1)
		log_warn("%s", err);
}

/* Drive one attempt until its worker is gone and its pipe drained. */
static void
cmd_run_attempt(struct run *r, PGconn *book)
{
	struct pollfd	 pfd = { .fd = r->fd, .events = POLLIN };
	int64_t		 deadline;
	int		 wstatus;

	cmd_run_beat_at = clock_mono_ms() + RUN_SAVE_AFTER_MS;
	while (r->pid != 0 && !r->result_seen) {
		deadline = run_deadline(r);
		if (deadline == -1 || deadline > cmd_run_beat_at)
			deadline = cmd_run_beat_at;
		pfd.fd = r->fd;
		cmd_run_wait(&pfd, r->fd != -1 ? 1 : 0, deadline -
		    clock_mono_ms());
		if (cmd_run_interrupted && !r->cancelling) {
			log_run(QSCHED_LOG_NOTICE, r->job->name, r->id,
			    "interrupted: cancelling the run");
			run_cancel(r, CMD_RUN_CANCEL_GRACE_MS);
		}
		if (r->fd != -1)
			run_read(r, book);
		run_timer(r, book, clock_mono_ms());
		cmd_run_heartbeat(book);
		if (waitpid(r->pid, &wstatus, WNOHANG) == r->pid)
			run_drain(r, book, wstatus);
	}
}

/*
 * After a server restart the bookkeeping connection is dead too, and the
 * run that saw the restart failed with a transient error: reconnect, for
 * up to CMD_RUN_RECONNECT_MS, so the outcome and any retry are recorded.
 */
static bool
cmd_run_reconnect(PGconn *book)
{
	int64_t	 until = clock_mono_ms() + CMD_RUN_RECONNECT_MS;

	if (PQstatus(book) == CONNECTION_OK)
		return (false);
	log_notice("lost the database connection: reconnecting");
	for (;;) {
		PQreset(book);
		if (PQstatus(book) == CONNECTION_OK) {
			log_notice("reconnected to the database");
			return (true);
		}
		if (cmd_run_interrupted || clock_mono_ms() >= until)
			return (false);
		cmd_run_wait(NULL, 0, 500);
	}
}

/* One attempt, start to recorded outcome; an exit status, or -1 when the
 * attempt was recorded and may be retried. */
static int
cmd_run_one(struct run *r, PGconn *book)
{
	char	 err[QSCHED_ERRLEN];
	int	 ch, wstatus;

	ch = run_start(r, book, err, sizeof err);
	if (ch == -1 && cmd_run_reconnect(book))
		ch = run_start(r, book, err, sizeof err);
	if (ch == -1) {
		fprintf(stderr, "qsched: %s\n", err);
		return (QSCHED_EXIT_DB);
	}
	if (r->flags_bad) {
		fprintf(stderr, "qsched: %s\n", r->message);
		return (QSCHED_EXIT_USAGE);
	}
	if (ch == 1) {
		cmd_run_attempt(r, book);
		if (run_finish(r, book, !cmd_run_interrupted, "run", err,
		    sizeof err) == -1 && (!cmd_run_reconnect(book) ||
		    run_finish(r, book, !cmd_run_interrupted, "run", err,
		    sizeof err) == -1))
			fprintf(stderr, "qsched: %s\n", err);
		/* Recorded already; now let the worker finish exiting. */
		if (r->pid != 0 && waitpid(r->pid, &wstatus, 0) == r->pid)
			run_reaped(r, wstatus);
	}
	if (r->status == RUN_SKIPPED && r->message != NULL)
		fprintf(stderr, "qsched: job \"%s\" not run: %s\n",
		    r->job->name, r->message);
	else if (r->status == RUN_BLOCKED)
		fprintf(stderr, "qsched: job \"%s\" %s\n", r->job->name,
		    r->message);
	return (r->retry_id != 0 ? -1 : run_exit_status(r));
}

/* Wait for the retry R scheduled, then claim it: the next run, or NULL. */
static struct run *
cmd_run_next(struct run *r, PGconn *book)
{
	struct run	*next;
	char		 err[QSCHED_ERRLEN];
	int64_t		 until = clock_mono_ms() + r->retry_delay_ms;

	while (!cmd_run_interrupted && clock_mono_ms() < until) {
		cmd_run_wait(NULL, 0, until - clock_mono_ms() <
		    HISTORY_HEARTBEAT_MS ? until - clock_mono_ms() :
		    HISTORY_HEARTBEAT_MS);
		cmd_run_heartbeat(book);
	}
	if (cmd_run_interrupted) {
		(void)history_cancel_retry(book, r->retry_id, "cancelled before "
		    "it started: qsched run was interrupted");
		return (NULL);
	}
	if (history_claim_retry(book, r->retry_id, err, sizeof err) != 1) {
		fprintf(stderr, "qsched: retry run %lld was not claimed%s%s\n",
		    (long long)r->retry_id, *err ? ": " : "", err);
		return (NULL);
	}
	next = run_new(r->cfg, r->job, TRIGGER_RETRY, 0, r->attempt + 1,
	    r->dry_run);
	next->id = r->retry_id;
	return (next);
}

int
cmd_run(struct cmd_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "set", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	static const int sigs[] = { SIGINT, SIGTERM, SIGCHLD };
	struct config	*cfg = NULL;
	struct job	*job;
	struct run	*r = NULL, *next;
	PGconn		*book = NULL;
	char		 err[QSCHED_ERRLEN], **sets;
	size_t		 nsets = 0;
	bool		 dry_run = false;
	int		 ch, rc;

	sets = xcalloc((size_t)ctx->argc, sizeof *sets);
	while ((ch = getopt_long(ctx->argc, ctx->argv, "", longopts,
	    NULL)) != -1) {
		if (ch == 'n')
			dry_run = true;
		else if (ch == 's')
			sets[nsets++] = optarg;
		else
			goto usage;
	}
	if (optind != ctx->argc - 1)
		goto usage;
	if ((rc = cmd_load_config(ctx, &cfg, true)) != QSCHED_EXIT_OK)
		goto out;
	rc = QSCHED_EXIT_USAGE;
	if ((job = config_job(cfg, ctx->argv[optind])) == NULL) {
		fprintf(stderr, "qsched: %s: no job \"%s\"\n", cfg->path,
		    ctx->argv[optind]);
		goto out;
	}
	for (size_t i = 0; i < nsets; i++)
		if (config_set_option(job, sets[i], err, sizeof err) == -1) {
			fprintf(stderr, "qsched: job \"%s\": %s\n", job->name,
			    err);
			goto out;
		}
	signals_setup(sigs, sizeof sigs / sizeof sigs[0], cmd_run_signal,
	    &cmd_run_waitmask);
	db_set_limits(DB_BOOK_QUERY_MS, DB_BOOK_CONNECT_S);

	r = run_new(cfg, job, TRIGGER_MANUAL, 0, 1, dry_run);
	run_prefork(r);
	if ((rc = cmd_connect(cfg, &book, CMD_SCHEMA_ENSURE)) !=
	    QSCHED_EXIT_OK) {
		worker_abort(r);
		goto out;
	}
	while ((rc = cmd_run_one(r, book)) == -1 &&
	    (next = cmd_run_next(r, book)) != NULL) {
		run_free(r);
		r = next;
	}
	if (rc == -1)
		rc = run_exit_status(r);
out:
	run_free(r);
	if (book != NULL) {
		history_unregister(book);
		PQfinish(book);
	}
	config_free(cfg);
	free(sets);
	return (rc);
usage:
	free(sets);
	fprintf(stderr, "usage: qsched run JOB [--dry-run] "
	    "[--set KEY=VALUE]...\n");
	return (QSCHED_EXIT_USAGE);
}
