/*
 * cmd_daemon.c - qsched daemon [--stop-wait DURATION]: the scheduler, in
 * the foreground (systemd Type=notify; see daemon.c).
 */
#include "qsched.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define CMD_DAEMON_STOP_WAIT_MS	30000

/*
 * QSCHED_TEST_CLOCK="2026-10-25T00:29:50Z 600": for the test suite only,
 * the daemon's wall clock starts at that instant and runs 600 times
 * faster, so a test can watch a DST night go by in seconds.
 */
static int
cmd_daemon_fake_clock(const char *text, struct daemon_opts *o)
{
	struct tm	 tm;
	char		*end;

	memset(&tm, 0, sizeof tm);
	end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	if (end == NULL || *end != ' ')
		return (-1);
	o->fake_start_ms = (int64_t)timegm(&tm) * 1000;
	o->fake_speed = strtod(end + 1, &end);
	if (*end != '\0' || !(o->fake_speed > 0 && o->fake_speed <= 1e6))
		return (-1);
	return (0);
}

int
cmd_daemon(struct cmd_ctx *ctx)
{
	static const struct option longopts[] = {
		{ "stop-wait", required_argument, NULL, 'w' },
		{ NULL, 0, NULL, 0 },
	};
	struct daemon_opts opts;
	struct config	*cfg;
	const char	*fake;
	char		 err[QSCHED_ERRLEN];
	int		 ch, rc;

	memset(&opts, 0, sizeof opts);
	opts.stop_wait_ms = CMD_DAEMON_STOP_WAIT_MS;
	while ((ch = getopt_long(ctx->argc, ctx->argv, "", longopts,
	    NULL)) != -1) {
		switch (ch) {
		case 'w':
			if (duration_parse(optarg, &opts.stop_wait_ms, err,
			    sizeof err) == -1) {
				fprintf(stderr, "qsched: daemon: --stop-wait: "
				    "%s\n", err);
				return (QSCHED_EXIT_USAGE);
			}
			break;
		default:
			goto usage;
		}
	}
	if (optind != ctx->argc)
		goto usage;
	fake = getenv("QSCHED_TEST_CLOCK");
	if (fake != NULL && *fake != '\0' &&
	    cmd_daemon_fake_clock(fake, &opts) == -1) {
		fprintf(stderr, "qsched: daemon: QSCHED_TEST_CLOCK=\"%s\": "
		    "want \"YYYY-MM-DDTHH:MM:SSZ SPEED\"\n", fake);
		return (QSCHED_EXIT_USAGE);
	}
	if ((rc = cmd_load_config(ctx, &cfg, true)) != QSCHED_EXIT_OK)
		return (rc);
	if ((rc = cmd_require_jobs(cfg)) != QSCHED_EXIT_OK) {
		config_free(cfg);
		return (rc);
	}
	return (daemon_main(ctx->config_path, cfg, &opts));
usage:
	fprintf(stderr, "usage: qsched daemon [--stop-wait DURATION]\n");
	return (QSCHED_EXIT_USAGE);
}
