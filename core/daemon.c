/*
 * daemon.c - qsched daemon: one single-threaded loop that drives every
 * scheduled fire through the same run path as qsched run (run.c), design
 * sections 3.1-3.3.  fire.c says when jobs fire, dispatch.c turns fires
 * into runs, book.c keeps the bookkeeping connection through outages.
 *
 * The loop sleeps in ppoll() until the earliest thing it has to do: the
 * next fire (a CLOCK_REALTIME timerfd, so a clock that is set wakes it at
 * once), a run's timeout or kill time, a retry, a reconnect, the next
 * history retention pass, or the end of the stop wait; or until a worker
 * reports, the idle database connection closes, or a signal comes.  There
 * is no polling tick.  Every wake-up re-reads the clocks (cronie) and acts
 * on what is due.  Signals stay blocked except inside ppoll(); their
 * handlers only set flags.
 *
 * Exactly once: a fire is claimed by inserting its qsched.runs row keyed
 * by (job, scheduled_for, attempt) (run_begin); another daemon that finds
 * the row there does nothing.
 */
#include "daemon.h"

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#define DAEMON_CANCEL_GRACE_MS	10000	/* stop: SIGTERM to SIGKILL of a run */
#define DAEMON_JUMP_MS		2000	/* a clock step worth a log line */
/* How far back a catch_up job looks at start when history is kept forever. */
#define DAEMON_HORIZON_MS	(366LL * 86400 * 1000)

static volatile sig_atomic_t daemon_hup;
static volatile sig_atomic_t daemon_term;	/* 1, then 2 on a second one */
static volatile sig_atomic_t daemon_termsig;

static void
daemon_signal(int sig)
{
	switch (sig) {
	case SIGHUP:
		daemon_hup = 1;
		break;
	case SIGTERM:
	case SIGINT:
		daemon_termsig = sig;
		daemon_term = daemon_term == 0 ? 1 : 2;
		break;
	default:	/* SIGCHLD: only to interrupt ppoll() */
		break;
	}
}

static void
daemon_signals(sigset_t *waitmask)
{
	static const int sigs[] = { SIGHUP, SIGTERM, SIGINT, SIGCHLD };

	signals_setup(sigs, sizeof sigs / sizeof sigs[0], daemon_signal,
	    waitmask);
}

/* The wall clock; under QSCHED_TEST_CLOCK a fake one that runs fast. */
static int64_t
daemon_now(struct daemon *d)
{
	if (d->opts->fake_speed > 0)
		clock_set_fake(d->opts->fake_start_ms + (int64_t)((double)(
		    clock_mono_ms() - d->fake_mono0) * d->opts->fake_speed));
	return (clock_now_ms());
}

static bool
daemon_same_schedule(const struct job *a, const struct job *b)
{
	return (a->enabled == b->enabled && strcmp(a->schedule,
	    b->schedule) == 0 && strcmp(a->timezone, b->timezone) == 0);
}

/*
 * What a reload may not do: remove every job (an empty or truncated file
 * that happens to parse), or move the daemon to another database, which
 * would leave its history, retries and liveness row behind: that needs a
 * restart.
 */
static bool
daemon_reload_refused(const struct daemon *d, const struct config *nc,
    char *err, size_t errlen)
{
	char	 a[256], b[256];

	if (nc->njobs == 0) {
		snprintf(err, errlen, "%s: no jobs defined (an empty or "
		    "truncated file?)", nc->path);
		return (true);
	}
	if (strcmp(nc->database, d->cfg->database) != 0) {
		snprintf(err, errlen, "%s: database changed from %s to %s: "
		    "restart the daemon to use another database", nc->path,
		    db_target(d->cfg->database, a, sizeof a),
		    db_target(nc->database, b, sizeof b));
		return (true);
	}
	return (false);
}

/*
 * SIGHUP.  The due fires were handled just before, with the old
 * configuration, so a job whose schedule changed starts from now; an
 * unchanged one keeps its state.  Runs in flight keep the old job
 * structures, so the old configuration lives until they end.
 */
static void
daemon_reload(struct daemon *d, int64_t now_ms)
{
	struct config	*nc;
	struct fire	*nf;
	struct daemon_retired *old;
	struct job	*oj;
	char		 err[QSCHED_ERRLEN];

	notify_send("RELOADING=1\nMONOTONIC_USEC=%lld",
	    (long long)clock_mono_ms() * 1000);
	log_notice("reloading %s", d->path);
	if (config_load(d->path, &nc, err, sizeof err) == -1 ||
	    daemon_reload_refused(d, nc, err, sizeof err)) {
		log_err("reload failed; the running configuration stays in "
		    "force: %s", err);
		config_free(nc);
		d->reloads_failed++;
		notify_send("READY=1");
		d->status[0] = '\0';
		return;
	}
	nf = xcalloc(nc->njobs > 0 ? nc->njobs : 1, sizeof *nf);
	for (size_t i = 0; i < nc->njobs; i++) {
		struct job	*nj = &nc->jobs[i];
		ptrdiff_t	 k;

		oj = config_job(d->cfg, nj->name);
		if (oj != NULL && daemon_same_schedule(oj, nj)) {
			k = oj - d->cfg->jobs;
			nf[i] = d->fires[k];
			if (!nj->catch_up)
				nf[i].catchup = 0;
			continue;
		}
		fire_start(&nf[i], nj, (time_t)(now_ms / 1000), 0);
		log_info("job=%s: %s", nj->name, oj == NULL ? "added" :
		    "schedule changed");
	}
	for (size_t i = 0; i < d->cfg->njobs; i++)
		if (config_job(nc, d->cfg->jobs[i].name) == NULL)
			log_info("job=%s: removed", d->cfg->jobs[i].name);
	old = xcalloc(1, sizeof *old);
	old->cfg = d->cfg;
	old->next = d->retired;
	d->retired = old;
	d->cfg = nc;
	free(d->fires);
	d->fires = nf;
	daemon_gc(d);
	d->reloads_ok++;
	log_notice("reloaded %s: %zu jobs", d->path, nc->njobs);
	if (nc->history_retention_ms <= 0)
		d->retention_at = 0;
	else if (d->retention_at == 0)
		d->retention_at = clock_mono_ms();
	notify_send("READY=1");
	d->status[0] = '\0';
}

static void
daemon_stop(struct daemon *d, int64_t mono)
{
	struct run	*r;
	char		 dur[32];
	int		 n = 0;

	if (daemon_term && !d->stopping) {
		d->stopping = true;
		d->stop_at = mono + d->opts->stop_wait_ms;
		notify_send("STOPPING=1");
		for (r = d->runs; r != NULL; r = r->next)
			n++;
		log_notice("%s: stopping; %d runs in progress, waiting up to "
		    "%s for them", daemon_termsig == SIGINT ? "SIGINT" :
		    "SIGTERM", n, duration_format(d->opts->stop_wait_ms, dur,
		    sizeof dur));
		/* Scheduled retries are rows: the next daemon runs them. */
	}
	if (!d->stopping || d->cancelled || (daemon_term < 2 &&
	    mono < d->stop_at))
		return;
	d->cancelled = true;
	for (r = d->runs; r != NULL; r = r->next) {
		log_run(QSCHED_LOG_NOTICE, r->job->name, r->id, "stopping: "
		    "cancelling the run");
		run_cancel(r, DAEMON_CANCEL_GRACE_MS);
	}
}

/* The wall-clock offset moved: a clock step, or a suspend. */
static void
daemon_clock(struct daemon *d, int64_t now_ms, int64_t mono)
{
	int64_t	 offset = now_ms - mono, step = offset - d->offset;
	char	 dur[32];

	if (d->opts->fake_speed == 0 && d->offset != 0 && (step >=
	    DAEMON_JUMP_MS || step <= -DAEMON_JUMP_MS))
		log_notice("the wall clock moved %s by %s (clock set or "
		    "suspend): %s", step > 0 ? "forward" : "back",
		    duration_format(step > 0 ? step : -step, dur, sizeof dur),
		    step > 0 ? "fires passed over come together; if they are "
		    "late by more than a minute they are missed" :
		    "fires already handled do not run again");
	d->offset = offset;
}

static void
daemon_status(struct daemon *d)
{
	struct buf	 b = { NULL, 0, 0 };
	const struct job *nj = NULL;
	time_t		 next = 0;
	char		 at[64];
	int		 n = 0;

	if (d->down)
		buf_puts(&b, "database unreachable; ");
	if (d->stopping)
		buf_puts(&b, "stopping; ");
	for (const struct run *r = d->runs; r != NULL; r = r->next) {
		if (n++ == 8) {
			buf_puts(&b, ", ...");
			break;
		}
		buf_printf(&b, "%s%s (run %lld)", n == 1 ? "running: " : ", ",
		    r->job->name, (long long)r->id);
	}
	if (n == 0)
		buf_puts(&b, "idle");
	for (size_t i = 0; i < d->cfg->njobs && !d->stopping; i++)
		if (d->fires[i].next != 0 && (next == 0 ||
		    d->fires[i].next < next)) {
			next = d->fires[i].next;
			nj = &d->cfg->jobs[i];
		}
	if (nj != NULL)
		buf_printf(&b, "; next: %s at %s", nj->name, daemon_when(nj,
		    next, at, sizeof at));
	if (strcmp(b.data, d->status) != 0) {
		snprintf(d->status, sizeof d->status, "%s", b.data);
		notify_send("STATUS=%s", d->status);
	}
	buf_free(&b);
}

static void
daemon_deadline(int64_t *deadline, int64_t t)
{
	if (t > 0 && (*deadline == -1 || t < *deadline))
		*deadline = t;
}

/* Sleep until the earliest thing due, or a signal, or input. */
static void
daemon_wait(struct daemon *d, int64_t now_ms, int64_t mono,
    const sigset_t *waitmask)
{
	struct itimerspec its;
	struct timespec	 ts;
	struct run	*r;
	int64_t		 deadline = -1, wall = -1, left;
	uint64_t	 ticks;
	size_t		 n = 0, need = 2;

	for (r = d->runs; r != NULL; r = r->next) {
		daemon_deadline(&deadline, run_deadline(r));
		need++;
	}
	if (d->book != NULL) {
		if (!d->stopping)
			daemon_deadline(&deadline, d->retry_at);
		daemon_deadline(&deadline, d->beat_at);
		daemon_deadline(&deadline, d->retention_at);
	} else
		daemon_deadline(&deadline, d->reconnect_at);
	if (d->stopping && !d->cancelled)
		daemon_deadline(&deadline, d->stop_at);
	for (size_t i = 0; i < d->cfg->njobs && !d->stopping; i++)
		if (d->fires[i].next != 0 && (wall == -1 ||
		    (int64_t)d->fires[i].next * 1000 < wall))
			wall = (int64_t)d->fires[i].next * 1000;

	memset(&its, 0, sizeof its);
	if (wall != -1 && d->opts->fake_speed > 0)
		daemon_deadline(&deadline, mono + 1 + (int64_t)((double)(wall -
		    now_ms) / d->opts->fake_speed));
	else if (wall != -1) {
		its.it_value.tv_sec = (time_t)(wall / 1000);
		its.it_value.tv_nsec = (long)(wall % 1000) * 1000000;
	}
	/* Absolute and cancelled on clock set: a stepped clock wakes us. */
	(void)timerfd_settime(d->tfd, TFD_TIMER_ABSTIME |
	    TFD_TIMER_CANCEL_ON_SET, &its, NULL);

	if (need > d->npfd) {
		d->pfd = xrealloc(d->pfd, need * sizeof *d->pfd);
		d->npfd = need;
	}
	d->pfd[n].fd = d->tfd;
	d->pfd[n++].events = POLLIN;
	d->pfd[n].fd = d->book != NULL ? PQsocket(d->book) : -1;
	d->pfd[n++].events = POLLIN;
	for (r = d->runs; r != NULL; r = r->next) {
		d->pfd[n].fd = r->fd;
		d->pfd[n++].events = POLLIN;
	}
	for (size_t i = 0; i < n; i++)
		d->pfd[i].revents = 0;
	if (deadline != -1) {
		left = deadline > mono ? deadline - mono : 0;
		ts.tv_sec = (time_t)(left / 1000);
		ts.tv_nsec = (long)(left % 1000) * 1000000;
	}
	if (ppoll(d->pfd, n, deadline != -1 ? &ts : NULL, waitmask) <= 0)
		return;
	/* Expired, or ECANCELED when the clock was set: either way, look. */
	if (d->pfd[0].revents & POLLIN)
		(void)read(d->tfd, &ticks, sizeof ticks);
	if (d->book != NULL && (d->pfd[1].revents & (POLLIN | POLLHUP |
	    POLLERR)))
		book_input(d);
}

static void
daemon_started(struct daemon *d)
{
	char	 at[64], utc[32];
	size_t	 scheduled = 0;

	for (size_t i = 0; i < d->cfg->njobs; i++) {
		const struct job *job = &d->cfg->jobs[i];

		if (d->fires[i].next == 0)
			continue;
		scheduled++;
		log_info("job=%s: next fire %s (%s)", job->name,
		    daemon_when(job, d->fires[i].next, at, sizeof at),
		    tz_format_utc(d->fires[i].next, utc, sizeof utc));
	}
	log_notice("qsched %s daemon started (pid %ld): %zu jobs, %zu "
	    "scheduled%s", PACKAGE_VERSION, (long)getpid(), d->cfg->njobs,
	    scheduled, d->down ? "; the database is unreachable" : "");
}

static void
daemon_free(struct daemon *d)
{
	struct daemon_retired *old;
	struct run	*r;

	while ((r = d->unrecorded) != NULL) {
		d->unrecorded = r->next;
		run_free(r);
	}
	while ((old = d->retired) != NULL) {
		d->retired = old->next;
		config_free(old->cfg);
		free(old);
	}
	if (d->book != NULL) {
		history_unregister(d->book);
		PQfinish(d->book);
	}
	if (d->tfd != -1)
		close(d->tfd);
	config_free(d->cfg);
	free(d->fires);
	free(d->pfd);
}

int
daemon_main(const char *path, struct config *cfg,
    const struct daemon_opts *opts)
{
	struct daemon	 d;
	sigset_t	 waitmask;
	char		 err[QSCHED_ERRLEN];
	int64_t		 now_ms, mono, horizon;
	bool		 worked;
	int		 held;

	memset(&d, 0, sizeof d);
	d.path = path;
	d.opts = opts;
	d.cfg = cfg;
	d.fake_mono0 = clock_mono_ms();
	daemon_signals(&waitmask);
	db_set_limits(DB_BOOK_QUERY_MS, DB_BOOK_CONNECT_S);
	if (notify_init(err, sizeof err) == -1)
		log_warn("%s", err);
	d.tfd = timerfd_create(CLOCK_REALTIME, TFD_CLOEXEC | TFD_NONBLOCK);
	if (d.tfd == -1) {
		log_err("timerfd_create: %s", strerror(errno));
		daemon_free(&d);
		return (QSCHED_EXIT_FAILED);
	}

	(void)book_connect(&d);
	now_ms = daemon_now(&d);
	horizon = cfg->history_retention_ms > 0 ? cfg->history_retention_ms :
	    DAEMON_HORIZON_MS;
	d.fires = xcalloc(cfg->njobs > 0 ? cfg->njobs : 1, sizeof *d.fires);
	for (size_t i = 0; i < cfg->njobs; i++)
		fire_start(&d.fires[i], &cfg->jobs[i], (time_t)(now_ms / 1000),
		    horizon);
	daemon_started(&d);
	notify_send("READY=1");

	for (;;) {
		now_ms = daemon_now(&d);
		mono = clock_mono_ms();
		daemon_clock(&d, now_ms, mono);
		for (struct run *r = d.runs; r != NULL; r = r->next) {
			if (r->fd != -1)
				run_read(r, d.book);
			run_timer(r, d.book, mono);
		}
		worked = dispatch_reap(&d);
		daemon_stop(&d, mono);
		if (d.stopping && d.runs == NULL)
			break;
		if (d.book == NULL && d.down && mono >= d.reconnect_at)
			(void)book_connect(&d);
		if (!d.stopping) {
			worked |= dispatch_fires(&d, now_ms);
			worked |= dispatch_catchups(&d);
			worked |= dispatch_retries(&d, mono);
		}
		book_retention(&d, mono);
		book_heartbeat(&d, mono);
		if (worked || d.abandon_at == 0)
			book_abandon(&d, mono);
		if (daemon_hup) {
			daemon_hup = 0;
			if (!d.stopping)
				daemon_reload(&d, now_ms);
		}
		daemon_status(&d);
		daemon_wait(&d, now_ms, clock_mono_ms(), &waitmask);
	}

	/* One more try for outcomes held through an outage. */
	if (d.unrecorded != NULL && d.book == NULL)
		(void)book_connect(&d);
	held = 0;
	for (struct run *r = d.unrecorded; r != NULL; r = r->next)
		held++;
	if (held > 0)
		log_warn("stopped with %d run outcomes unrecorded (database "
		    "unreachable): the next qsched on this host marks them "
		    "abandoned", held);
	log_notice("stopped");
	notify_close();
	daemon_free(&d);
	return (QSCHED_EXIT_OK);
}

