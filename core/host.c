/*
 * host.c - the services qsched offers plugins (struct qsched_host), and the
 * worker-side state of a run behind the opaque struct qsched_run.
 *
 * Everything here runs in the worker process.  What the parent must know
 * (progress, the outcome) goes through the report pipe; what the plugin
 * counts is kept here and sent once, at the end, as the run's metrics.
 */
#include "qsched.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define HOST_PROGRESS_EVERY_MS	200	/* report progress at most this often */

volatile sig_atomic_t	host_cancelled;

static PGconn *
host_conn(struct qsched_run *qr)
{
	return (qr == NULL ? NULL : qr->conn);
}

/* In init(), fini() and validate() there is no run: see the header. */
static const char *
host_job(struct qsched_run *qr)
{
	return (qr == NULL ? NULL : qr->run->job->name);
}

static int64_t
host_run_id(struct qsched_run *qr)
{
	return (qr == NULL ? 0 : qr->run->id);
}

static int
host_attempt(struct qsched_run *qr)
{
	return (qr == NULL ? 0 : qr->run->attempt);
}

static bool
host_dry_run(struct qsched_run *qr)
{
	return (qr == NULL ? false : qr->run->dry_run);
}

static bool
host_is_cancelled(struct qsched_run *qr)
{
	(void)qr;
	return (host_cancelled != 0);
}

/* A plugin asking for an option its own table does not declare is a bug
 * in the plugin: say so loudly, and answer as for an unset option. */
static const struct option_value *
host_option(struct qsched_run *qr, const char *name)
{
	const struct option_value *v;

	if (qr == NULL)
		return (NULL);
	v = job_option(qr->run->job, name);
	if (v == NULL)
		log_run(QSCHED_LOG_ERR, qr->run->job->name, qr->run->id,
		    "plugin asked for option \"%s\", which it does not "
		    "declare", name);
	return (v);
}

static bool
host_opt_is_set(struct qsched_run *qr, const char *name)
{
	const struct option_value *v = host_option(qr, name);

	return (v != NULL && v->text != NULL);
}

static const char *
host_opt_string(struct qsched_run *qr, const char *name)
{
	const struct option_value *v = host_option(qr, name);

	return (v == NULL || v->text == NULL ? "" : v->text);
}

static int64_t
host_opt_num(struct qsched_run *qr, const char *name)
{
	const struct option_value *v = host_option(qr, name);

	return (v == NULL || v->text == NULL ? 0 : v->num);
}

static bool
host_opt_bool(struct qsched_run *qr, const char *name)
{
	return (host_opt_num(qr, name) != 0);
}

static int
host_flag(struct qsched_run *qr, const char *name)
{
	return (qr == NULL ? -1 : flags_get(qr->flags, name));
}

static void
host_log(struct qsched_run *qr, int level, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	if (qr == NULL)
		log_vmsg(level, fmt, ap);
	else
		log_vrun(level, qr->run->job->name, qr->run->id, fmt, ap);
	va_end(ap);
}

static void
host_progress(struct qsched_run *qr, int64_t done, int64_t total)
{
	int64_t	 now = clock_mono_ms();
	char	 p[64];

	if (qr == NULL)
		return;
	/* Rate-limited: a plugin may call this per row. */
	if (now - qr->progress_sent < HOST_PROGRESS_EVERY_MS &&
	    done != total)
		return;
	qr->progress_sent = now;
	snprintf(p, sizeof p, "%lld %lld", (long long)done, (long long)total);
	(void)report_send(qr->fd, REPORT_PROGRESS, p);
}

static void
host_add_rows(struct qsched_run *qr, int64_t n)
{
	if (qr != NULL)
		qr->rows += n;
}

static struct metric *
host_metric(struct qsched_run *qr, const char *name)
{
	struct metric	*m;

	for (size_t i = 0; i < qr->nmetrics; i++)
		if (strcmp(qr->metrics[i].name, name) == 0) {
			m = &qr->metrics[i];
			free(m->text);
			m->text = NULL;
			return (m);
		}
	qr->metrics = xrealloc(qr->metrics,
	    (qr->nmetrics + 1) * sizeof *qr->metrics);
	m = &qr->metrics[qr->nmetrics++];
	memset(m, 0, sizeof *m);
	m->name = xstrdup(name);
	return (m);
}

/* "flags" and "worker_peak_rss_kb" are the core's own metrics. */
static bool
host_metric_name_ok(struct qsched_run *qr, const char *name)
{
	if (qr == NULL || name == NULL)
		return (false);
	if (strcmp(name, "flags") != 0 && strcmp(name,
	    "worker_peak_rss_kb") != 0)
		return (true);
	host_log(qr, QSCHED_LOG_ERR, "the metric name \"%s\" is reserved",
	    name);
	return (false);
}

static void
host_counter(struct qsched_run *qr, const char *name, int64_t value)
{
	struct metric	*m;

	if (!host_metric_name_ok(qr, name))
		return;
	m = host_metric(qr, name);

	m->is_text = false;
	m->num = value;
}

static void
host_note(struct qsched_run *qr, const char *name, const char *value)
{
	struct metric	*m;

	if (!host_metric_name_ok(qr, name))
		return;
	m = host_metric(qr, name);

	m->is_text = true;
	m->text = xstrdup(value == NULL ? "" : value);
}

static void
host_message(struct qsched_run *qr, const char *fmt, ...)
{
	va_list	 ap;
	char	*s;

	if (qr == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) == -1)
		s = NULL;
	va_end(ap);
	free(qr->message);
	qr->message = s;
}

static void
host_fail(struct qsched_run *qr, const PGresult *res, const char *fmt, ...)
{
	va_list		 ap;
	char		*what, e[QSCHED_ERRLEN];
	const char	*msg = NULL;

	if (qr == NULL)
		return;
	va_start(ap, fmt);
	if (vasprintf(&what, fmt, ap) == -1)
		what = NULL;
	va_end(ap);
	snprintf(qr->sqlstate, sizeof qr->sqlstate, "%s",
	    db_sqlstate(res, qr->conn));
	if (res != NULL)
		msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);
	if (msg == NULL)
		msg = db_error(NULL, qr->conn, e, sizeof e);
	free(qr->message);
	if (xasprintf(&qr->message, "%s: %s", what ? what : "error", msg) < 0)
		qr->message = NULL;
	free(what);
}

static char *
host_checkpoint_get(struct qsched_run *qr, const char *key)
{
	const char	*params[2] = { NULL, key };
	char		 e[QSCHED_ERRLEN], *value = NULL;
	PGresult	*res;

	if (qr == NULL)
		return (NULL);
	params[0] = qr->run->job->name;
	res = db_query(qr->conn, "SELECT value FROM qsched.checkpoints "
	    "WHERE job = $1 AND key = $2", 2, params, e, sizeof e);
	if (res == NULL) {
		host_log(qr, QSCHED_LOG_ERR, "reading checkpoint \"%s\": %s",
		    key, e);
		return (NULL);
	}
	if (PQntuples(res) == 1)
		value = xstrdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return (value);
}

static int
host_checkpoint_put(struct qsched_run *qr, const char *key, const char *value)
{
	char		 id[32], e[QSCHED_ERRLEN];
	const char	*params[4] = { NULL, key, value, id };
	PGresult	*res;

	if (qr == NULL)
		return (-1);
	params[0] = qr->run->job->name;
	snprintf(id, sizeof id, "%lld", (long long)qr->run->id);
	res = db_query(qr->conn, "INSERT INTO qsched.checkpoints "
	    "(job, key, value, run_id) VALUES ($1, $2, $3, nullif($4, '0')::bigint) "
	    "ON CONFLICT (job, key) DO UPDATE SET value = excluded.value, "
	    "run_id = excluded.run_id, updated_at = clock_timestamp()",
	    4, params, e, sizeof e);
	if (res == NULL) {
		host_log(qr, QSCHED_LOG_ERR, "writing checkpoint \"%s\": %s",
		    key, e);
		return (-1);
	}
	PQclear(res);
	return (0);
}

static int
host_checkpoint_clear(struct qsched_run *qr, const char *key)
{
	const char	*params[2] = { NULL, key };
	char		 e[QSCHED_ERRLEN];
	PGresult	*res;

	if (qr == NULL)
		return (-1);
	params[0] = qr->run->job->name;
	res = db_query(qr->conn, "DELETE FROM qsched.checkpoints "
	    "WHERE job = $1 AND key = $2", 2, params, e, sizeof e);
	if (res == NULL) {
		host_log(qr, QSCHED_LOG_ERR, "clearing checkpoint \"%s\": %s",
		    key, e);
		return (-1);
	}
	PQclear(res);
	return (0);
}

static PGresult *
host_exec(struct qsched_run *qr, const char *what, const char *sql,
    int nparams, const char *const *params)
{
	PGresult	*res;

	if (qr == NULL)
		return (NULL);
	/* PQexec runs several statements; parameters need PQexecParams. */
	res = nparams == 0 && params == NULL ? PQexec(qr->conn, sql) :
	    PQexecParams(qr->conn, sql, nparams, NULL, params, NULL, NULL, 0);
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
		return (res);
	default:
		host_fail(qr, res, "%s", what != NULL ? what : "query");
		PQclear(res);
		return (NULL);
	}
}

static PGconn *
host_connect(struct qsched_run *qr)
{
	const struct job *job;
	char		 app[64], opts[128], e[QSCHED_ERRLEN];
	PGconn		*c;

	if (qr == NULL)
		return (NULL);
	job = qr->run->job;
	lock_appname(job->name, qr->run->id, ++qr->nconns, app, sizeof app);
	/* The job's timeouts from the start: no extra round trip. */
	snprintf(opts, sizeof opts, "-c statement_timeout=%lld "
	    "-c lock_timeout=%lld -c client_connection_check_interval=1000",
	    (long long)job->statement_timeout_ms,
	    (long long)job->lock_timeout_ms);
	if ((c = db_connect(qr->run->cfg->database, app, opts, e,
	    sizeof e)) == NULL) {
		snprintf(qr->sqlstate, sizeof qr->sqlstate, "08001");
		free(qr->message);
		xasprintf(&qr->message, "opening an extra connection: %s", e);
	}
	return (c);
}

static void
host_state(struct qsched_run *qr, const char *fmt, ...)
{
	va_list	 ap;
	char	*s = NULL;

	if (qr == NULL)
		return;
	if (fmt != NULL && *fmt != '\0') {
		va_start(ap, fmt);
		if (vasprintf(&s, fmt, ap) == -1)
			s = NULL;
		va_end(ap);
	}
	/* Only a change is worth a record. */
	if ((s == NULL && qr->state == NULL) || (s != NULL &&
	    qr->state != NULL && strcmp(s, qr->state) == 0)) {
		free(s);
		return;
	}
	free(qr->state);
	qr->state = s;
	(void)report_send(qr->fd, REPORT_STATE, s != NULL ? s : "");
}

const struct qsched_host host_services = {
	.size = sizeof(struct qsched_host),
	.abi_major = QSCHED_ABI_MAJOR,
	.abi_minor = QSCHED_ABI_MINOR,
	.version = PACKAGE_VERSION,
	.conn = host_conn,
	.job = host_job,
	.run_id = host_run_id,
	.attempt = host_attempt,
	.dry_run = host_dry_run,
	.cancelled = host_is_cancelled,
	.opt_is_set = host_opt_is_set,
	.opt_string = host_opt_string,
	.opt_int = host_opt_num,
	.opt_bool = host_opt_bool,
	.opt_duration_ms = host_opt_num,
	.flag = host_flag,
	.log = host_log,
	.progress = host_progress,
	.add_rows = host_add_rows,
	.counter = host_counter,
	.note = host_note,
	.message = host_message,
	.fail = host_fail,
	.checkpoint_get = host_checkpoint_get,
	.checkpoint_put = host_checkpoint_put,
	.checkpoint_clear = host_checkpoint_clear,
	.exec = host_exec,
	.mono_us = clock_mono_us,
	.connect = host_connect,
	.state = host_state,
	.lock_key = lock_key,
};

/* The worker's peak resident set (VmHWM) in kB, 0 if unknown: every run
 * records it, so memory that does not stay flat shows in the history. */
static long long
host_peak_rss_kb(void)
{
	FILE		*f = fopen("/proc/self/status", "r");
	char		 line[256];
	long long	 kb = 0;

	if (f == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmHWM: %lld kB", &kb) == 1)
			break;
	fclose(f);
	return (kb);
}

char *
host_metrics_json(const struct qsched_run *qr)
{
	struct buf	 b = { 0 };
	char		*flags = flags_json(qr->flags);

	buf_printf(&b, "{\"worker_peak_rss_kb\":%lld,", host_peak_rss_kb());
	for (size_t i = 0; i < qr->nmetrics; i++) {
		const struct metric *m = &qr->metrics[i];

		buf_json_string(&b, m->name);
		buf_puts(&b, ":");
		if (m->is_text)
			buf_json_string(&b, m->text);
		else
			buf_printf(&b, "%lld", (long long)m->num);
		buf_puts(&b, ",");
	}
	buf_printf(&b, "\"flags\":%s}", flags);
	free(flags);
	return (buf_take(&b));
}

void
host_run_free(struct qsched_run *qr)
{
	for (size_t i = 0; i < qr->nmetrics; i++) {
		free(qr->metrics[i].name);
		free(qr->metrics[i].text);
	}
	free(qr->metrics);
	free(qr->message);
	free(qr->state);
	qr->metrics = NULL;
	qr->message = NULL;
	qr->state = NULL;
	qr->nmetrics = 0;
}
