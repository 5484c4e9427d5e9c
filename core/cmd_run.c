/*
 * cmd_run.c - qsched run JOB: one job now, in the foreground, through the
 * same worker path as the daemon: same lock, timeout, retries and history.
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

static void
cmd_run_signal(int sig)
{
	if (sig == SIGINT || sig == SIGTERM)
		cmd_run_interrupted = sig;
}

/*
 * Signals stay blocked except inside ppoll(), so a SIGCHLD or ^C that
 * arrives between checks still interrupts the next wait.
 */
static void
cmd_run_signals(sigset_t *waitmask)
{
	struct sigaction sa;
	sigset_t	 block;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = cmd_run_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGCHLD);
	sigprocmask(SIG_BLOCK, &block, waitmask);
	sigdelset(waitmask, SIGINT);
	sigdelset(waitmask, SIGTERM);
	sigdelset(waitmask, SIGCHLD);
}

/* Sleep up to MS, returning early on a signal. */
static void
cmd_run_wait(struct pollfd *pfd, nfds_t n, int64_t ms,
    const sigset_t *waitmask)
{
	struct timespec	 ts;

	if (ms < 0)
		ms = 0;
	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (ms % 1000) * 1000000;
	(void)ppoll(pfd, n, &ts, waitmask);
}

/* Drive one attempt until its worker is gone and its pipe drained. */
static void
cmd_run_attempt(struct run *r, PGconn *book, const sigset_t *waitmask)
{
	struct pollfd	 pfd;
	int64_t		 now, deadline, wait;
	int		 wstatus;
	pid_t		 pid;

	while (r->pid != 0 && !r->result_seen) {
		now = clock_mono_ms();
		deadline = run_deadline(r);
		wait = deadline == -1 ? 1000 : deadline - now;
		pfd.fd = r->fd;
		pfd.events = POLLIN;
		cmd_run_wait(&pfd, r->fd != -1 ? 1 : 0, wait, waitmask);
		if (cmd_run_interrupted && !r->cancelling) {
			log_run(QSCHED_LOG_NOTICE, r->job->name, r->id,
			    "interrupted: cancelling the run");
			run_cancel(r, CMD_RUN_CANCEL_GRACE_MS);
		}
		if (r->fd != -1)
			run_read(r, book);
		run_timer(r, book, clock_mono_ms());
		pid = waitpid(r->pid, &wstatus, WNOHANG);
		if (pid == r->pid) {
			/* Whatever it wrote before exiting is in the pipe. */
			run_read(r, book);
			if (r->fd != -1) {
				close(r->fd);
				r->fd = -1;
			}
			run_reaped(r, wstatus);
		}
	}
}

/*
 * After a server restart the bookkeeping connection is dead too, and the
 * run that saw the restart failed with a transient error: reconnect, for
 * up to CMD_RUN_RECONNECT_MS, so the outcome and any retry are recorded.
 */
static bool
cmd_run_reconnect(PGconn *book, const sigset_t *waitmask)
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
		cmd_run_wait(NULL, 0, 500, waitmask);
	}
}

static int
cmd_run_usage(void)
{
	fprintf(stderr, "usage: qsched run JOB [--dry-run] "
	    "[--set KEY=VALUE]...\n");
	return (QSCHED_EXIT_USAGE);
}

int
cmd_run(struct cmd_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "dry-run", no_argument, NULL, 'n' },
		{ "set", required_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct config	*cfg = NULL;
	struct job	*job;
	struct flags	 flags;
	struct run	*r = NULL;
	PGconn		*book = NULL;
	sigset_t	 waitmask;
	char		 err[QSCHED_ERRLEN], dur[32];
	char		**sets;
	size_t		 nsets = 0;
	bool		 dry_run = false;
	int		 ch, rc, attempt, wstatus;

	sets = xcalloc((size_t)ctx->argc, sizeof *sets);
	while ((ch = getopt_long(ctx->argc, ctx->argv, "", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'n':
			dry_run = true;
			break;
		case 's':
			sets[nsets++] = optarg;
			break;
		default:
			free(sets);
			return (cmd_run_usage());
		}
	}
	if (optind != ctx->argc - 1) {
		free(sets);
		return (cmd_run_usage());
	}
	if ((rc = cmd_load_config(ctx, &cfg, true)) != QSCHED_EXIT_OK)
		goto out;
	if ((job = config_job(cfg, ctx->argv[optind])) == NULL) {
		fprintf(stderr, "qsched: %s: no job \"%s\"\n", cfg->path,
		    ctx->argv[optind]);
		rc = QSCHED_EXIT_USAGE;
		goto out;
	}
	for (size_t i = 0; i < nsets; i++)
		if (config_set_option(job, sets[i], err, sizeof err) == -1) {
			fprintf(stderr, "qsched: job \"%s\": %s\n", job->name,
			    err);
			rc = QSCHED_EXIT_USAGE;
			goto out;
		}
	cmd_run_signals(&waitmask);

	for (attempt = 1;; attempt++) {
		r = run_new(cfg, job, attempt == 1 ? TRIGGER_MANUAL :
		    TRIGGER_RETRY, 0, attempt, dry_run);
		/* Flags are re-read for every attempt: flipping one needs no
		 * restart.  A bad file fails the run, recorded like any. */
		if (flags_load(cfg, &flags, err, sizeof err) ==
		    -1) {
			fprintf(stderr, "qsched: %s\n", err);
			r->message = xstrdup(err);
			if (book == NULL && (rc = cmd_connect(cfg, &book,
			    CMD_SCHEMA_ENSURE)) != QSCHED_EXIT_OK)
				goto out;
			rc = QSCHED_EXIT_USAGE;
			if (history_insert(book, r, RUN_FAILED, err,
			    sizeof err) == -1)
				fprintf(stderr, "qsched: %s\n", err);
			goto out;
		}
		/*
		 * The first attempt forks its worker before connecting, so
		 * the worker's connection opens while ours does.  A manual
		 * run has no fire to lose to another qsched, so the early
		 * worker is never wasted.
		 */
		if (book == NULL) {
			(void)worker_start(r, &flags);
			if ((rc = cmd_connect(cfg, &book, CMD_SCHEMA_ENSURE)) !=
			    QSCHED_EXIT_OK) {
				worker_abort(r);
				goto out;
			}
		}
		ch = run_begin(r, book, &flags, err, sizeof err);
		if (ch == -1 && cmd_run_reconnect(book, &waitmask))
			ch = run_begin(r, book, &flags, err, sizeof err);
		switch (ch) {
		case -1:
			fprintf(stderr, "qsched: %s\n", err);
			rc = QSCHED_EXIT_DB;
			goto out;
		case 1:
			cmd_run_attempt(r, book, &waitmask);
			if (run_end(r, book, err, sizeof err) == -1 &&
			    (!cmd_run_reconnect(book, &waitmask) ||
			    history_finish(book, r, err, sizeof err) == -1))
				fprintf(stderr, "qsched: %s\n", err);
			/* Recorded already; now let the worker finish exiting. */
			if (r->pid != 0 && waitpid(r->pid, &wstatus, 0) ==
			    r->pid)
				run_reaped(r, wstatus);
			break;
		}
		rc = run_exit_status(r);
		if (r->status == RUN_SKIPPED && r->message != NULL)
			fprintf(stderr, "qsched: job \"%s\" not run: %s\n",
			    job->name, r->message);
		else if (r->status == RUN_BLOCKED)
			fprintf(stderr, "qsched: job \"%s\" %s\n", job->name,
			    r->message);
		if (r->status != RUN_FAILED || !r->retryable ||
		    attempt > job->retries || cmd_run_interrupted)
			break;
		{
			int64_t	 delay = run_retry_delay_ms(job, attempt);
			int64_t	 until = clock_mono_ms() + delay;

			log_run(QSCHED_LOG_NOTICE, job->name, r->id, "retrying "
			    "in %s (attempt %d of %d)", duration_format(delay,
			    dur, sizeof dur), attempt + 1, job->retries + 1);
			while (!cmd_run_interrupted && clock_mono_ms() < until)
				cmd_run_wait(NULL, 0, until - clock_mono_ms(),
				    &waitmask);
		}
		if (cmd_run_interrupted)
			break;
		run_free(r);
		r = NULL;
	}
out:
	run_free(r);
	if (book != NULL)
		PQfinish(book);
	config_free(cfg);
	free(sets);
	return (rc);
}
