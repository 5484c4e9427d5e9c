/*
 * run.c - one attempt of one job, seen from the parent: claim the fire,
 * check dependencies, start the worker, read its reports, enforce the
 * timeout, and record the outcome.  Event-driven, so the daemon can drive
 * many runs from one loop and `qsched run` drives one.
 */
#include "qsched.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>


struct run *
run_new(const struct config *cfg, struct job *job, enum trigger trigger,
    time_t scheduled_for, int attempt, bool dry_run)
{
	struct run	*r = xcalloc(1, sizeof *r);

	r->cfg = cfg;
	r->job = job;
	r->trigger = trigger;
	r->scheduled_for = scheduled_for;
	r->attempt = attempt;
	r->dry_run = dry_run;
	r->fd = -1;
	r->gofd = -1;
	r->status = RUN_RUNNING;
	return (r);
}

void
run_free(struct run *r)
{
	if (r == NULL)
		return;
	if (r->fd != -1)
		close(r->fd);
	if (r->gofd != -1)
		close(r->gofd);
	free(r->rbuf);
	free(r->message);
	free(r->metrics);
	free(r->state);
	free(r);
}

static void
run_set_message(struct run *r, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	free(r->message);
	r->message = s;
}

/* How long a worker gets between SIGTERM and SIGKILL. */
static int64_t
run_grace_ms(const struct job *job)
{
	int64_t	 g = job->timeout_ms / 2;

	if (g < 1000)
		g = 1000;
	if (g > 10000)
		g = 10000;
	return (g);
}

int
run_begin(struct run *r, PGconn *book, const struct flags *flags, char *err,
    size_t errlen)
{
	char	 missing[256];
	int	 met = 1;

	/* A claimed retry has its row, running, and met its dependencies. */
	if (r->id != 0)
		goto start;
	if (r->job->ndepends > 0) {
		met = history_deps_met(book, r->job, missing, sizeof missing,
		    err, errlen);
		if (met == -1)
			goto abort;
		if (met == 0)
			run_set_message(r, "blocked: job \"%s\" has not "
			    "succeeded yet (depends_on)", missing);
	}
	if (history_insert(book, r, met ? RUN_RUNNING : RUN_BLOCKED, err,
	    errlen) == -1)
		goto abort;
	if (r->id == 0) {
		worker_abort(r);
		return (0);	/* another qsched claimed this fire */
	}
	if (!met) {
		worker_abort(r);
		r->status = RUN_BLOCKED;
		log_run(QSCHED_LOG_NOTICE, r->job->name, r->id, "%s",
		    r->message);
		return (0);
	}
start:
	r->started_mono = clock_mono_ms();
	if (r->job->timeout_ms > 0)
		r->term_at = r->started_mono + r->job->timeout_ms;
	log_run(QSCHED_LOG_INFO, r->job->name, r->id, "started (%s, attempt "
	    "%d%s)", run_trigger_name(r->trigger), r->attempt,
	    r->dry_run ? ", dry run" : "");
	if (r->pid != 0 ? worker_go(r) == -1 : worker_start(r, flags) == -1) {
		worker_abort(r);
		r->status = RUN_FAILED;
		run_set_message(r, "could not start the worker: %s",
		    strerror(errno));
		if (history_finish(book, r, err, errlen) == -1)
			return (-1);
		return (0);
	}
	return (1);
abort:
	worker_abort(r);
	return (-1);
}

/*
 * The worker reported its result: apply what only the parent knows (it
 * timed the run out, or cancelled it).  The outcome is final from here on,
 * so it can be recorded before the worker has finished exiting.
 */
static void
run_settle(struct run *r)
{
	char	 dur[32];

	if (r->timed_out && r->status != RUN_SUCCEEDED) {
		r->status = RUN_TIMED_OUT;
		r->retryable = false;
		/* run_set_message() formats before it frees the old one. */
		run_set_message(r, "timed out after %s%s%s",
		    duration_format(r->job->timeout_ms, dur, sizeof dur),
		    r->message != NULL ? ": " : "",
		    r->message != NULL ? r->message : "");
	} else if (r->cancelling && r->status == RUN_FAILED) {
		r->status = RUN_CANCELLED;
		r->retryable = false;
	}
}

static void
run_record(struct run *r, PGconn *book, enum report_type type,
    const char *p, size_t n)
{
	char		*s = xmalloc(n + 1);
	int		 status, busy, retry;
	long long	 rows, done, total;
	char		 state[8];

	memcpy(s, p, n);
	s[n] = '\0';
	switch (type) {
	case REPORT_BACKEND:
		/* Recorded with the first progress save: a run that ends
		 * within a second costs no extra write. */
		r->backend_pid = atoi(s);
		break;
	case REPORT_PROGRESS:
		if (sscanf(s, "%lld %lld", &done, &total) == 2) {
			r->done = done;
			r->total = total;
			progress_show(r);
			if (r->progress_saved != 0 && clock_mono_ms() -
			    r->progress_saved >= RUN_SAVE_AFTER_MS) {
				r->progress_saved = clock_mono_ms();
				(void)history_progress(book, r);
			}
		}
		break;
	case REPORT_MESSAGE:
		free(r->message);
		r->message = s;
		s = NULL;
		break;
	case REPORT_METRICS:
		free(r->metrics);
		r->metrics = s;
		s = NULL;
		break;
	case REPORT_STATE:
		free(r->state);
		r->state = *s != '\0' ? s : NULL;
		if (r->state != NULL)
			s = NULL;
		r->state_dirty = true;
		if (r->state != NULL)
			log_run(QSCHED_LOG_INFO, r->job->name, r->id, "%s",
			    r->state);
		progress_show(r);
		if (r->progress_saved != 0) {
			r->progress_saved = clock_mono_ms();
			(void)history_progress(book, r);
		}
		break;
	case REPORT_RESULT:
		if (sscanf(s, "%d %d %d %lld %7s", &status, &busy, &retry,
		    &rows, state) == 5 && status > RUN_RUNNING &&
		    status <= RUN_ABANDONED) {	/* not RUN_RETRY_SCHEDULED */
			r->status = (enum run_status)status;
			r->lock_busy = busy;
			r->retryable = retry;
			r->rows = rows;
			snprintf(r->sqlstate, sizeof r->sqlstate, "%s",
			    strcmp(state, "-") == 0 ? "" : state);
			r->result_seen = true;
			run_settle(r);
		}
		break;
	}
	free(s);
}

void
run_read(struct run *r, PGconn *book)
{
	enum report_type type;
	const char	*payload;
	size_t		 plen, used;
	ssize_t		 n;

	while (r->fd != -1) {
		if (r->rcap - r->rlen < 4096) {
			r->rcap = r->rcap == 0 ? 16384 : r->rcap * 2;
			r->rbuf = xrealloc(r->rbuf, r->rcap);
		}
		n = read(r->fd, r->rbuf + r->rlen, r->rcap - r->rlen);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1 && errno == EAGAIN)
			break;
		if (n <= 0) {
			close(r->fd);
			r->fd = -1;
			break;
		}
		r->rlen += (size_t)n;
		while ((used = report_parse(r->rbuf, r->rlen, &type, &payload,
		    &plen)) > 0) {
			run_record(r, book, type, payload, plen);
			memmove(r->rbuf, r->rbuf + used, r->rlen - used);
			r->rlen -= used;
		}
	}
}

void
run_reaped(struct run *r, int wstatus)
{
	char	 dur[32];

	r->pid = 0;
	r->term_at = r->kill_at = 0;
	if (r->result_seen)
		return;		/* settled when the result arrived */
	if (WIFSIGNALED(wstatus)) {
		const char *abbrev = sigabbrev_np(WTERMSIG(wstatus));

		snprintf(r->signal, sizeof r->signal, "SIG%s",
		    abbrev != NULL ? abbrev : "UNKNOWN");
		if (r->timed_out) {
			r->status = RUN_TIMED_OUT;
			run_set_message(r, "timed out after %s; the worker "
			    "was killed (%s)", duration_format(
			    r->job->timeout_ms, dur, sizeof dur), r->signal);
		} else if (r->cancelling) {
			r->status = RUN_CANCELLED;
			run_set_message(r, "cancelled; the worker was killed "
			    "(%s)", r->signal);
		} else {
			r->status = RUN_CRASHED;
			run_set_message(r, "the worker crashed (%s)",
			    r->signal);
		}
		return;
	}
	r->status = RUN_FAILED;
	run_set_message(r, "the worker exited with status %d without a "
	    "result", WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : -1);
}

int64_t
run_deadline(const struct run *r)
{
	int64_t	 d = -1;

	if (r->pid != 0 && r->progress_saved == 0)
		d = r->started_mono + RUN_SAVE_AFTER_MS;
	if (r->term_at > 0 && (d == -1 || r->term_at < d))
		d = r->term_at;
	if (r->kill_at > 0 && (d == -1 || r->kill_at < d))
		d = r->kill_at;
	return (d);
}

/* A worker that will not die cannot keep its query or lock: end its
 * backend, but only if it is still that worker's connection. */
static void
run_terminate_backend(struct run *r, PGconn *book)
{
	char		 bpid[16], app[64], e[QSCHED_ERRLEN];
	const char	*params[2] = { bpid, app };
	PGresult	*res;

	if (r->backend_pid <= 0 || book == NULL)
		return;
	snprintf(bpid, sizeof bpid, "%d", r->backend_pid);
	lock_appname(r->job->name, r->id, 0, app, sizeof app);
	res = db_query(book, "SELECT pg_terminate_backend(pid) "
	    "FROM pg_stat_activity WHERE pid = $1::int "
	    "AND application_name = $2", 2, params, e, sizeof e);
	if (res == NULL)
		log_run(QSCHED_LOG_WARNING, r->job->name, r->id,
		    "ending backend %d: %s", r->backend_pid, e);
	else
		PQclear(res);
}

void
run_timer(struct run *r, PGconn *book, int64_t now)
{
	char	 dur[32];

	if (r->pid == 0)
		return;
	if (r->progress_saved == 0 && now >= r->started_mono +
	    RUN_SAVE_AFTER_MS) {
		r->progress_saved = now;
		(void)history_progress(book, r);
	}
	if (r->term_at > 0 && now >= r->term_at) {
		r->term_at = 0;
		r->timed_out = true;
		r->kill_at = now + run_grace_ms(r->job);
		log_run(QSCHED_LOG_WARNING, r->job->name, r->id, "timed out "
		    "after %s: cancelling", duration_format(r->job->timeout_ms,
		    dur, sizeof dur));
		(void)kill(r->pid, SIGTERM);
	}
	if (r->kill_at > 0 && now >= r->kill_at) {
		r->kill_at = 0;
		log_run(QSCHED_LOG_WARNING, r->job->name, r->id, "the worker "
		    "did not stop: killing process group %ld", (long)r->pid);
		(void)kill(-r->pid, SIGKILL);
		run_terminate_backend(r, book);
	}
}

void
run_cancel(struct run *r, int64_t grace_ms)
{
	if (r->pid == 0 || r->cancelling)
		return;
	r->cancelling = true;
	r->kill_at = clock_mono_ms() + grace_ms;
	(void)kill(r->pid, SIGTERM);
}

int
run_end(struct run *r, PGconn *book, char *err, size_t errlen)
{
	int	 level;

	progress_clear();
	if (r->status != RUN_SUCCEEDED && r->status != RUN_SKIPPED)
		run_terminate_backend(r, book);
	switch (r->status) {
	case RUN_SUCCEEDED:
		level = QSCHED_LOG_INFO;
		break;
	case RUN_SKIPPED:
	case RUN_BLOCKED:
		level = QSCHED_LOG_NOTICE;
		break;
	default:
		level = QSCHED_LOG_ERR;
	}
	log_run(level, r->job->name, r->id, "%s%s%s%s%s",
	    run_status_name(r->status), r->message ? ": " : "",
	    r->message ? r->message : "", r->sqlstate[0] ? " SQLSTATE " : "",
	    r->sqlstate);
	return (history_finish(book, r, err, errlen));
}

int
run_load_flags(struct run *r)
{
	char	 ferr[QSCHED_ERRLEN];

	if (r->flags.cfg != NULL || r->flags_bad)
		return (r->flags_bad ? -1 : 0);
	if (flags_load(r->cfg, &r->flags, ferr, sizeof ferr) == -1) {
		r->flags_bad = true;
		r->status = RUN_FAILED;
		free(r->message);
		r->message = xstrdup(ferr);
		return (-1);
	}
	return (0);
}

void
run_prefork(struct run *r)
{
	/*
	 * The worker forks before its parent connects, so its connection
	 * opens while the parent's does, and waits for its run id
	 * (run_begin() sends it).  Only for a run that cannot lose its fire
	 * to another qsched (a manual one): the early worker is never wasted.
	 */
	if (r->trigger == TRIGGER_MANUAL && r->pid == 0 &&
	    run_load_flags(r) == 0)
		(void)worker_start(r, &r->flags);
}

int
run_start(struct run *r, PGconn *book, char *err, size_t errlen)
{
	/* Flags are read for every run: flipping one needs no restart.  A
	 * bad file fails the run, recorded like any. */
	if (run_load_flags(r) == -1) {
		worker_abort(r);
		if (r->id != 0)
			return (history_finish(book, r, err, errlen) == -1 ?
			    -1 : 0);
		if (history_insert(book, r, RUN_FAILED, err, errlen) == -1)
			return (-1);
		if (r->id != 0)
			log_run(QSCHED_LOG_ERR, r->job->name, r->id, "failed: "
			    "%s", r->message);
		return (0);
	}
	return (run_begin(r, book, &r->flags, err, errlen));
}

void
run_drain(struct run *r, PGconn *book, int wstatus)
{
	/* Whatever it wrote before exiting is in the pipe. */
	run_read(r, book);
	if (r->fd != -1) {
		close(r->fd);
		r->fd = -1;
	}
	run_reaped(r, wstatus);
}

bool
run_should_retry(const struct run *r)
{
	return (r->status == RUN_FAILED && r->retryable &&
	    r->attempt <= r->job->retries);
}

int
run_finish(struct run *r, PGconn *book, bool may_retry, const char *kind,
    char *err, size_t errlen)
{
	char	 dur[32];

	if (run_end(r, book, err, errlen) == -1)
		return (-1);
	if (!may_retry || !run_should_retry(r))
		return (0);
	/*
	 * The retry is a row before it is a wait, so no process's death
	 * loses it; the owner registers first, so nobody takes it while
	 * the owner lives (history_due_retries()).
	 */
	r->retry_delay_ms = run_retry_delay_ms(r->job, r->attempt);
	if (!history_is_registered() && history_heartbeat(book, r->cfg, kind,
	    NULL, err, errlen) == -1)
		return (-1);
	if (history_schedule_retry(book, r, r->retry_delay_ms, &r->retry_id,
	    err, errlen) == -1)
		return (-1);
	if (r->retry_id != 0)
		log_run(QSCHED_LOG_NOTICE, r->job->name, r->id, "retrying in "
		    "%s (attempt %d of %d, run %lld)", duration_format(
		    r->retry_delay_ms, dur, sizeof dur), r->attempt + 1,
		    r->job->retries + 1, (long long)r->retry_id);
	return (0);
}

int64_t
run_retry_delay_ms(const struct job *job, int attempt)
{
	int64_t	 d = job->retry_delay_ms;

	/* retry_delay * 2^(attempt-1), capped at an hour, then "equal
	 * jitter": half fixed, half random, so retries of many runs that
	 * failed together spread out. */
	for (int i = 1; i < attempt && d < 3600 * 1000; i++)
		d *= 2;
	if (d > 3600 * 1000)
		d = 3600 * 1000;
	if (d < 2)
		return (d);
	return (d / 2 + (int64_t)(random() % (long)(d / 2 + 1)));
}

int
run_exit_status(const struct run *r)
{
	switch (r->status) {
	case RUN_SUCCEEDED:
		return (QSCHED_EXIT_OK);
	case RUN_SKIPPED:
	case RUN_BLOCKED:
		return (QSCHED_EXIT_NOT_RUN);
	case RUN_FAILED:
		if (strncmp(r->sqlstate, "08", 2) == 0)
			return (QSCHED_EXIT_DB);
		return (QSCHED_EXIT_FAILED);
	default:
		return (QSCHED_EXIT_FAILED);
	}
}
