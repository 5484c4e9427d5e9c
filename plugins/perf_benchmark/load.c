/*
 * load.c - drive CLIENTS connections from this one process with libpq's
 * asynchronous API: each client sends one statement at a time
 * (PQsendQueryParams), poll() waits for whichever answers, and the next
 * statement of that client goes out at once.  No threads, no forks: the
 * host's calls stay on the worker's only thread.
 *
 * One sample is one transaction: BEGIN, the operation's steps, ROLLBACK,
 * timed from sending BEGIN to the end of ROLLBACK.  A step that fails
 * (statement_timeout, lock_timeout, a constraint) counts as an error and
 * the transaction is rolled back like any other; a lost connection ends
 * the measurement with a failure.
 */
#include <config.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"

enum phase {
	PH_IDLE,
	PH_BEGIN,
	PH_STEP,
	PH_ROLLBACK,
};

struct client {
	PGconn		*conn;
	enum phase	 phase;
	int		 step;
	bool		 err;
	bool		 got_prev;
	char		 prev[64];
	const char	*user;
	int64_t		 t0;
};

struct bench_load {
	const struct qsched_host *host;
	struct qsched_run *run;
	const struct bench_cfg *cfg;
	int		 n;
	struct client	 c[BENCH_MAX_CLIENTS];
};

/* One measurement of one operation. */
struct load_drive {
	struct bench_load *l;
	const struct bench_op *op;
	const struct bench_users *users;
	char		*sql[BENCH_MAX_STEPS];
	struct bench_result *r;		/* NULL: warmup, nothing recorded */
	int64_t		 end_us;	/* 0: by iterations */
	int64_t		 iterations;
	int64_t		 started;
	int		 active;
	bool		 stop;
	uint64_t	 rng;
};

struct bench_load *
load_open(const struct qsched_host *host, struct qsched_run *run,
    const struct bench_cfg *cfg)
{
	struct bench_load *l;
	char		 sql[256];
	PGresult	*res;

	if ((l = calloc(1, sizeof *l)) == NULL) {
		host->message(run, "out of memory for %d clients", cfg->clients);
		return (NULL);
	}
	l->host = host;
	l->run = run;
	l->cfg = cfg;
	/* Every statement is bounded; a client that stops answering in a
	 * transaction is ended by the server. */
	snprintf(sql, sizeof sql, "SET statement_timeout = %lld; "
	    "SET lock_timeout = %lld; "
	    "SET idle_in_transaction_session_timeout = %lld",
	    (long long)cfg->statement_timeout_ms,
	    (long long)cfg->lock_timeout_ms,
	    (long long)cfg->statement_timeout_ms + 10000);
	for (l->n = 0; l->n < cfg->clients; l->n++) {
		if ((l->c[l->n].conn = host->connect(run)) == NULL)
			goto fail;
		res = PQexec(l->c[l->n].conn, sql);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			host->fail(run, res, "client %d: setting its timeouts",
			    l->n + 1);
			PQclear(res);
			l->n++;
			goto fail;
		}
		PQclear(res);
	}
	return (l);
fail:
	load_close(l);
	return (NULL);
}

void
load_close(struct bench_load *l)
{
	if (l == NULL)
		return;
	for (int i = 0; i < l->n; i++)
		if (l->c[i].conn != NULL)
			PQfinish(l->c[i].conn);
	free(l);
}

static uint64_t
load_rand(struct load_drive *d)
{
	d->rng ^= d->rng << 13;
	d->rng ^= d->rng >> 7;
	d->rng ^= d->rng << 17;
	return (d->rng);
}

static int
load_lost(struct load_drive *d, struct client *c, const char *what)
{
	d->l->host->fail(d->l->run, NULL, "client %d: %s",
	    (int)(c - d->l->c) + 1, what);
	return (-1);
}

static int
load_send(struct load_drive *d, struct client *c, enum phase ph)
{
	const struct bench_step *s;
	const char	*values[BENCH_MAX_PARAMS];
	int		 n, ok;

	c->phase = ph;
	if (ph == PH_BEGIN)
		ok = PQsendQuery(c->conn, "BEGIN");
	else if (ph == PH_ROLLBACK)
		ok = PQsendQuery(c->conn, "ROLLBACK");
	else {
		s = &d->op->steps[c->step];
		n = plan_params(d->l->cfg, s->params, s->nparams, c->user,
		    c->prev, values);
		ok = PQsendQueryParams(c->conn, d->sql[c->step], n, NULL,
		    values, NULL, NULL, 0);
	}
	if (!ok)
		return (load_lost(d, c, "sending a statement"));
	return (0);
}

static bool
load_more(struct load_drive *d)
{
	if (d->stop)
		return (false);
	if (d->end_us == 0)
		return (d->started < d->iterations);
	return (d->l->host->mono_us() < d->end_us);
}

static int
load_start(struct load_drive *d, struct client *c)
{
	d->started++;
	c->err = false;
	c->got_prev = false;
	c->step = 0;
	c->user = d->users->n > 0 ?
	    d->users->id[load_rand(d) % (uint64_t)d->users->n] : "";
	c->t0 = d->l->host->mono_us();
	return (load_send(d, c, PH_BEGIN));
}

static bool
load_needs_prev(const struct bench_step *s)
{
	for (int i = 0; i < s->nparams; i++)
		if (s->params[i] == BP_PREV)
			return (true);
	return (false);
}

/* The statement in flight on C has ended: send the next one. */
static int
load_advance(struct load_drive *d, struct client *c)
{
	int64_t		 t;

	switch (c->phase) {
	case PH_BEGIN:
		return (load_send(d, c, c->err ? PH_ROLLBACK : PH_STEP));
	case PH_STEP:
		c->step++;
		/* No row to claim: the claim ends after its SELECT. */
		if (c->err || c->step == d->op->nsteps ||
		    (load_needs_prev(&d->op->steps[c->step]) &&
		    !c->got_prev))
			return (load_send(d, c, PH_ROLLBACK));
		return (load_send(d, c, PH_STEP));
	case PH_ROLLBACK:
		t = d->l->host->mono_us() - c->t0;
		if (d->r != NULL) {
			if (c->err)
				d->r->errors++;
			else
				hist_add(&d->r->hist, (uint64_t)t);
		}
		if (load_more(d))
			return (load_start(d, c));
		c->phase = PH_IDLE;
		d->active--;
		return (0);
	default:
		return (0);
	}
}

static int
load_result(struct load_drive *d, struct client *c, PGresult *res)
{
	const char	*state;

	switch (PQresultStatus(res)) {
	case PGRES_TUPLES_OK:
		c->got_prev = PQntuples(res) > 0 && PQnfields(res) > 0 &&
		    !PQgetisnull(res, 0, 0);
		if (c->got_prev)
			snprintf(c->prev, sizeof c->prev, "%s",
			    PQgetvalue(res, 0, 0));
		return (0);
	case PGRES_COMMAND_OK:
		return (0);
	default:
		if (c->phase == PH_ROLLBACK) {
			d->l->host->fail(d->l->run, res, "client %d: ROLLBACK",
			    (int)(c - d->l->c) + 1);
			return (-1);
		}
		c->err = true;
		if (d->r != NULL && d->r->first_error[0] == '\0') {
			state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
			snprintf(d->r->first_error, sizeof d->r->first_error,
			    "%s: %s", state != NULL ? state : "?",
			    PQresultErrorField(res,
			    PG_DIAG_MESSAGE_PRIMARY) != NULL ?
			    PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) :
			    "error");
		}
		return (0);
	}
}

/* Read what C's server sent; advance it as far as that goes. */
static int
load_read(struct load_drive *d, struct client *c)
{
	PGresult	*res;
	int		 rc;

	if (!PQconsumeInput(c->conn))
		return (load_lost(d, c, PQerrorMessage(c->conn)));
	while (c->phase != PH_IDLE && !PQisBusy(c->conn)) {
		if ((res = PQgetResult(c->conn)) == NULL) {
			if (load_advance(d, c) == -1)
				return (-1);
			continue;
		}
		rc = load_result(d, c, res);
		PQclear(res);
		if (rc == -1)
			return (-1);
	}
	return (0);
}

static int
load_loop(struct load_drive *d)
{
	struct bench_load *l = d->l;
	struct pollfd	 fds[BENCH_MAX_CLIENTS];
	int		 idx[BENCH_MAX_CLIENTS], nfds;

	for (int i = 0; i < l->n && load_more(d); i++) {
		d->active++;
		if (load_start(d, &l->c[i]) == -1)
			return (-1);
	}
	while (d->active > 0) {
		if (!d->stop && l->host->cancelled(l->run))
			d->stop = true;
		nfds = 0;
		for (int i = 0; i < l->n; i++) {
			if (l->c[i].phase == PH_IDLE)
				continue;
			fds[nfds].fd = PQsocket(l->c[i].conn);
			fds[nfds].events = POLLIN;
			fds[nfds].revents = 0;
			idx[nfds++] = i;
		}
		if (poll(fds, (nfds_t)nfds, 100) == -1) {
			if (errno == EINTR)
				continue;
			l->host->message(l->run, "poll: %s", strerror(errno));
			return (-1);
		}
		for (int k = 0; k < nfds; k++)
			if (fds[k].revents != 0 &&
			    load_read(d, &l->c[idx[k]]) == -1)
				return (-1);
	}
	return (0);
}

/*
 * load_run - measure OP for DURATION_US (or ITERATIONS transactions, all
 * clients together) into R; R NULL: a warmup, nothing recorded.
 * RETURN VALUE: 0, or -1 after recording why (connections are then
 * unusable: close them).
 */
int
load_run(struct bench_load *l, const struct bench_op *op,
    const struct bench_users *users, int64_t duration_us, int64_t iterations,
    struct bench_result *r)
{
	struct load_drive	 d;
	int64_t		 t0;
	int		 rc = -1;

	memset(&d, 0, sizeof d);
	d.l = l;
	d.op = op;
	d.users = users;
	d.r = r;
	d.iterations = iterations;
	d.rng = (uint64_t)l->host->mono_us() | 1;
	for (int i = 0; i < op->nsteps; i++)
		if ((d.sql[i] = ops_sql(op->steps[i].sql, l->cfg->table,
		    l->cfg->have_sessions)) == NULL) {
			l->host->message(l->run, "out of memory");
			goto out;
		}
	t0 = l->host->mono_us();
	d.end_us = iterations > 0 ? 0 : t0 + duration_us;
	rc = load_loop(&d);
	if (r != NULL)
		r->elapsed_us = l->host->mono_us() - t0;
out:
	for (int i = 0; i < op->nsteps; i++)
		free(d.sql[i]);
	return (rc);
}
