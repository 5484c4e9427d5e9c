/*
 * cmd_metrics.c - qsched metrics [--output FILE] [--format text|openmetrics]:
 * the metrics the daemon serves on /metrics, but for its DB part only,
 * read once.  With --output the file is replaced atomically (a temporary
 * file in the same directory, then rename(2)), as node_exporter's textfile
 * collector needs: it never reads a half-written file.
 */
#include "qsched.h"

#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The statement_timeout of each query (qsched(8), METRICS). */
#define CMD_METRICS_TIMEOUT	"-c statement_timeout=30000 -c TimeZone=UTC " \
	"-c default_transaction_read_only=on -c jit=off"

#define CMD_METRICS_WAIT_MS	35000	/* for the server, in all */

static int
cmd_metrics_write(const char *path, const char *text, size_t len)
{
	char	*tmp;
	int	 fd, saved;
	size_t	 off = 0;
	ssize_t	 n;

	/* "FILE.XXXXXX": not *.prom, so the collector skips it. */
	xasprintf(&tmp, "%s.XXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1) {
		fprintf(stderr, "qsched: metrics: --output %s: %s\n", path,
		    strerror(errno));
		free(tmp);
		return (-1);
	}
	while (off < len) {
		if ((n = write(fd, text + off, len - off)) == -1) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		off += (size_t)n;
	}
	if (fchmod(fd, 0644) == -1 || fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) == -1)
		goto fail;
	free(tmp);
	return (0);
fail:
	saved = errno;
	if (fd != -1)
		close(fd);
	unlink(tmp);
	fprintf(stderr, "qsched: metrics: --output %s: %s\n", path,
	    strerror(saved));
	free(tmp);
	return (-1);
}

int
cmd_metrics(struct cmd_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "output", required_argument, NULL, 'o' },
		{ "format", required_argument, NULL, 'f' },
		{ NULL, 0, NULL, 0 },
	};
	struct metrics_live lv;
	struct metrics_db *db;
	struct config	*cfg = NULL;
	struct buf	 b = { NULL, 0, 0 };
	enum metrics_format f = METRICS_TEXT;
	const char	*output = NULL;
	char		 err[QSCHED_ERRLEN], target[256];
	PGconn		*conn;
	int		 ch, rc;

	while ((ch = getopt_long(ctx->argc, ctx->argv, "o:", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'o':
			output = optarg;
			break;
		case 'f':
			if (strcmp(optarg, "text") == 0)
				f = METRICS_TEXT;
			else if (strcmp(optarg, "openmetrics") == 0)
				f = METRICS_OPENMETRICS;
			else {
				fprintf(stderr, "qsched: metrics: --format: "
				    "\"%s\" is not text or openmetrics\n",
				    optarg);
				return (QSCHED_EXIT_USAGE);
			}
			break;
		default:
			fprintf(stderr, "usage: qsched metrics [--output FILE] "
			    "[--format text|openmetrics]\n");
			return (QSCHED_EXIT_USAGE);
		}
	}
	if (optind < ctx->argc) {
		fprintf(stderr, "qsched: metrics: unexpected argument \"%s\"\n",
		    ctx->argv[optind]);
		return (QSCHED_EXIT_USAGE);
	}
	if ((rc = cmd_load_config(ctx, &cfg, true)) != QSCHED_EXIT_OK)
		return (rc);
	conn = db_connect(cfg->database, "qsched/metrics", CMD_METRICS_TIMEOUT,
	    err, sizeof err);
	if (conn == NULL) {
		fprintf(stderr, "qsched: database unreachable (%s): %s\n",
		    db_target(cfg->database, target, sizeof target), err);
		config_free(cfg);
		return (QSCHED_EXIT_DB);
	}
	memset(&lv, 0, sizeof lv);
	metrics_jobs(&lv, cfg);
	db = metrics_db_new(CMD_METRICS_WAIT_MS);
	if (metrics_db_refresh(db, conn, &lv, err, sizeof err) == -1) {
		fprintf(stderr, "qsched: %s\n", err);
		rc = QSCHED_EXIT_DB;
	} else {
		metrics_format(&b, db, &lv, f);
		if (output == NULL) {
			fwrite(b.data, 1, b.len, stdout);
			if (fflush(stdout) != 0) {
				fprintf(stderr, "qsched: metrics: stdout: "
				    "%s\n", strerror(errno));
				rc = QSCHED_EXIT_FAILED;
			}
		} else if (cmd_metrics_write(output, b.data, b.len) == -1)
			rc = QSCHED_EXIT_FAILED;
	}
	buf_free(&b);
	metrics_db_free(db);
	metrics_live_free(&lv);
	PQfinish(conn);
	config_free(cfg);
	return (rc);
}
