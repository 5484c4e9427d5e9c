/*
 * main.c - the command line: global options, then one command.
 */
#include "qsched.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const struct {
	const char	*name;
	int		(*fn)(struct cmd_ctx *);
} main_commands[] = {
	{ "daemon", cmd_daemon },
	{ "run", cmd_run },
	{ "list", cmd_list },
	{ "status", cmd_status },
	{ "report", cmd_report },
	{ "next", cmd_next },
	{ "history", cmd_history },
	{ "check", cmd_check },
	{ "flags", cmd_flags },
	{ "plugins", cmd_plugins },
	{ "init", cmd_init },
};

static void
main_usage(FILE *out)
{
	fprintf(out,
	    "usage: qsched [-c FILE] [-v|-q] COMMAND [ARGS]\n"
	    "  daemon [--stop-wait DURATION]\n"
	    "                 run the scheduler (foreground; systemd Type=notify)\n"
	    "  run JOB [--dry-run] [--set KEY=VALUE]...\n"
	    "                 run one job now, with its lock, retries and history\n"
	    "  list [--format F]   jobs: plugin, schedule, next fire, last status\n"
	    "  next JOB [-n N]   the next N fire times (local and UTC)\n"
	    "  status [--format F] runs in progress on any host, with progress\n"
	    "  history [--job J] [--status S] [--since T] [--limit N]\n"
	    "          [--format table|json|csv]\n"
	    "  report [--job J] [--since T] [--format table|json|csv]\n"
	    "                 per job: runs, success rate, durations, failures\n"
	    "  check          validate config, plugins, options, flags, database\n"
	    "  flags          effective feature flags\n"
	    "  plugins        installed plugins and their options\n"
	    "  init           create or upgrade the qsched schema\n"
	    "options:\n"
	    "  -c FILE        jobs.conf (default $QSCHED_CONFIG, else %s)\n"
	    "  -v, -q         more or less logging\n"
	    "See qsched(8), jobs.conf(5), qsched-plugins(7).\n",
	    QSCHED_SYSCONFDIR "/jobs.conf");
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ "version", no_argument, NULL, 'V' },
		{ NULL, 0, NULL, 0 },
	};
	struct cmd_ctx	 ctx;
	const char	*env;
	int		 ch, level = QSCHED_LOG_INFO;

	log_init();
	srandom((unsigned)(time(NULL) ^ getpid()));
	memset(&ctx, 0, sizeof ctx);
	env = getenv("QSCHED_CONFIG");
	ctx.config_path = (env != NULL && *env != '\0') ? env :
	    QSCHED_SYSCONFDIR "/jobs.conf";

	/* "+": options after the command belong to the command. */
	while ((ch = getopt_long(argc, argv, "+c:vqh", longopts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			ctx.config_path = optarg;
			break;
		case 'v':
			level++;
			break;
		case 'q':
			level--;
			break;
		case 'h':
			main_usage(stdout);
			return (QSCHED_EXIT_OK);
		case 'V':
			printf("qsched %s\n", PACKAGE_VERSION);
			return (QSCHED_EXIT_OK);
		default:
			main_usage(stderr);
			return (QSCHED_EXIT_USAGE);
		}
	}
	log_set_level(level);
	if (optind >= argc) {
		main_usage(stderr);
		return (QSCHED_EXIT_USAGE);
	}
	ctx.argc = argc - optind;
	ctx.argv = argv + optind;
	optind = 0;	/* the command parses its own arguments (GNU: reinit) */
	for (size_t i = 0; i < sizeof main_commands / sizeof *main_commands;
	    i++)
		if (strcmp(ctx.argv[0], main_commands[i].name) == 0) {
			int	 rc = main_commands[i].fn(&ctx);

			plugin_fini_all();
			return (rc);
		}
	fprintf(stderr, "qsched: unknown command \"%s\"\n", ctx.argv[0]);
	main_usage(stderr);
	return (QSCHED_EXIT_USAGE);
}
