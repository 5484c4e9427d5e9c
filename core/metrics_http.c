/*
 * metrics_http.c - the daemon's GET /metrics, served by libmicrohttpd on
 * metrics_listen (jobs.conf), and the hooks the daemon loop calls.
 *
 * Two threads, and what each owns:
 * - the daemon's loop (the main thread) calls metrics_http_publish() once
 *   per iteration: it copies what it knows now (runs in progress, next
 *   fires, the bookkeeping connection's state, reloads) into
 *   metrics_http_shared under a mutex held only for that copy, so the loop
 *   never waits on a scrape.  It reads struct daemon (daemon.h) and
 *   changes nothing in it.  A reload rebuilds the job list here too,
 *   because the schedule interval needs cron_next(), and tz.c may only be
 *   used by the main thread.
 * - libmicrohttpd's internal polling thread answers requests.  A scrape
 *   takes a copy of the shared values, refreshes the DB part on the
 *   thread's own connection (statement_timeout METRICS_HTTP_TIMEOUT_MS),
 *   and answers with the last good DB values and their age when the
 *   database is slow or away.  After a failed connection it waits
 *   METRICS_HTTP_BACKOFF_MS before trying again, so scrapes during an
 *   outage answer at once.
 * Nobody scraping, the thread sleeps in epoll with no timeout: the daemon
 * wakes no more often with metrics on than off.
 */
#include "daemon.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <microhttpd.h>

#define METRICS_HTTP_TIMEOUT_MS	2000	/* per statement, per scrape */
#define METRICS_HTTP_WAIT_MS	3000	/* the server answers a scrape */
#define METRICS_HTTP_BACKOFF_MS	10000	/* after a failed connection */
#define METRICS_HTTP_CONNS	16	/* concurrent HTTP connections */
#define METRICS_HTTP_IDLE_S	10	/* an idle HTTP connection is closed */

/* Written by the main thread, read by the HTTP thread, under lock. */
static struct {
	pthread_mutex_t	 lock;
	struct metrics_live live;
} metrics_http_shared = { .lock = PTHREAD_MUTEX_INITIALIZER };

/* The main thread's own state. */
static struct {
	struct MHD_Daemon *mhd;
	const struct config *cfg;	/* the job list was built from it */
	struct metrics_live live;
	bool		 book_seen;	/* the bookkeeping connection was up */
	bool		 book_was;	/* ...at the last call */
	char		*listen;
} metrics_http_main;

/* The HTTP thread's own state. */
static struct {
	struct metrics_db *db;
	PGconn		*conn;
	char		*conninfo;
	int64_t		 retry_at;	/* mono ms: next connection attempt */
	struct metrics_live live;
	bool		 complained;	/* the connection failed */
	bool		 failing;	/* the last refresh failed */
} metrics_http_thread;

int
metrics_http_parse(const char *listen, char *host, size_t hostlen,
    char *port, size_t portlen, char *err, size_t errlen)
{
	const char	*p, *colon;
	char		*end;
	long		 n;
	size_t		 hl;

	if (listen[0] == '[') {
		if ((p = strchr(listen, ']')) == NULL || p[1] != ':') {
			snprintf(err, errlen, "\"%s\": expected [ADDRESS]:PORT",
			    listen);
			return (-1);
		}
		hl = (size_t)(p - listen - 1);
		colon = p + 1;
		p = listen + 1;
	} else if ((colon = strrchr(listen, ':')) != NULL) {
		if (strchr(listen, ':') != colon) {
			snprintf(err, errlen, "\"%s\": write an IPv6 address "
			    "as [ADDRESS]:PORT", listen);
			return (-1);
		}
		hl = (size_t)(colon - listen);
		p = listen;
	} else {
		hl = 0;
		p = NULL;
		colon = listen - 1;
	}
	if (p != NULL && hl == 0) {
		snprintf(err, errlen, "\"%s\": the host is empty", listen);
		return (-1);
	}
	n = strtol(colon + 1, &end, 10);
	if (colon[1] == '\0' || *end != '\0' || n < 1 || n > 65535) {
		snprintf(err, errlen, "\"%s\": the port must be a number from "
		    "1 to 65535", listen);
		return (-1);
	}
	if (hl + 1 > hostlen) {
		snprintf(err, errlen, "\"%s\": the host is too long", listen);
		return (-1);
	}
	if (p == NULL)
		snprintf(host, hostlen, "127.0.0.1");
	else {
		memcpy(host, p, hl);
		host[hl] = '\0';
	}
	snprintf(port, portlen, "%ld", n);
	return (0);
}

/* The thread's connection, read-only, with the scrape's statement_timeout. */
static PGconn *
metrics_http_conn(void)
{
	char		 err[QSCHED_ERRLEN], opts[128];

	if (metrics_http_thread.conn != NULL &&
	    PQstatus(metrics_http_thread.conn) == CONNECTION_OK &&
	    PQpipelineStatus(metrics_http_thread.conn) == PQ_PIPELINE_OFF)
		return (metrics_http_thread.conn);
	if (metrics_http_thread.conn != NULL) {
		PQfinish(metrics_http_thread.conn);
		metrics_http_thread.conn = NULL;
	}
	if (clock_mono_ms() < metrics_http_thread.retry_at)
		return (NULL);
	/* jit=off: compiling costs more than these short queries take. */
	snprintf(opts, sizeof opts, "-c statement_timeout=%d -c TimeZone=UTC "
	    "-c default_transaction_read_only=on -c jit=off",
	    METRICS_HTTP_TIMEOUT_MS);
	metrics_http_thread.conn = db_connect(metrics_http_thread.conninfo,
	    "qsched/metrics", opts, err, sizeof err);
	if (metrics_http_thread.conn == NULL) {
		metrics_http_thread.retry_at = clock_mono_ms() +
		    METRICS_HTTP_BACKOFF_MS;
		if (!metrics_http_thread.complained)
			log_warn("metrics: database unreachable: %s (serving "
			    "the last values read)", err);
		metrics_http_thread.complained = true;
		return (NULL);
	}
	if (metrics_http_thread.complained)
		log_notice("metrics: database reachable again");
	metrics_http_thread.complained = false;
	return (metrics_http_thread.conn);
}

/* One scrape, on the HTTP thread: the text to answer with. */
static char *
metrics_http_render(enum metrics_format f, size_t *len)
{
	struct buf	 b = { NULL, 0, 0 };
	char		 err[QSCHED_ERRLEN];
	PGconn		*conn;

	pthread_mutex_lock(&metrics_http_shared.lock);
	metrics_live_copy(&metrics_http_thread.live,
	    &metrics_http_shared.live);
	pthread_mutex_unlock(&metrics_http_shared.lock);
	if (metrics_http_thread.live.database != NULL &&
	    (metrics_http_thread.conninfo == NULL ||
	    strcmp(metrics_http_thread.conninfo,
	    metrics_http_thread.live.database) != 0)) {
		free(metrics_http_thread.conninfo);
		metrics_http_thread.conninfo =
		    xstrdup(metrics_http_thread.live.database);
		if (metrics_http_thread.conn != NULL)
			PQfinish(metrics_http_thread.conn);
		metrics_http_thread.conn = NULL;
		metrics_http_thread.retry_at = 0;
	}
	/* A failing refresh is logged once, and its end. */
	if ((conn = metrics_http_conn()) != NULL) {
		if (metrics_db_refresh(metrics_http_thread.db, conn,
		    &metrics_http_thread.live, err, sizeof err) == -1) {
			if (!metrics_http_thread.failing)
				log_warn("%s (serving the last values read)",
				    err);
			metrics_http_thread.failing = true;
		} else if (metrics_http_thread.failing) {
			log_notice("metrics: reading the database again");
			metrics_http_thread.failing = false;
		}
	}
	metrics_format(&b, metrics_http_thread.db, &metrics_http_thread.live,
	    f);
	*len = b.len;
	return (buf_take(&b));
}

static enum MHD_Result
metrics_http_answer(struct MHD_Connection *c, unsigned status,
    const char *type, char *body, size_t len)
{
	struct MHD_Response *r;
	enum MHD_Result	 ret;

	r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
	if (r == NULL) {
		free(body);
		return (MHD_NO);
	}
	(void)MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
	ret = MHD_queue_response(c, status, r);
	MHD_destroy_response(r);
	return (ret);
}

static enum MHD_Result
metrics_http_request(void *cls, struct MHD_Connection *c, const char *url,
    const char *method, const char *version, const char *upload,
    size_t *upload_size, void **con_cls)
{
	const char	*accept;
	enum metrics_format f = METRICS_TEXT;
	char		*body;
	size_t		 len;

	(void)cls;
	(void)version;
	(void)upload;
	(void)upload_size;
	(void)con_cls;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return (metrics_http_answer(c, MHD_HTTP_METHOD_NOT_ALLOWED,
		    "text/plain", xstrdup("only GET /metrics\n"), 18));
	if (strcmp(url, "/metrics") != 0) {
		body = xstrdup("qsched: GET /metrics\n");
		return (metrics_http_answer(c, MHD_HTTP_NOT_FOUND,
		    "text/plain", body, strlen(body)));
	}
	accept = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_ACCEPT);
	if (accept != NULL && strstr(accept, "application/openmetrics-text") !=
	    NULL)
		f = METRICS_OPENMETRICS;
	body = metrics_http_render(f, &len);
	return (metrics_http_answer(c, MHD_HTTP_OK, f == METRICS_OPENMETRICS ?
	    "application/openmetrics-text; version=1.0.0; charset=utf-8" :
	    "text/plain; version=0.0.4; charset=utf-8", body, len));
}

static void
metrics_http_log(void *cls, const char *fmt, va_list ap)
{
	char	 line[QSCHED_ERRLEN];
	size_t	 n;

	(void)cls;
	vsnprintf(line, sizeof line, fmt, ap);
	n = strlen(line);
	while (n > 0 && line[n - 1] == '\n')
		line[--n] = '\0';
	log_warn("metrics: %s", line);
}

int
metrics_http_start(const struct config *cfg, char *err, size_t errlen)
{
	struct addrinfo	 hints, *ai;
	char		 host[256], port[8], e[QSCHED_ERRLEN];
	unsigned	 flags;
	int		 rc;

	if (cfg->metrics_listen == NULL)
		return (0);
	if (metrics_http_parse(cfg->metrics_listen, host, sizeof host, port,
	    sizeof port, e, sizeof e) == -1) {
		snprintf(err, errlen, "metrics_listen %s", e);
		return (-1);
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	if ((rc = getaddrinfo(host, port, &hints, &ai)) != 0) {
		snprintf(err, errlen, "metrics_listen %s: %s",
		    cfg->metrics_listen, gai_strerror(rc));
		return (-1);
	}
	metrics_http_thread.db = metrics_db_new(METRICS_HTTP_WAIT_MS);
	metrics_http_main.cfg = NULL;
	metrics_http_main.listen = xstrdup(cfg->metrics_listen);
	flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ERROR_LOG;
	if (ai->ai_family == AF_INET6)
		flags |= MHD_USE_IPv6;
	metrics_http_main.mhd = MHD_start_daemon(flags,
	    (uint16_t)atoi(port), NULL, NULL, metrics_http_request, NULL,
	    MHD_OPTION_EXTERNAL_LOGGER, metrics_http_log, NULL,
	    MHD_OPTION_SOCK_ADDR, ai->ai_addr,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned)METRICS_HTTP_CONNS,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)METRICS_HTTP_IDLE_S,
	    MHD_OPTION_END);
	freeaddrinfo(ai);
	if (metrics_http_main.mhd == NULL) {
		snprintf(err, errlen, "metrics_listen %s: cannot listen "
		    "there (address in use or not local?)",
		    cfg->metrics_listen);
		metrics_db_free(metrics_http_thread.db);
		metrics_http_thread.db = NULL;
		free(metrics_http_main.listen);
		metrics_http_main.listen = NULL;
		return (-1);
	}
	log_notice("metrics: serving http://%s%s%s:%s/metrics",
	    strchr(host, ':') != NULL ? "[" : "", host,
	    strchr(host, ':') != NULL ? "]" : "", port);
	return (0);
}

void
metrics_http_publish(const struct daemon *d)
{
	struct metrics_live *lv = &metrics_http_main.live;
	bool		 rebuilt = false;

	if (metrics_http_main.mhd == NULL)
		return;
	if (metrics_http_main.cfg != d->cfg) {
		metrics_jobs(lv, d->cfg);
		lv->daemon = true;
		if (lv->started == 0)
			lv->started = clock_now();
		metrics_http_main.cfg = d->cfg;
		rebuilt = true;
		if ((d->cfg->metrics_listen == NULL) ||
		    strcmp(d->cfg->metrics_listen,
		    metrics_http_main.listen) != 0)
			log_warn("metrics_listen changed: it takes effect "
			    "when qsched restarts");
	}
	for (size_t i = 0; i < lv->njobs; i++) {
		struct metrics_job *mj = &lv->jobs[i];

		mj->running = 0;
		mj->next_fire = i < d->cfg->njobs && !d->stopping ?
		    d->fires[i].next : 0;
		for (const struct run *r = d->runs; r != NULL; r = r->next)
			if (strcmp(r->job->name, mj->name) == 0)
				mj->running++;
	}
	/* A connection that comes back after being up is a reconnect. */
	if (d->book != NULL && !metrics_http_main.book_was &&
	    metrics_http_main.book_seen)
		lv->reconnects++;
	if (d->book != NULL)
		metrics_http_main.book_seen = true;
	metrics_http_main.book_was = d->book != NULL;
	lv->db_connected = d->book != NULL;
	lv->reloads_ok = d->reloads_ok;
	lv->reloads_failed = d->reloads_failed;

	pthread_mutex_lock(&metrics_http_shared.lock);
	if (rebuilt) {
		metrics_live_copy(&metrics_http_shared.live, lv);
	} else {
		struct metrics_live *sh = &metrics_http_shared.live;

		for (size_t i = 0; i < lv->njobs && i < sh->njobs; i++) {
			sh->jobs[i].running = lv->jobs[i].running;
			sh->jobs[i].next_fire = lv->jobs[i].next_fire;
		}
		sh->db_connected = lv->db_connected;
		sh->reconnects = lv->reconnects;
		sh->reloads_ok = lv->reloads_ok;
		sh->reloads_failed = lv->reloads_failed;
	}
	pthread_mutex_unlock(&metrics_http_shared.lock);
}

void
metrics_http_stop(void)
{
	if (metrics_http_main.mhd == NULL)
		return;
	/* Waits for a scrape in progress; it ends within its timeouts. */
	MHD_stop_daemon(metrics_http_main.mhd);
	metrics_http_main.mhd = NULL;
	if (metrics_http_thread.conn != NULL)
		PQfinish(metrics_http_thread.conn);
	metrics_http_thread.conn = NULL;
	metrics_db_free(metrics_http_thread.db);
	metrics_http_thread.db = NULL;
	free(metrics_http_thread.conninfo);
	metrics_http_thread.conninfo = NULL;
	metrics_live_free(&metrics_http_thread.live);
	metrics_live_free(&metrics_http_main.live);
	free(metrics_http_main.listen);
	metrics_http_main.listen = NULL;
	pthread_mutex_lock(&metrics_http_shared.lock);
	metrics_live_free(&metrics_http_shared.live);
	pthread_mutex_unlock(&metrics_http_shared.lock);
	memset(&metrics_http_main, 0, sizeof metrics_http_main);
}
